"""Movements after a snapshot: applied to positions, only touched SKU-sites re-evaluated, equal to a full scan."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from inventory.ingest import IngestFailed, ingest
from inventory.metrics import issue_totals_query, latest_snapshot
from inventory.models import LotPosition, SkuSiteIssues
from inventory.movements import AlreadyApplied
from rules.incremental import reevaluate
from rules.scan import latest_scan, scan, stored_findings
from rules.versions import activate
from tests.support.data import AS_OF, write_export
from tests.support.data import METRIC_CONVERSIONS as CONVERSIONS
from tests.support.data import METRIC_LOTS as LOTS
from tests.support.data import METRIC_MOVEMENTS as MOVEMENTS
from tests.support.data import METRIC_ORDERS as ORDERS
from tests.support.data import POLICY_HEAD as HEAD
from tests.support.data import policy_rule as rule

POLICY = (HEAD.format(version=1) + rule("idle", "lot", "{days_since_movement: {gte: 180}}")
          + rule("expired", "lot", "{days_to_expiry: {lte: 0}, qty: {gt: 0}}")
          + rule("slow", "sku", "{turnover_365d: {lt: 1}}"))

NEW_MOVEMENTS = """\
sku,site,lot,serial,type,qty,uom,moved_on,reference
CAT-1,SH01,D,,issue,5,,2026-11-25,SO-9
CAT-1,SH01,C,,scrap,1,box10,2026-11-24,QA-1
HIP-1,BJ02,L9,S9,receipt,1,,2026-11-20,GRN-9
HIP-2,GZ03,X,,receipt,5,,2026-11-25,GRN-10
"""


@pytest.fixture
def scanned(engine: Engine, tmp_path: Path) -> Engine:
    ingest(engine, write_export(tmp_path / "export", lots=LOTS, movements=MOVEMENTS, uom_conversions=CONVERSIONS,
                                purchase_orders=ORDERS), as_of=AS_OF)
    (tmp_path / "policy.yaml").write_text(POLICY, encoding="utf-8")
    activate(engine, tmp_path / "policy.yaml", actor="li.na")
    scan(engine)
    return engine


def findings_of_latest_scan(engine: Engine) -> dict[tuple[str, ...], tuple[object, ...]]:
    with engine.connect() as connection:
        latest = latest_scan(connection)
        assert latest is not None and latest.id is not None
        return {(f.rule, f.sku, f.site, f.lot, f.serial): (f.value, f.metrics, f.reasons)
                for f in stored_findings(connection, latest.id)}


def test_movements_open_clear_and_refresh_findings_exactly_as_a_full_scan_would(scanned: Engine, tmp_path: Path) -> None:
    before = findings_of_latest_scan(scanned)
    path = tmp_path / "movements.csv"
    path.write_text(NEW_MOVEMENTS, encoding="utf-8")
    result = reevaluate(scanned, path, actor="erp")
    assert (result.movements, result.sku_sites) == (4, 3)
    assert sorted((f.rule, f.sku, f.site, f.lot, f.serial) for f in result.opened) == [
        ("slow", "HIP-2", "GZ03", "", "")]
    assert sorted((f.rule, f.sku, f.site, f.lot) for f in result.cleared) == [
        ("expired", "CAT-1", "SH01", "C"), ("idle", "CAT-1", "SH01", "D")]  # X held 0 before: no finding
    assert result.refreshed >= 1  # HIP-1 BJ02 holds a second serial now: its slow finding's value doubled
    incremental = findings_of_latest_scan(scanned)
    assert incremental != before
    assert incremental[("slow", "HIP-1", "BJ02", "", "")][0] == 24001

    scan(scanned)  # a full scan of the same data, stored as a new scan
    assert findings_of_latest_scan(scanned) == incremental
    with Session(scanned) as session:
        new_serial = session.execute(select(LotPosition).where(col(LotPosition.serial) == "S9")).scalars().one()
    assert (new_serial.qty, new_serial.received_on.isoformat(), new_serial.qc_status) == (1, "2026-11-20", "released")


def test_bad_movements_change_nothing_and_a_file_applies_once(scanned: Engine, tmp_path: Path) -> None:
    before = findings_of_latest_scan(scanned)
    bad = tmp_path / "bad.csv"
    bad.write_text("sku,site,lot,serial,type,qty,moved_on\n"
                   "CAT-1,SH01,A,,issue,31,2026-11-25\n"     # A holds 30
                   "CAT-1,SH01,Z,,issue,1,2026-11-25\n"      # no such lot
                   "CAT-1,SH01,B,,issue,1,2026-11-25\n", encoding="utf-8")
    with pytest.raises(IngestFailed) as failure:
        reevaluate(scanned, bad, actor="erp")
    assert [str(e) for e in failure.value.errors] == [
        "bad.csv:2: qty: takes 31 from lot A at SH01, which holds 30",
        "bad.csv:3: lot: no stock of CAT-1 lot Z at SH01 to take from",
    ]
    assert findings_of_latest_scan(scanned) == before
    with Session(scanned) as session:
        b = session.execute(select(LotPosition).where(col(LotPosition.lot) == "B")).scalars().one()
    assert b.qty == 20

    good = tmp_path / "good.csv"
    good.write_text("sku,site,lot,type,qty,moved_on\nCAT-1,SH01,B,issue,1,2026-11-25\n", encoding="utf-8")
    assert reevaluate(scanned, good, actor="erp").movements == 1
    with pytest.raises(AlreadyApplied):
        reevaluate(scanned, good, actor="erp")


def test_a_database_from_before_0010_gets_each_positions_latest_movement_from_its_movements(
        scanned: Engine) -> None:
    """Migration 0010 fills latest_movement_on of the positions already stored; scans read nothing else."""
    from alembic import command

    from core.db import alembic_config

    stored = findings_of_latest_scan(scanned)
    with scanned.connect() as connection:
        kept = sorted(connection.execute(select(col(LotPosition.lot), col(LotPosition.latest_movement_on))).all())
    assert sum(1 for _, latest in kept if latest is not None) >= 3
    command.downgrade(alembic_config(scanned), "0009")
    command.upgrade(alembic_config(scanned), "head")
    with scanned.connect() as connection:
        assert sorted(connection.execute(select(col(LotPosition.lot), col(LotPosition.latest_movement_on))).all()) == kept
    scan(scanned)
    assert findings_of_latest_scan(scanned) == stored


def stored_issue_totals(engine: Engine) -> list[tuple[str, str, Decimal, date | None]]:
    with engine.connect() as connection:
        return sorted(connection.execute(select(col(SkuSiteIssues.sku), col(SkuSiteIssues.site), col(SkuSiteIssues.issued_365d),
                                                col(SkuSiteIssues.last_issue_on))).all())


def grouped_issue_totals(engine: Engine) -> list[tuple[str, str, Decimal, date | None]]:
    with engine.connect() as connection:
        snapshot = latest_snapshot(connection)
        assert snapshot is not None and snapshot.id is not None
        rows = connection.execute(issue_totals_query(snapshot.id, snapshot.as_of))
        return sorted((row[0], row[1], Decimal(row[2]), date.fromisoformat(row[3]) if isinstance(row[3], str) else row[3])
                      for row in rows)


def test_applied_issues_are_summed_into_their_sku_sites_as_a_fresh_grouping_of_the_movements_would(
        scanned: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Scans read each SKU-site's issues from sku_site_issues: ingest fills it, applied issues update it
    (one SKU-site per statement here, so that a file of many takes several)."""
    monkeypatch.setattr("inventory.metrics.UPSERT_ROWS", 1)
    before = stored_issue_totals(scanned)
    assert before == grouped_issue_totals(scanned) and len(before) >= 2
    path = tmp_path / "movements.csv"
    path.write_text(NEW_MOVEMENTS, encoding="utf-8")
    reevaluate(scanned, path, actor="erp")
    after = stored_issue_totals(scanned)
    assert after == grouped_issue_totals(scanned)
    changed = {row[:2]: row[2:] for row in after}.items() - {row[:2]: row[2:] for row in before}.items()
    issued_before = {row[:2]: row[2] for row in before}[("CAT-1", "SH01")]
    assert changed == {(("CAT-1", "SH01"), (issued_before + 5, date(2026, 11, 25)))}

    more = tmp_path / "more.csv"  # a first issue of a SKU-site, one before the window, part of a unit
    more.write_text("sku,site,lot,serial,type,qty,moved_on,reference\n"
                    "HIP-2,GZ03,X,,issue,2,2026-11-25,SO-20\n"
                    "CAT-1,SH01,E,,issue,1,2025-06-01,SO-21\n"
                    "CAT-1,SH01,A,,issue,0.5,2026-11-01,SO-22\n", encoding="utf-8")
    reevaluate(scanned, more, actor="erp")
    latest = {row[:2]: row[2:] for row in stored_issue_totals(scanned)}
    assert stored_issue_totals(scanned) == grouped_issue_totals(scanned)
    assert latest[("HIP-2", "GZ03")] == (2, date(2026, 11, 25))
    assert latest[("CAT-1", "SH01")] == (issued_before + Decimal("5.5"), date(2026, 11, 25))


def test_a_database_from_before_0011_gets_each_sku_sites_issues_from_its_movements(scanned: Engine) -> None:
    """Migration 0011 sums the issues of the snapshots already stored; scans read nothing else."""
    from alembic import command

    from core.db import alembic_config

    stored, kept = findings_of_latest_scan(scanned), stored_issue_totals(scanned)
    command.downgrade(alembic_config(scanned), "0010")
    command.upgrade(alembic_config(scanned), "head")
    assert stored_issue_totals(scanned) == kept
    scan(scanned)
    assert findings_of_latest_scan(scanned) == stored
