"""The committee's KPIs for a month, by company, site and category. Each is defined in docs/metrics.md;
the definitions here are the ones the governance pack prints.

- turnover days = on-hand value / (value issued in the trailing 365 days / 365): issued quantity at
  today's unit cost, so both sides are valued alike; None when nothing was issued (stock that never
  turns has no finite turnover).
- obsolete-stock ratio (呆滞料占比) = value of the lot positions an open finding of severity high or
  critical points at (a SKU finding points at every lot of its SKU-site), each position once, / on-hand value.
- aging: on-hand value by days since last movement: 0-90, 91-180, 181-365, over 365.
- expiry outlook: value expiring in each of the 12 calendar months after the snapshot's month, and the
  projected expiry value (stock that will expire before FEFO demand uses it).
- forecast error over the 6 months up to the period: WAPE = sum|forecast - actual| / sum actual,
  bias = sum(forecast - actual) / sum actual, over SKU-site-months that have an actual.
- delivery deviation over purchase-order lines received in the period: mean days received after promised
  (negative is early) and the share received late.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import Connection, and_, select

from core.db import table
from core.period import month_bounds, months_back
from inventory.metrics import YEAR_DAYS, LotFact, SkuSiteFacts, iter_facts
from inventory.models import DemandRecord, Material, PurchaseOrderLine, Snapshot
from rules.models import FindingRow

AGING_BUCKETS = ("0-90", "91-180", "181-365", ">365")
OBSOLETE_SEVERITIES = ("high", "critical")
COMPANY = ("company", "")

Scope = tuple[str, str]
"""(kind, key): ("company", ""), ("site", "SH01"), ("category", "implant")."""


@dataclass
class StockKpis:
    on_hand_value: Decimal = Decimal(0)
    issued_value_365d: Decimal = Decimal(0)
    obsolete_value: Decimal = Decimal(0)
    aging: dict[str, Decimal] = field(default_factory=lambda: {b: Decimal(0) for b in AGING_BUCKETS})
    expiring: list[Decimal] = field(default_factory=lambda: [Decimal(0)] * 12)
    """Value expiring in each of the 12 months after the snapshot's month."""
    projected_expiry_value: Decimal = Decimal(0)

    @property
    def turnover_days(self) -> Decimal | None:
        if not self.issued_value_365d:
            return None
        return (self.on_hand_value / (self.issued_value_365d / YEAR_DAYS)).quantize(Decimal("0.1"), ROUND_HALF_UP)

    @property
    def obsolete_ratio(self) -> Decimal | None:
        return (self.obsolete_value / self.on_hand_value).quantize(Decimal("0.0001"), ROUND_HALF_UP) if self.on_hand_value else None


def aging_bucket(days_since_movement: int) -> str:
    if days_since_movement <= 90:
        return "0-90"
    if days_since_movement <= 180:
        return "91-180"
    if days_since_movement <= 365:
        return "181-365"
    return ">365"


def _months_ahead(as_of: date, expires_on: date) -> int:
    """1 for the month after the snapshot's month, ... ; 0 or less for this month or the past."""
    return (expires_on.year - as_of.year) * 12 + expires_on.month - as_of.month


def _flagged(connection: Connection, scan_id: int | None, rules: Iterable[str] | None) -> tuple[set[tuple[str, str, str, str]], set[tuple[str, str]]]:
    """Lot positions and SKU-sites an open finding of high or critical severity (or of `rules`) points at."""
    if scan_id is None:
        return set(), set()
    f = table(FindingRow).c
    condition = f.rule.in_(list(rules)) if rules is not None else f.severity.in_(OBSOLETE_SEVERITIES)
    lots: set[tuple[str, str, str, str]] = set()
    sku_sites: set[tuple[str, str]] = set()
    for row in connection.execute(select(f.level, f.sku, f.site, f.lot, f.serial).where(f.scan_id == scan_id, condition)):
        if row.level == "sku":
            sku_sites.add((row.sku, row.site))
        else:
            lots.add((row.sku, row.site, row.lot, row.serial))
    return lots, sku_sites


def stock_kpis(connection: Connection, snapshot: Snapshot, scan_id: int | None,
               obsolete_rules: Iterable[str] | None = None) -> dict[Scope, StockKpis]:
    """Stock KPIs as of `snapshot`, the obsolete share from the findings of `scan_id`."""
    flagged_lots, flagged_sku_sites = _flagged(connection, scan_id, obsolete_rules)
    kpis: dict[Scope, StockKpis] = defaultdict(StockKpis)
    for facts in iter_facts(connection, snapshot):
        add_sku_site(kpis, facts, snapshot.as_of, flagged_lots, flagged_sku_sites)
    return dict(kpis)


def add_sku_site(kpis: dict[Scope, StockKpis], facts: SkuSiteFacts, as_of: date,
                 flagged_lots: set[tuple[str, str, str, str]], flagged_sku_sites: set[tuple[str, str]]) -> None:
    fact = facts.sku_site
    scopes = (COMPANY, ("site", fact.site), ("category", fact.category))
    issued_value = fact.issued_365d * fact.unit_cost
    whole = (fact.sku, fact.site) in flagged_sku_sites
    for scope in scopes:
        k = kpis[scope]
        k.on_hand_value += fact.on_hand_value
        k.issued_value_365d += issued_value
        k.projected_expiry_value += fact.projected_expiry_value
    for lot in facts.lots:
        _add_lot(kpis, scopes, lot, as_of, whole or (lot.sku, lot.site, lot.lot, lot.serial) in flagged_lots)


def _add_lot(kpis: dict[Scope, StockKpis], scopes: tuple[Scope, ...], lot: LotFact, as_of: date, obsolete: bool) -> None:
    bucket = aging_bucket(lot.days_since_movement)
    ahead = _months_ahead(as_of, lot.expires_on) if lot.expires_on is not None else None
    for scope in scopes:
        k = kpis[scope]
        k.aging[bucket] += lot.value
        if obsolete:
            k.obsolete_value += lot.value
        if ahead is not None and 1 <= ahead <= 12:
            k.expiring[ahead - 1] += lot.value


@dataclass
class ForecastError:
    actual: Decimal = Decimal(0)
    absolute_error: Decimal = Decimal(0)
    error: Decimal = Decimal(0)

    @property
    def wape(self) -> Decimal | None:
        return (self.absolute_error / self.actual).quantize(Decimal("0.0001"), ROUND_HALF_UP) if self.actual else None

    @property
    def bias(self) -> Decimal | None:
        return (self.error / self.actual).quantize(Decimal("0.0001"), ROUND_HALF_UP) if self.actual else None


def forecast_error(connection: Connection, snapshot: Snapshot, period: str, months: int = 6) -> dict[Scope, ForecastError]:
    """Forecast against actual demand over the `months` periods up to `period`, per SKU-site-month."""
    periods = months_back(period, months)
    d, m = table(DemandRecord).c, table(Material).c
    pairs: dict[tuple[str, str, str], dict[str, Decimal]] = defaultdict(dict)
    categories: dict[str, str] = {}
    rows = connection.execute(select(d.sku, d.site, d.period, d.kind, d.qty, m.category)
                              .join(table(Material), and_(m.snapshot_id == d.snapshot_id, m.sku == d.sku))
                              .where(d.snapshot_id == snapshot.id, d.period.in_(periods)))
    for row in rows:
        pairs[(row.sku, row.site, row.period)][row.kind] = row.qty
        categories[row.sku] = row.category
    errors: dict[Scope, ForecastError] = defaultdict(ForecastError)
    for (sku, site, _period), kinds in pairs.items():
        if "actual" not in kinds:
            continue
        actual, forecast = kinds["actual"], kinds.get("forecast", Decimal(0))
        for scope in (COMPANY, ("site", site), ("category", categories[sku])):
            e = errors[scope]
            e.actual += actual
            e.absolute_error += abs(forecast - actual)
            e.error += forecast - actual
    return dict(errors)


@dataclass
class DeliveryDeviation:
    lines: int = 0
    late: int = 0
    days: int = 0

    @property
    def mean_days_late(self) -> Decimal | None:
        return (Decimal(self.days) / self.lines).quantize(Decimal("0.01"), ROUND_HALF_UP) if self.lines else None

    @property
    def share_late(self) -> Decimal | None:
        return (Decimal(self.late) / self.lines).quantize(Decimal("0.0001"), ROUND_HALF_UP) if self.lines else None


def delivery_deviation(connection: Connection, snapshot: Snapshot, period: str) -> dict[Scope, DeliveryDeviation]:
    first, last = month_bounds(period)
    p, m = table(PurchaseOrderLine).c, table(Material).c
    rows = connection.execute(select(p.site, p.received_on, p.promised_on, m.category)
                              .join(table(Material), and_(m.snapshot_id == p.snapshot_id, m.sku == p.sku))
                              .where(p.snapshot_id == snapshot.id, p.received_on.is_not(None), p.promised_on.is_not(None),
                                     p.received_on >= first, p.received_on <= last))
    deviations: dict[Scope, DeliveryDeviation] = defaultdict(DeliveryDeviation)
    for row in rows:
        days = (row.received_on - row.promised_on).days
        for scope in (COMPANY, ("site", row.site), ("category", row.category)):
            dev = deviations[scope]
            dev.lines += 1
            dev.days += days
            dev.late += days > 0
    return dict(deviations)
