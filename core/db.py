"""Engines, sessions and schema migrations for the embedded SQLite file and for PostgreSQL."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, CursorResult, Engine, Table, create_engine, delete, event, inspect, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlmodel import Field, Session, SQLModel, col

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


def database_fault(exc: BaseException) -> str | None:
    """What went wrong, in one line, when `exc` is the database failing rather than a bug: a connection
    terminated (pg_terminate_backend, a restart), refused (the database is down) or lost, a lock not
    granted in time. None for anything else. The driver's first line only: SQLAlchemy's own text
    carries the statement and its parameters."""
    if not isinstance(exc, DBAPIError):
        return None
    if not (isinstance(exc, (OperationalError, InterfaceError)) or exc.connection_invalidated):
        return None
    lines = str(exc.orig if exc.orig is not None else type(exc).__name__).strip().splitlines()
    return lines[0].strip() if lines else type(exc).__name__


log = logging.getLogger(__name__)


class StatisticsDue(SQLModel, table=True):
    """A table whose planner statistics a committed load still owes (refresh_statistics): written in the
    load's own transaction, so a load whose ANALYZE failed after the commit leaves the debt on record,
    and the next load or scan pays it."""

    __tablename__ = "statistics_due"

    table_name: str = Field(primary_key=True, max_length=63)
    since: datetime


def statistics_due(connection: Connection, tables: Iterable[str]) -> None:
    """Record, in the caller's transaction, that `tables` need their statistics refreshed. A table already
    due stays as it is: two loads at once must not collide on its row."""
    upsert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    now = datetime.now(UTC)
    rows = [{"table_name": name, "since": now} for name in sorted(set(tables))]
    if rows:
        connection.execute(upsert(StatisticsDue).on_conflict_do_nothing(index_elements=["table_name"]), rows)


def refresh_statistics(engine: Engine, tables: Iterable[str] = ()) -> str | None:
    """Let the planner see a bulk load at once; PostgreSQL picks nested loops over a million rows otherwise.

    Refreshes `tables` and every table still due (statistics_due), and clears their debt in the same
    transaction. It runs after a load has committed, so a database fault here does not undo or fail the
    load: it is logged and returned (one line), the debt stays, and the next call (the next load or scan,
    finish_statistics) pays it. None when the statistics are fresh."""
    try:
        with engine.begin() as connection:
            names = list(dict.fromkeys([*tables, *connection.scalars(select(col(StatisticsDue.table_name)))]))
            if not names:
                return None
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql("ANALYZE " + ", ".join(f'"{name}"' for name in names))
            else:
                connection.exec_driver_sql("PRAGMA optimize")
            connection.execute(delete(StatisticsDue).where(col(StatisticsDue.table_name).in_(names)))
    except DBAPIError as exc:
        fault = database_fault(exc)
        if fault is None:
            raise
        log.info("planner statistics not refreshed, left for the next load or scan: %s", fault)
        return fault
    return None


def finish_statistics(engine: Engine) -> str | None:
    """Pay what an earlier load left due (nothing but one small read when nothing is), before a scan
    plans its queries on the tables."""
    return refresh_statistics(engine)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session whose transaction commits when the block ends and rolls back if it raises."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        yield session
