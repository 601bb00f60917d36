"""Fixtures: a fresh, migrated database per test on SQLite and on PostgreSQL, and export folders.

PostgreSQL tests clone a migrated template database (CREATE DATABASE ... TEMPLATE), which takes tens
of milliseconds, so every test owns its database and nothing is cleaned up by deleting rows.
"""

from __future__ import annotations

import os
import shutil
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine

from core.db import make_engine, migrate

TEST_SECRET = "tests-only-secret-key-not-for-production-5f1c9a"
os.environ.setdefault("STOCKWARDEN_SECRET_KEY", TEST_SECRET)
"""Every test, and every command a test starts, signs and encrypts with this unless it says otherwise
(serve, worker and up refuse to run without a secret; tests/test_secret.py runs them without)."""

PG_ADMIN_URL = os.environ.get("STOCKWARDEN_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _pg_url(database: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{database}"


def _pg_admin(sql: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(sql)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    name = f"sw_tmpl_{uuid.uuid4().hex[:12]}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    engine = make_engine(_pg_url(name))
    migrate(engine)
    engine.dispose()
    yield name
    _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a new, migrated, empty database of each kind; dropped after the test."""
    if request.param == "sqlite":
        path = tmp_path / "stockwarden.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    template = request.getfixturevalue("pg_template")
    name = f"sw_test_{uuid.uuid4().hex[:12]}"
    _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield _pg_url(name)
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


MATERIALS = """\
sku,name,category,base_uom,unit_cost,currency,risk_class,lifecycle,storage,shelf_life_days,supplier,return_window_days,substitutes
HIP-1,髋臼杯 Acetabular cup 52,implant,ea,12000.50,CNY,III,phase_out,ambient,1825,Ortho Co,90,HIP-2
HIP-2,髋臼杯 Acetabular cup 52 v2,implant,ea,13000,CNY,III,active,ambient,1825,Ortho Co,90,
CAT-1,PTCA balloon catheter,catheter,ea,800,CNY,II,active,ambient,1095,Vasc Co,60,
"""


def write_export(folder: Path, **files: str) -> Path:
    """Write `<name>.csv` files from CSV text (dedented), materials included unless given."""
    folder.mkdir(parents=True, exist_ok=True)
    files.setdefault("materials", MATERIALS)
    for name, text in files.items():
        (folder / f"{name}.csv").write_text(textwrap.dedent(text), encoding="utf-8")
    return folder
