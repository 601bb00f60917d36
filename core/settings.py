"""Runtime settings, read from STOCKWARDEN_* environment variables (or a .env file) with local defaults."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
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

    profiles_dir: Path = Path(__file__).resolve().parents[1] / "erp_profiles"
    """The ERP mapping profiles `--profile NAME` and the API's `profile` name (inventory/profiles.py)."""

    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    temporal_tls: bool = False
    """Talk TLS to the Temporal frontend (implied by any of the temporal_tls_* files below)."""
    temporal_tls_cert: str = ""
    """A file: this service's client certificate (PEM) for mTLS; with temporal_tls_key."""
    temporal_tls_key: str = ""
    """The private key (PEM) of temporal_tls_cert."""
    temporal_tls_ca: str = ""
    """The CA (PEM) that signed the Temporal server's certificate; empty: the system's roots."""
    temporal_tls_server_name: str = ""
    """The name in the server's certificate, when it differs from temporal_address's host."""
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
    secret_key: str = ""
    """Signs action links and page sessions (HMAC) and keys Temporal's payload encryption (HKDF). No
    default: serve, worker and up refuse a missing, known or short one (core/secret.py); on the
    embedded default `up` makes one in var/secret_key."""
    previous_secret_keys: str = ""
    """Earlier secret keys, comma-separated, after a rotation: their payload keys still decrypt what running
    cases hold in Temporal (nothing new is encrypted or signed with them)."""
    codec_server_token: str = ""
    """The bearer token `stockwarden codec-server` asks of every request; needed to listen beyond localhost."""
    codec_server_origin: str = "http://localhost:8080"
    """The Temporal UI's origin, the one the codec server answers cross-origin requests of."""
    link_days: int = 14
    """How long an action link works."""
    token_days: int = Field(default=90, ge=1)
    """How long a new API token works; `token create --days N` and POST /tokens' `days` choose otherwise."""
    session_hours: float = Field(default=12, gt=0)
    """How long a page session lasts after sign-in (logout, or revoking its token, ends it sooner)."""
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

    audit_checkpoint_file: Path | None = None
    """The append-only JSON-lines file of signed audit checkpoints; empty means var_dir/audit-checkpoints.jsonl.
    Keep it off the database's machine (or on append-only storage): it anchors the trail."""
    audit_checkpoint_cron: str = "15 0 * * *"
    """When the daily audit checkpoint is written (cron, UTC); the worker keeps the Temporal Schedule in step."""
    upload_max_mb: int = 200
    """The largest snapshot or movement upload (POST /snapshots, /movements), in MiB; beyond it 413."""
    records_max_mb: int = 20
    """The largest JSON records body (POST /snapshots/records, /movements/records: 100,000 movements are
    about 15 MiB), in MiB."""
    body_max_kb: int = 1024
    """The largest body of every other request (case actions, policies, people.yaml, page forms), in KiB."""

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.var_dir / 'stockwarden.db'}"

    def embedded(self) -> bool:
        """The embedded default: no database named, the SQLite file under var_dir."""
        return not self.database_url

    def resolved_checkpoint_file(self) -> Path:
        return self.audit_checkpoint_file or self.var_dir / "audit-checkpoints.jsonl"


@lru_cache
def get_settings() -> Settings:
    """The settings of this process. On the embedded default with no secret set, the secret `up` made in
    var/ (if any), so every command of that machine signs and encrypts as `up` did."""
    from core.secret import stored

    settings = Settings()
    if not settings.secret_key and settings.embedded():
        settings.secret_key = stored(settings.var_dir)
    return settings
