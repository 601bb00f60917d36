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

    default_currency: str = "CNY"
    """Currency of a material whose currency column is empty."""

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.var_dir / 'stockwarden.db'}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
