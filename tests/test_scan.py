"""Scans and previews on the hand-computed company of test_metrics, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlmodel import col

from inventory.ingest import ingest
from rules.loader import parse_policy
from rules.scan import NothingToScan, finding_json, latest_scan, preview, scan, stored_findings
from rules.versions import activate
from tests.support.data import AS_OF, write_export
from tests.support.data import METRIC_CONVERSIONS as CONVERSIONS
from tests.support.data import METRIC_LOTS as LOTS
from tests.support.data import METRIC_MOVEMENTS as MOVEMENTS
from tests.support.data import METRIC_ORDERS as ORDERS
from tests.support.data import POLICY_HEAD as HEAD
from tests.support.data import policy_rule as rule

ACTIVE = (HEAD.format(version=1) + rule("idle", "lot", "{days_since_movement: {gte: 180}}")
          + rule("expired", "lot", "{days_to_expiry: {lte: 0}}") + rule("slow", "sku", "{turnover_365d: {lt: 1}}"))
DRAFT = (HEAD.format(version=2) + rule("idle", "lot", "{days_since_movement: {gte: 300}}")
         + rule("slow", "sku", "{turnover_365d: {lt: 1}}") + rule("over-po", "sku", "{open_po_qty: {gt: 0}}"))


@pytest.fixture
def loaded(engine: Engine, tmp_path: Path) -> Engine:
    folder = write_export(tmp_path / "export", lots=LOTS, movements=MOVEMENTS, uom_conversions=CONVERSIONS,
                          purchase_orders=ORDERS)
    ingest(engine, folder, as_of=AS_OF)
    return engine


def test_scan_needs_a_snapshot_and_a_policy(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(NothingToScan, match="no snapshot"):
        scan(engine, policy=parse_policy(ACTIVE, "a.yaml"))
    ingest(engine, write_export(tmp_path / "x", lots=LOTS, uom_conversions=CONVERSIONS), as_of=AS_OF)
    with pytest.raises(NothingToScan, match="no policy is active"):
        scan(engine)


def test_scan_stores_one_finding_per_rule_and_subject(loaded: Engine, tmp_path: Path) -> None:
    (tmp_path / "active.yaml").write_text(ACTIVE, encoding="utf-8")
    activate(loaded, tmp_path / "active.yaml", actor="li.na")
    result = scan(loaded)
    assert result.finding_count == 6  # none on lot X: it holds 0 (a lot at 0 is no finding's lot)
    with loaded.connect() as connection:
        latest = latest_scan(connection)
        findings = list(stored_findings(connection, result.scan_id))
    assert latest is not None and latest.id == result.scan_id and latest.policy_version_id is not None
    assert sorted((f.rule, f.sku, f.site, f.lot, f.serial) for f in findings) == [
        ("expired", "CAT-1", "SH01", "C", ""),
        ("idle", "CAT-1", "SH01", "D", ""), ("idle", "CAT-1", "SH01", "E", ""),
        ("idle", "HIP-1", "BJ02", "L1", "S2"), ("idle", "HIP-1", "SH01", "L1", "S1"),
        ("slow", "HIP-1", "BJ02", "", ""),
    ]
    expired = finding_json(next(f for f in findings if f.rule == "expired"))
    assert expired == {
        "rule": "expired", "level": "lot", "sku": "CAT-1", "site": "SH01", "lot": "C", "serial": "", "severity": "high",
        "value": 8000.0, "metrics": {"days_to_expiry": -24, "value": 8000},
        "reasons": [{"metric": "days_to_expiry", "operator": "lte", "threshold": 0, "value": -24}],
        "title": {"en": "expired", "zh-CN": "规则"},
    }
    slow = finding_json(next(f for f in findings if f.rule == "slow"))
    assert (slow["lot"], slow["serial"], slow["metrics"]) == (None, None, {"turnover_365d": 0.0, "on_hand_value": 12000.5})
    assert scan(loaded).scan_id != result.scan_id  # every scan is kept


def test_preview_counts_and_values_on_a_hand_built_case(loaded: Engine, tmp_path: Path) -> None:
    (tmp_path / "active.yaml").write_text(ACTIVE, encoding="utf-8")
    activate(loaded, tmp_path / "active.yaml", actor="li.na")
    result = preview(loaded, parse_policy(DRAFT, "draft.yaml"))
    assert (result.added.count, result.added.by_rule, result.added.value) == (
        2, {"over-po": 2}, Decimal("67200.50"))  # CAT-1 SH01 55,200 + HIP-1 SH01 12,000.50
    assert (result.removed.count, result.removed.by_rule, result.removed.value) == (
        3, {"idle": 2, "expired": 1}, Decimal(15200))  # lots D 4,000, E 3,200, C 8,000
    assert (result.kept.count, result.kept.by_rule, result.kept.value) == (
        3, {"idle": 2, "slow": 1}, Decimal("36001.50"))  # S1, S2 and HIP-1 BJ02 (X holds 0: no finding)


def test_preview_without_an_active_policy_adds_everything(loaded: Engine) -> None:
    result = preview(loaded, parse_policy(ACTIVE, "a.yaml"))
    assert (result.added.count, result.removed.count, result.kept.count) == (6, 0, 0)


@pytest.fixture
def demo(engine: Engine, tmp_path: Path) -> Engine:
    from inventory.demo import write_company

    write_company(tmp_path / "demo", lots=1_500, as_of=AS_OF)
    ingest(engine, tmp_path / "demo", as_of=AS_OF)
    activate(engine, Path(__file__).resolve().parents[1] / "policies" / "default.yaml", actor="test")
    return engine


def _stored(engine: Engine, scan_id: int) -> list[tuple[object, ...]]:
    with engine.connect() as connection:
        return sorted((f.rule, f.sku, f.site, f.lot, f.serial, f.severity, f.value, json.dumps(f.metrics),
                       json.dumps(f.reasons)) for f in stored_findings(connection, scan_id))


@pytest.mark.parametrize("forked", [True, False], ids=["forked", "fork-server"])
def test_a_scan_in_child_processes_stores_what_one_process_stores(demo: Engine, forked: bool,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Children are forked from a caller with one thread, else they come from the fork server."""
    import rules.processes

    monkeypatch.setattr(rules.processes, "_only_thread", lambda: forked)
    one = scan(demo)
    many = scan(demo, processes=2, processes_from_lots=0)
    assert many.scan_id != one.scan_id and many.finding_count == one.finding_count > 100
    assert _stored(demo, many.scan_id) == _stored(demo, one.scan_id)
    with demo.connect() as connection:
        assert latest_scan(connection).id == many.scan_id  # type: ignore[union-attr]


def _store_then_fail(url: str, scan_id: int, *args: object) -> int:
    """Runs in a child: stores its range's findings (committed), then fails."""
    import rules.scan
    from rules.processes import child_engine

    rules.scan._store_range(child_engine(url), scan_id, *args)  # type: ignore[arg-type]
    raise RuntimeError(f"range of scan {scan_id} failed")


@pytest.mark.parametrize("forked", [True, False], ids=["forked", "fork-server"])
def test_a_scan_whose_child_fails_leaves_neither_the_scan_nor_its_findings(demo: Engine, forked: bool,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import rules.processes
    import rules.scan

    monkeypatch.setattr(rules.processes, "_only_thread", lambda: forked)
    from rules.models import FindingRow, Scan

    before = scan(demo)
    monkeypatch.setattr(rules.scan, "_store_range_in_child", _store_then_fail)
    with pytest.raises(RuntimeError, match=r"range of scan \d+ failed"):
        scan(demo, processes=2, processes_from_lots=0)
    with demo.connect() as connection:
        assert [s.id for s in connection.execute(select(Scan)).all()] == [before.scan_id]
        assert {r.scan_id for r in connection.execute(select(col(FindingRow.scan_id)))} == {before.scan_id}
        assert latest_scan(connection).id == before.scan_id  # type: ignore[union-attr]
