"""A throw-away database for one benchmark run: a SQLite file in a temporary folder, or a new
PostgreSQL database dropped afterwards; and the demo company loaded into it."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy import Engine

from core.db import make_engine, migrate
from inventory.demo import write_company
from inventory.ingest import ingest
from rules.versions import activate


@contextmanager
def scratch_database(kind: str, folder: Path, pg_admin_url: str) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'bench.db'}"
        return
    name = f"sw_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield pg_admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def governed_demo(url: str, folder: Path, lots: int, as_of: date,
                  progress: Callable[[str], None] = lambda _message: None) -> Engine:
    """An engine on the scratch database `url`, migrated, holding the demo company (seed 11, its export
    written under `folder`) as of `as_of`, with policies/default.yaml active: where most benchmarks start."""
    engine = make_engine(url)
    migrate(engine)
    write_company(folder / "export", lots=lots, seed=11, as_of=as_of, progress=progress)
    ingest(engine, folder / "export", as_of=as_of)
    activate(engine, Path(__file__).resolve().parents[1] / "policies" / "default.yaml", actor="benchmark")
    return engine
