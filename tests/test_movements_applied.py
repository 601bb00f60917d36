"""Movements posted after a snapshot: each applied once whatever file or key order it comes in, refusals
that name no server path, no findings on a lot at quantity 0, and findings named the same way whether
the movements opened or cleared them."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import col

from api.app import create_app
from api.auth import create_token
from core.db import make_engine
from core.settings import Settings
from governance.visibility import Role
from inventory.ingest import ingest
from inventory.metrics import latest_snapshot
from inventory.models import LotPosition, Movement
from inventory.movements import AlreadyApplied, apply_movements
from rules.incremental import reevaluate
from rules.scan import latest_scan, scan, stored_findings
from rules.versions import activate
from tests.support.cli import run
from tests.support.data import (
    AS_OF,
    METRIC_CONVERSIONS,
    METRIC_LOTS,
    METRIC_MOVEMENTS,
    POLICY_HEAD,
    policy_rule,
    write_export,
)
from tests.support.databases import _pg_admin, _pg_url

POLICY = (POLICY_HEAD.format(version=1) + policy_rule("idle", "lot", "{days_since_movement: {gte: 180}}")
          + policy_rule("slow", "sku", "{turnover_365d: {lt: 1}}"))


def company(engine: Engine, tmp_path: Path) -> Engine:
    """The metrics company (tests/support/data.py) scanned: lot X of HIP-2 at GZ03 holds 0."""
    ingest(engine, write_export(tmp_path / "export", lots=METRIC_LOTS, movements=METRIC_MOVEMENTS,
                                uom_conversions=METRIC_CONVERSIONS), as_of=AS_OF)
    (tmp_path / "policy.yaml").write_text(POLICY, encoding="utf-8")
    activate(engine, tmp_path / "policy.yaml", actor="li.na")
    scan(engine)
    return engine


@pytest.fixture
def scanned(engine: Engine, tmp_path: Path) -> Engine:
    return company(engine, tmp_path)


@pytest.fixture
def pg_scanned(pg_template: str, tmp_path: Path) -> Iterator[Engine]:
    """The company on PostgreSQL alone: two writers at once (SQLite has one at a time)."""
    name = f"sw_test_{uuid.uuid4().hex[:12]}"
    _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    engine = make_engine(_pg_url(name))
    try:
        yield company(engine, tmp_path)
    finally:
        engine.dispose()
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def qty(engine: Engine, sku: str, site: str, lot: str, serial: str = "") -> Decimal:
    with engine.connect() as connection:
        return connection.execute(select(col(LotPosition.qty)).where(
            col(LotPosition.sku) == sku, col(LotPosition.site) == site, col(LotPosition.lot) == lot,
            col(LotPosition.serial) == serial)).scalar_one()


def findings(engine: Engine) -> set[tuple[str, str, str, str, str]]:
    with engine.connect() as connection:
        latest = latest_scan(connection)
        assert latest is not None and latest.id is not None
        return {(f.rule, f.sku, f.site, f.lot, f.serial) for f in stored_findings(connection, latest.id)}


def test_the_same_movement_with_its_columns_in_another_order_is_applied_once(scanned: Engine, tmp_path: Path) -> None:
    """The document's checksum decided: the same issue with its columns reordered took the stock twice."""
    first, reordered = tmp_path / "first.csv", tmp_path / "reordered.csv"
    first.write_text("sku,site,lot,type,qty,moved_on,reference\nCAT-1,SH01,E,issue,1,2026-11-25,SO-77\n",
                     encoding="utf-8")
    reordered.write_text("reference,qty,moved_on,type,lot,site,sku\nSO-77,1,2026-11-25,issue,E,SH01,CAT-1\n",
                         encoding="utf-8")
    assert qty(scanned, "CAT-1", "SH01", "E") == 4
    assert reevaluate(scanned, first, actor="erp").movements == 1
    with pytest.raises(AlreadyApplied, match=r"^reordered.csv: every movement in it is already applied"):
        reevaluate(scanned, reordered, actor="erp")
    assert qty(scanned, "CAT-1", "SH01", "E") == 3

    # A file with one movement already applied and one new: the new one only; the same quantity in
    # another unit (1 box10 = 10 ea) is the same movement.
    both = tmp_path / "both.csv"
    both.write_text("sku,site,lot,type,qty,uom,moved_on,reference\nCAT-1,SH01,E,issue,1,,2026-11-25,SO-77\n"
                    "CAT-1,SH01,A,receipt,1,box10,2026-11-25,GRN-8\n", encoding="utf-8")
    result = reevaluate(scanned, both, actor="erp")
    assert (result.movements, result.skipped) == (1, 1)
    assert (qty(scanned, "CAT-1", "SH01", "E"), qty(scanned, "CAT-1", "SH01", "A")) == (3, 40)
    ten = tmp_path / "ten.csv"
    ten.write_text("sku,site,lot,type,qty,moved_on,reference\nCAT-1,SH01,A,receipt,10,2026-11-25,GRN-8\n",
                   encoding="utf-8")
    with pytest.raises(AlreadyApplied):
        reevaluate(scanned, ten, actor="erp")
    with scanned.connect() as connection:
        assert connection.execute(select(func.count()).select_from(Movement).where(
            col(Movement.identity).is_not(None))).scalar_one() == 2


def test_two_equal_lines_of_one_file_are_two_movements_and_posting_them_again_adds_neither(
        scanned: Engine, tmp_path: Path) -> None:
    """Two issues of one unit on one sales order on one day are two movements; the ERP resending the file
    (or a file with one of them) adds nothing, a file with three adds the third."""
    line = "CAT-1,SH01,A,issue,1,2026-11-25,SO-9\n"
    header = "sku,site,lot,type,qty,moved_on,reference\n"
    for name, lines, applied in (("two.csv", 2, 2), ("one.csv", 1, 0), ("two-again.csv", 2, 0), ("three.csv", 3, 1)):
        (tmp_path / name).write_text(header + line * lines, encoding="utf-8")
        if applied:
            assert reevaluate(scanned, tmp_path / name, actor="erp").movements == applied
        else:
            with pytest.raises(AlreadyApplied):
                reevaluate(scanned, tmp_path / name, actor="erp")
    assert qty(scanned, "CAT-1", "SH01", "A") == 30 - 3


def test_a_lot_at_quantity_zero_keeps_no_findings(scanned: Engine, tmp_path: Path) -> None:
    """Lot X holds 0 and was idle: it had an idle finding (and a case line of nothing). A movement that
    empties a lot clears its findings, exactly as a full scan of the same data finds."""
    assert not {f for f in findings(scanned) if f[3] == "X"}
    assert ("idle", "CAT-1", "SH01", "E", "") in findings(scanned)
    emptied = tmp_path / "emptied.csv"
    emptied.write_text("sku,site,lot,type,qty,moved_on,reference\nCAT-1,SH01,E,scrap,4,2026-11-25,QA-7\n",
                       encoding="utf-8")
    result = reevaluate(scanned, emptied, actor="erp")
    assert ("idle", "CAT-1", "SH01", "E", "") in {(f.rule, f.sku, f.site, f.lot, f.serial) for f in result.cleared}
    incremental = findings(scanned)
    assert not {f for f in incremental if f[3] in ("E", "X")}
    scan(scanned)
    assert findings(scanned) == incremental


@pytest.mark.asyncio
async def test_the_api_names_findings_alike_applies_reordered_keys_once_and_shows_no_server_path(
        scanned: Engine, tmp_path: Path) -> None:
    erp = create_token(scanned, "erp@example.com", [Role.ERP])
    app = create_app(scanned, None, Settings(var_dir=tmp_path / "var"))  # type: ignore[arg-type]
    headers = {"Authorization": f"Bearer {erp}"}
    issue = {"sku": "HIP-1", "site": "BJ02", "lot": "L1", "serial": "S2", "type": "issue", "qty": 1,
             "moved_on": "2026-11-25", "reference": "SO-5"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        applied = await client.post("/movements/records", headers=headers, json={"movements": [issue]})
        assert applied.status_code == 200, applied.text
        # The last serial at BJ02 sold: its idle finding and the SKU-site's slow finding clear. A SKU
        # finding has no lot, cleared as when it opened (the cleared one said '' where opened said null).
        assert applied.json()["cleared"] == [
            {"rule": "idle", "sku": "HIP-1", "site": "BJ02", "lot": "L1", "serial": "S2"},
            {"rule": "slow", "sku": "HIP-1", "site": "BJ02", "lot": None, "serial": None}]
        receipt = {"sku": "HIP-2", "site": "GZ03", "lot": "X", "type": "receipt", "qty": 5, "moved_on": "2026-11-25",
                   "reference": "GRN-5"}
        opened = await client.post("/movements/records", headers=headers, json={"movements": [receipt]})
        assert opened.status_code == 200, opened.text
        assert [(f["rule"], f["lot"], f["serial"]) for f in opened.json()["opened"]] == [("slow", None, None)]

        again = await client.post("/movements/records", headers=headers,
                                  json={"movements": [dict(reversed(list(receipt.items())))]})
        assert again.status_code == 409
        assert again.json()["detail"] == ("movements.json[movements]: every movement in it is already applied to "
                                          "snapshot 1; nothing changed / 文件中的每条移动均已应用于快照 1，未作更改")
        assert qty(scanned, "HIP-2", "GZ03", "X") == 5
        missing = await client.post("/movements", headers=headers,
                                    files={"file": ("moves.xlsx", b"PK\x03\x04 not a workbook")})
        assert missing.status_code == 422
        uploads = str((tmp_path / "var" / "uploads").resolve())
        for answer in (again, missing):
            assert uploads not in answer.text and str(tmp_path) not in answer.text, answer.text


def test_the_console_names_findings_alike_and_says_what_it_left_out(scanned: Engine, database_url: str,
                                                                     tmp_path: Path) -> None:
    env = {"STOCKWARDEN_DATABASE_URL": database_url}
    moved = tmp_path / "moved.csv"
    moved.write_text("sku,site,lot,serial,type,qty,moved_on,reference\nHIP-1,BJ02,L1,S2,issue,1,2026-11-25,SO-5\n",
                     encoding="utf-8")
    applied = run("movements", str(moved), "--json", env=env, cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    document = json.loads(applied.stdout)
    assert {(f["rule"], f["lot"], f["serial"]) for f in document["cleared"]} == {("idle", "L1", "S2"),
                                                                                  ("slow", None, None)}
    both = tmp_path / "both.csv"
    both.write_text(moved.read_text(encoding="utf-8") + "HIP-1,BJ02,L1,S2,receipt,1,2026-11-25,GRN-5\n",
                    encoding="utf-8")
    again = run("movements", str(both), env=env, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("1 movements applied (1 applied before, left out) at 1 SKU-sites: ")


def test_two_postings_of_one_movement_at_the_same_time_apply_it_once(pg_scanned: Engine, tmp_path: Path) -> None:
    """The second posting read before the first committed: it waits on the lot, then its movement's identity
    is refused by the unique index and it rolls back whole."""
    scanned = pg_scanned
    path = tmp_path / "issue.csv"
    path.write_text("sku,site,lot,type,qty,moved_on,reference\nCAT-1,SH01,E,issue,1,2026-11-25,SO-77\n",
                    encoding="utf-8")
    outcome: list[BaseException | int] = []
    with scanned.begin() as first:
        snapshot = latest_snapshot(first)
        assert snapshot is not None
        apply_movements(first, snapshot, path, actor="erp")

        def second() -> None:
            try:
                with scanned.begin() as connection:
                    outcome.append(apply_movements(connection, snapshot, path, actor="erp").rows)
            except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
                outcome.append(exc)

        racing = threading.Thread(target=second)
        racing.start()
        racing.join(timeout=1)
        assert racing.is_alive() and not outcome  # waiting on lot E, which the first posting holds
    racing.join(timeout=60)
    assert len(outcome) == 1 and isinstance(outcome[0], AlreadyApplied), outcome
    assert "another posting applied some of these movements meanwhile" in str(outcome[0])
    assert qty(scanned, "CAT-1", "SH01", "E") == 3
