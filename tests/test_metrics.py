"""Every lot and SKU-site metric on a small company whose figures were worked out by hand (as of 2026-11-25)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine

from inventory.ingest import ingest
from inventory.metrics import LotFact, SkuSiteFact, iter_facts, latest_snapshot, project_expiry
from tests.support.data import AS_OF, write_export
from tests.support.data import METRIC_CONVERSIONS as CONVERSIONS
from tests.support.data import METRIC_LOTS as LOTS
from tests.support.data import METRIC_MOVEMENTS as MOVEMENTS
from tests.support.data import METRIC_ORDERS as ORDERS


@pytest.fixture
def facts(engine: Engine, tmp_path: Path) -> tuple[dict[tuple[str, str, str, str], LotFact], dict[tuple[str, str], SkuSiteFact]]:
    folder = write_export(tmp_path / "export", lots=LOTS, movements=MOVEMENTS, uom_conversions=CONVERSIONS,
                          purchase_orders=ORDERS)
    ingest(engine, folder, as_of=AS_OF)
    with engine.connect() as connection:
        snapshot = latest_snapshot(connection)
        assert snapshot is not None
        groups = list(iter_facts(connection, snapshot))
    lots = {(f.sku, f.site, f.lot, f.serial): f for g in groups for f in g.lots}
    sku_sites = {(g.sku_site.sku, g.sku_site.site): g.sku_site for g in groups}
    return lots, sku_sites


def test_lot_metrics(facts: tuple[dict, dict]) -> None:
    lots, _ = facts
    a = lots["CAT-1", "SH01", "A", ""]
    assert (a.qty, a.unit_cost, a.value) == (30, 800, 24000)
    assert a.days_in_stock == 328
    assert a.last_moved_on == date(2026, 9, 15)  # the receipt of serial X on 11-24 is another position
    assert a.days_since_movement == 71
    assert a.days_to_expiry == 40
    assert a.shelf_life_left_pct == pytest.approx(10.03)  # 100 x 40 / 399

    b = lots["CAT-1", "SH01", "B", ""]
    assert b.qty == 20  # 2 box10
    assert (b.days_in_stock, b.days_since_movement, b.days_to_expiry) == (177, 26, 30)
    assert b.shelf_life_left_pct is None  # no manufacture date

    c = lots["CAT-1", "SH01", "C", ""]
    assert (c.days_in_stock, c.days_since_movement, c.days_to_expiry) == (420, 5, -24)

    e = lots["CAT-1", "SH01", "E", ""]
    assert (e.days_since_movement, e.days_to_expiry, e.shelf_life_left_pct) == (297, None, None)

    s1 = lots["HIP-1", "SH01", "L1", "S1"]
    assert s1.value == Decimal("12000.50")
    assert (s1.days_in_stock, s1.days_since_movement) == (730, 684)  # last_movement_on from the ERP
    assert s1.days_to_expiry == 1041
    assert s1.shelf_life_left_pct == pytest.approx(57.01)  # 100 x 1041 / 1826
    assert (s1.category, s1.risk_class, s1.lifecycle, s1.storage) == ("implant", "III", "phase_out", "ambient")

    s2 = lots["HIP-1", "BJ02", "L1", "S2"]
    assert s2.days_since_movement == 549  # received_on: no movement at all


def test_fefo_projection(facts: tuple[dict, dict]) -> None:
    """d = 365 issued / 365 days = 1 a day. FEFO: B (30 days) is used up by day 20, then A (40 days)
    gets the 20 days left before it expires and keeps 30 - 20 = 10. Expired C and quarantined D keep
    everything; E has no expiry and keeps nothing."""
    lots, sku_sites = facts
    kept = {lot: lots["CAT-1", "SH01", lot, ""].projected_expiry_qty for lot in "ABCDE"}
    assert kept == {"A": 10, "B": 0, "C": 10, "D": 5, "E": 0}
    assert lots["CAT-1", "SH01", "A", ""].projected_expiry_value == 8000
    cat = sku_sites["CAT-1", "SH01"]
    assert (cat.projected_expiry_qty, cat.projected_expiry_value) == (25, 20000)
    # One implant sold in a year (d = 1/365) uses the serial up long before its 1041 days run out.
    assert lots["HIP-1", "SH01", "L1", "S1"].projected_expiry_qty == 0


def test_sku_site_metrics(facts: tuple[dict, dict]) -> None:
    _, sku_sites = facts
    assert set(sku_sites) == {("CAT-1", "SH01"), ("HIP-1", "SH01"), ("HIP-1", "BJ02"), ("HIP-2", "GZ03")}
    cat = sku_sites["CAT-1", "SH01"]
    assert (cat.on_hand, cat.on_hand_value, cat.lot_count) == (69, 55200, 5)
    assert cat.issued_365d == 365  # 139 + 226; the box10 issue of 2025-11-25 is 365 days old, out
    assert cat.avg_daily_demand == pytest.approx(1.0)
    assert cat.days_of_cover == pytest.approx(69.0)
    assert cat.days_since_last_issue == 26
    assert cat.turnover_365d == pytest.approx(5.2899)
    assert cat.open_po_qty == 25  # 2 box10 + 5; the received line has nothing open

    hip = sku_sites["HIP-1", "SH01"]
    assert (hip.issued_365d, hip.days_since_last_issue, hip.open_po_qty) == (1, 208, 3)
    assert hip.days_of_cover == pytest.approx(365.0)
    assert hip.turnover_365d == pytest.approx(1.0)

    idle = sku_sites["HIP-1", "BJ02"]
    assert (idle.issued_365d, idle.avg_daily_demand, idle.days_of_cover, idle.days_since_last_issue) == (0, 0, None, None)
    assert idle.turnover_365d == 0

    empty = sku_sites["HIP-2", "GZ03"]
    assert (empty.on_hand, empty.turnover_365d, empty.days_of_cover) == (0, None, None)


def test_facts_for_chosen_sku_sites_equal_the_full_run(engine: Engine, facts: tuple[dict, dict]) -> None:
    _, sku_sites = facts
    with engine.connect() as connection:
        snapshot = latest_snapshot(connection)
        assert snapshot is not None
        chosen = list(iter_facts(connection, snapshot, [("CAT-1", "SH01"), ("HIP-1", "BJ02")]))
    assert [(g.sku_site.sku, g.sku_site.site) for g in chosen] == [("CAT-1", "SH01"), ("HIP-1", "BJ02")]
    assert chosen[0].sku_site == sku_sites["CAT-1", "SH01"]
    assert chosen[1].sku_site == sku_sites["HIP-1", "BJ02"]


def _lot(lot: str, qty: int, days_to_expiry: int | None, qc: str = "released", received: int = 1) -> LotFact:
    expires = None if days_to_expiry is None else date.fromordinal(AS_OF.toordinal() + days_to_expiry)
    return LotFact(sku="S", site="X", lot=lot, serial="", category="c", risk_class=None, lifecycle="active",
                   storage="ambient", qc_status=qc, currency="CNY", qty=Decimal(qty), unit_cost=Decimal(2),
                   value=Decimal(2 * qty), received_on=date(2026, 1, received), expires_on=expires,
                   last_moved_on=AS_OF, days_in_stock=0, days_since_movement=0, days_to_expiry=days_to_expiry,
                   shelf_life_left_pct=None)


def test_fefo_clock_waits_for_earlier_lots_and_ties_break_on_receipt_then_lot() -> None:
    """d = 2/day. Lots expiring on day 10: 'b' (received earlier) goes first, uses 10 of its 10 days
    (20 units, so 0 kept) ... then 'a' has no days left and keeps all 8. 'c' expires on day 50:
    tau is 10, so 40 days x 2 = 80 units can go, it has 30: keeps 0 and tau moves to 25."""
    lots = [_lot("a", 8, 10, received=5), _lot("b", 20, 10, received=2), _lot("c", 30, 50), _lot("d", 100, 60)]
    project_expiry(lots, 2.0)
    kept = {f.lot: f.projected_expiry_qty for f in lots}
    # d: tau = 25, 35 days x 2 = 70 units used, 30 kept.
    assert kept == {"a": 8, "b": 0, "c": 0, "d": 30}
    assert lots[3].projected_expiry_value == 60


def test_fefo_without_demand_and_for_blocked_or_expired_stock() -> None:
    lots = [_lot("a", 8, 10), _lot("b", 3, 0), _lot("c", 4, 30, qc="hold"), _lot("d", 5, None)]
    project_expiry(lots, 0.0)
    assert [f.projected_expiry_qty for f in lots] == [8, 3, 4, 0]
