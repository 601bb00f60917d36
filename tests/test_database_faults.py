"""The database failing, for real on PostgreSQL: a connection terminated during a load (pg_terminate_backend)
or the database down is one line in the console and a 503 from the API, never a traceback; a connection
terminated during the ANALYZE after the commit keeps the snapshot, says it was stored, and the next scan
finishes the analysis."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy import Connection, select, text
from sqlmodel import col

from api.app import create_app
from core.db import StatisticsDue, make_engine, statistics_due
from core.settings import Settings
from tests.support.cli import run
from tests.support.data import AS_OF, LOT_HEADER, POLICY_HEAD, policy_rule, write_export
from tests.support.databases import _pg_admin, _pg_url

DOWN = "postgresql://postgres@127.0.0.1:1/nothing"
"""No database listens on port 1."""


@pytest.fixture
def pg_url(pg_template: str) -> Iterator[str]:
    name = f"sw_test_{uuid.uuid4().hex[:12]}"
    _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    try:
        yield _pg_url(name)
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Terminator(threading.Thread):
    """Holds `lock` on `table` in a transaction of its own, so the statement of another session that needs
    it waits; then terminates that session's backend, as `pg_terminate_backend` by an administrator (or a
    failover) would."""

    def __init__(self, url: str, table: str, lock: str):
        super().__init__(daemon=True)
        self.url = url
        self.holder = psycopg.connect(url)
        self.holder.execute(f"LOCK TABLE {table} IN {lock} MODE")
        self.terminated: list[str] = []

    def run(self) -> None:
        database = self.url.rsplit("/", 1)[1]
        with psycopg.connect(self.url, autocommit=True) as killer:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not self.terminated:
                for pid, query in killer.execute(
                        "SELECT pid, query FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock' "
                        "AND backend_type = 'client backend'",
                        (database,)).fetchall():
                    killer.execute("SELECT pg_terminate_backend(%s)", (pid,))
                    self.terminated.append(query)
                time.sleep(0.05)

    def release(self) -> None:
        self.join(timeout=130)
        self.holder.rollback()
        self.holder.close()


def one_line_error(stderr: str) -> str:
    assert "Traceback" not in stderr and "[SQL:" not in stderr and "sqlalche.me" not in stderr, stderr
    return stderr.strip().splitlines()[-1]


def test_a_connection_terminated_during_a_load_is_one_line_and_stores_nothing(pg_url: str, tmp_path: Path) -> None:
    folder = write_export(tmp_path / "x", lots=LOT_HEADER + "CAT-1,SH01,A,,1,,2026-01-01,,,,,\n")
    terminator = Terminator(pg_url, "site", "ACCESS EXCLUSIVE")  # the load reads the sites before its commit
    terminator.start()
    try:
        loaded = run("ingest", str(folder), "--as-of", str(AS_OF), env={"STOCKWARDEN_DATABASE_URL": pg_url},
                     cwd=tmp_path)
    finally:
        terminator.release()
    assert terminator.terminated and "FROM site" in terminator.terminated[0]
    assert loaded.returncode == 1
    assert one_line_error(loaded.stderr) == (
        "error: the database failed (terminating connection due to administrator command); nothing was stored. "
        "/ 错误：数据库故障（terminating connection due to administrator command），本次操作未生效。")
    with psycopg.connect(pg_url) as connection:
        assert connection.execute("SELECT count(*) FROM snapshot").fetchone() == (0,)


def test_a_fault_after_the_commit_keeps_the_snapshot_and_the_next_scan_finishes_the_analysis(
        pg_url: str, tmp_path: Path) -> None:
    folder = write_export(tmp_path / "x", lots=LOT_HEADER + "CAT-1,SH01,A,,1,,2026-01-01,,,,,\n",
                          movements="sku,site,lot,serial,type,qty,moved_on\nCAT-1,SH01,A,,receipt,1,2026-01-01\n")
    env = {"STOCKWARDEN_DATABASE_URL": pg_url}
    # Inserts pass, ANALYZE waits. On movement, not lot_position: the suspect-snapshot guard analyses
    # lot_position and material inside the load (inventory/suspect.py), before its commit.
    terminator = Terminator(pg_url, "movement", "SHARE UPDATE EXCLUSIVE")
    terminator.start()
    try:
        loaded = run("ingest", str(folder), "--as-of", str(AS_OF), env=env, cwd=tmp_path)
    finally:
        terminator.release()
    assert terminator.terminated and terminator.terminated[0].startswith("ANALYZE")
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.startswith("Snapshot 1 as of 2026-11-25 stored: materials 3, movements 1, lots 1.")
    assert one_line_error(loaded.stderr) == (
        "snapshot 1 is stored; refreshing the planner's statistics failed (terminating connection due to "
        "administrator command), the next load or scan does it / 快照 1 已保存；刷新统计信息失败（terminating "
        "connection due to administrator command），下次导入或扫描时完成")
    engine = make_engine(pg_url)
    try:
        with engine.connect() as connection:
            assert set(connection.scalars(select(col(StatisticsDue.table_name)))) >= {"lot_position", "movement"}
            assert _reltuples(connection, "movement") < 0  # never analysed
        policy = tmp_path / "policy.yaml"
        policy.write_text(POLICY_HEAD.format(version=1) + policy_rule("idle", "lot", "{days_since_movement: {gte: 180}}"),
                          encoding="utf-8")
        scanned = run("scan", "--policy", str(policy), env=env, cwd=tmp_path)
        assert scanned.returncode == 0, scanned.stderr
        with engine.connect() as connection:
            assert list(connection.scalars(select(col(StatisticsDue.table_name)))) == []
            assert _reltuples(connection, "movement") == 1
    finally:
        engine.dispose()


def _reltuples(connection: Connection, name: str) -> float:
    """What the planner believes the table holds: -1 until it is first analysed."""
    return float(connection.execute(text("SELECT reltuples FROM pg_class WHERE relname = :n"), {"n": name}).scalar_one())


def test_a_database_that_is_down_is_one_line_in_the_console(tmp_path: Path) -> None:
    folder = write_export(tmp_path / "x", lots=LOT_HEADER)
    for args in (("ingest", str(folder)), ("movements", str(folder / "lots.csv"))):
        refused = run(*args, env={"STOCKWARDEN_DATABASE_URL": DOWN}, cwd=tmp_path)
        assert refused.returncode == 1
        line = one_line_error(refused.stderr)
        assert line.startswith("error: the database failed (connection failed: ") and line.endswith(
            "; nothing was done. / 错误：数据库故障（" + line.split("（", 1)[1].split("）", 1)[0] + "），本次操作未生效。")


@pytest.mark.asyncio
async def test_the_api_answers_503_when_the_database_fails(pg_url: str, tmp_path: Path) -> None:
    """The database down, then a connection terminated in the middle of a load the ERP posted."""
    from api.auth import create_token
    from governance.visibility import Role

    down = make_engine(DOWN)
    app = create_app(down, None, Settings(var_dir=tmp_path / "var"))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        answer = await client.get("/snapshots", headers={"Authorization": "Bearer sw_x"})
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "30"
    assert answer.json() == {"detail": "the database is not available (its connection failed or was closed); "
                             "nothing was stored or changed: try again / 数据库暂不可用（连接失败或被关闭），"
                             "未保存或更改任何内容，请重试"}

    engine = make_engine(pg_url)
    erp = create_token(engine, "erp@example.com", [Role.ERP])
    app = create_app(engine, None, Settings(var_dir=tmp_path / "var"))  # type: ignore[arg-type]
    terminator = Terminator(pg_url, "site", "ACCESS EXCLUSIVE")
    terminator.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
            answer = await client.post("/snapshots/records", headers={"Authorization": f"Bearer {erp}"}, json={
                "as_of": "2026-11-25", "materials": [{"sku": "CAT-1", "category": "catheter", "base_uom": "ea",
                                                      "unit_cost": 800}],
                "lots": [{"sku": "CAT-1", "site": "SH01", "qty": 1, "received_on": "2026-01-01"}]})
    finally:
        terminator.release()
        engine.dispose()
    assert terminator.terminated
    assert answer.status_code == 503 and "nothing was stored" in answer.json()["detail"]
    with psycopg.connect(pg_url) as connection:
        assert connection.execute("SELECT count(*) FROM snapshot").fetchone() == (0,)


def test_two_loads_at_once_both_leave_their_statistics_due(pg_url: str) -> None:
    """The second load's transaction waits on the first's statistics_due row, then finds it there: no
    duplicate key fails a load that is otherwise good."""
    engine = make_engine(pg_url)
    failed: list[BaseException] = []

    def second() -> None:
        try:
            with engine.begin() as connection:
                statistics_due(connection, ["lot_position", "movement"])
        except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
            failed.append(exc)

    try:
        with engine.begin() as first:
            statistics_due(first, ["lot_position"])
            racing = threading.Thread(target=second)
            racing.start()
            racing.join(timeout=1)
            assert racing.is_alive()  # waiting on the first's uncommitted row
        racing.join(timeout=60)
        assert failed == []
        with engine.connect() as connection:
            assert sorted(connection.scalars(select(col(StatisticsDue.table_name)))) == ["lot_position", "movement"]
    finally:
        engine.dispose()
