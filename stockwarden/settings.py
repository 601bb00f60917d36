"""Runtime settings, read from STOCKWARDEN_* environment variables (or a .env file) with local defaults."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob lives here so that nothing else reads the environment itself."""

    model_config = SettingsConfigDict(env_prefix="STOCKWARDEN_", env_file=".env", extra="ignore")

    var_dir: Path = Path("var")
    """Where the embedded SQLite file, demo data and generated packs go."""

    database_url: str = ""
    """SQLAlchemy URL; empty means the SQLite file under var_dir. PostgreSQL is the production choice."""

    policy_file: Path = Path(__file__).resolve().parents[1] / "policies" / "default.yaml"
    """The policy `stockwarden up` activates when none is active yet."""

    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    task_queue: str = "stockwarden"
    scan_cron: str = "0 2 * * *"
    """When the scheduled scan runs (cron, UTC); the worker keeps the Temporal Schedule in step."""
    scan_partitions: int = 4
    """SKU ranges a scan through Temporal is split into; each is one activity on any worker."""
    scan_processes: int = 0
    """Processes a scan in one command (`stockwarden scan`) evaluates a large snapshot with; 0: one per core."""

    default_currency: str = "CNY"
    """Currency of a material whose currency column is empty."""

    people_file: Path = Path(__file__).resolve().parents[1] / "policies" / "people.yaml"
    """The directory of people: names, languages, managers, channels."""
    default_language: str = "zh-CN"
    """The language of people the directory does not list."""

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    """The default is `stockwarden up`'s local mail catcher."""
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_mode: str = "insecure"
    """insecure (plain, as a local catcher), starttls or ssl."""
    smtp_from: str = "Stockwarden <stockwarden@localhost>"

    public_url: str = "http://127.0.0.1:8000"
    """Where people's browsers reach the API; action links in messages start with it."""
    secret_key: str = "change-me"
    """Signs action links (HMAC). Set a long random value in production."""
    link_days: int = 14
    """How long an action link works."""
    pin_attempts: int = 5
    """Wrong signing PINs within pin_lock_minutes after which that person's signing is locked."""
    pin_lock_minutes: int = 15
    """How long signing stays locked after pin_attempts wrong PINs (and the window they are counted in)."""
    failures_per_minute: int = 10
    """Failed sign-ins and refused links one client address may cause in a minute; more are answered 429."""
    notify_interval_seconds: float = 30.0
    """How often the dispatcher looks for messages to send (urgent ones also wake it at once)."""
    digest_hour: int = 8
    """The hour (UTC) after which each day's digest goes out."""

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.var_dir / 'stockwarden.db'}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
