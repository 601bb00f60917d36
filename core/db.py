"""Engines, sessions and schema migrations for the embedded SQLite file and for PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import CursorResult, Engine, Table, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlmodel import Session, SQLModel

import migrations

MIGRATIONS = Path(migrations.__file__).parent


def table(model: type[SQLModel]) -> Table:
    """The table of a SQLModel class, typed (`Model.__table__` is not, to type checkers): for Core queries
    over its columns (`table(Lot).c.sku`) and bulk writes."""
    found = inspect(model).local_table
    assert isinstance(found, Table)
    return found


def inserted_id(result: CursorResult[Any]) -> int:
    """The primary key an INSERT of one row gave it."""
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def normalise_url(url: str) -> str:
    """Let people write postgresql://; the only PostgreSQL driver installed is psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite files get their folder created, WAL and enforced foreign keys."""
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 60})  # wait for another process's write, not fail

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine


def as_utc(moment: datetime) -> datetime:
    """A stored moment as an aware UTC datetime: SQLite hands back naive ones, which were written as UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration; tables only ever come from migrations."""
    command.upgrade(alembic_config(engine), "head")


def refresh_statistics(engine: Engine, tables: list[str]) -> None:
    """Let the planner see a bulk load at once; PostgreSQL picks nested loops over a million rows otherwise."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("ANALYZE " + ", ".join(f'"{name}"' for name in tables))
        else:
            connection.exec_driver_sql("PRAGMA optimize")


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session whose transaction commits when the block ends and rolls back if it raises."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        yield session
