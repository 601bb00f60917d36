"""The facts measured on a snapshot: one per lot position and one per SKU-site, as the rules see them.

Aggregates over movements and orders are computed in SQL (grouped once per snapshot, never a Python
loop per movement); what remains is one pass over the lot positions of each SKU-site in expiry order,
which the first-expiry-first-out projection needs anyway. Definitions are in docs/metrics.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import groupby
from typing import Any

from sqlalchemy import Connection, Select, and_, case, func, insert, literal, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col

from core.db import as_utc, table
from inventory.models import (
    LotPosition,
    Material,
    Movement,
    MovementType,
    PurchaseOrderLine,
    QcStatus,
    SkuSiteIssues,
    Snapshot,
    SnapshotState,
)

QTY_QUANTUM = Decimal("0.0001")
YEAR_DAYS = 365

SkuSite = tuple[str, str]


@dataclass(slots=True)
class LotFact:
    """What is known about one lot position on the snapshot date."""

    sku: str
    site: str
    lot: str
    serial: str
    category: str
    risk_class: str | None
    lifecycle: str
    storage: str
    qc_status: str
    currency: str
    qty: Decimal
    unit_cost: Decimal
    value: Decimal
    received_on: date
    expires_on: date | None
    last_moved_on: date
    days_in_stock: int
    days_since_movement: int
    days_to_expiry: int | None
    shelf_life_left_pct: float | None
    projected_expiry_qty: Decimal = Decimal(0)
    projected_expiry_value: Decimal = Decimal(0)


@dataclass(slots=True)
class SkuSiteFact:
    """What is known about one SKU at one site: stock, demand against it, and what is still on order."""

    sku: str
    site: str
    category: str
    risk_class: str | None
    lifecycle: str
    storage: str
    currency: str
    unit_cost: Decimal
    lot_count: int
    on_hand: Decimal
    on_hand_value: Decimal
    issued_365d: Decimal
    avg_daily_demand: float
    days_of_cover: float | None
    days_since_last_issue: int | None
    turnover_365d: float | None
    open_po_qty: Decimal
    projected_expiry_qty: Decimal
    projected_expiry_value: Decimal


@dataclass(slots=True)
class SkuSiteFacts:
    sku_site: SkuSiteFact
    lots: list[LotFact] = field(default_factory=list)


def latest_snapshot(connection: Connection) -> Snapshot | None:
    """The snapshot scans, cases, KPIs and pages use: the newest accepted one. A suspect snapshot (a load
    that looks like a broken export, inventory/suspect.py) or a rejected one is never it."""
    row = connection.execute(select(Snapshot).where(col(Snapshot.state) == SnapshotState.ACCEPTED.value)
                             .order_by(col(Snapshot.id).desc()).limit(1)).first()
    return None if row is None else Snapshot.model_validate(row._mapping)


def latest_snapshot_id(connection: Connection) -> int | None:
    """The id of latest_snapshot, in one small query."""
    return connection.execute(select(func.max(col(Snapshot.id)))
                              .where(col(Snapshot.state) == SnapshotState.ACCEPTED.value)).scalar()


def snapshot_used_at(connection: Connection, at: datetime) -> int | None:
    """The snapshot that latest_snapshot named at `at`: the newest one accepted by then (at its load, or
    when a person accepted it), so a suspect snapshot counts only from its acceptance on. Compared in
    Python, as governance/evidence.py did with the load times: SQLite hands back naive times (written as
    UTC), and a company loads a snapshot a day, so the table stays small."""
    moment = as_utc(at)
    s = table(Snapshot).c
    for snapshot_id, accepted_at in connection.execute(
            select(s.id, s.accepted_at).where(s.state == SnapshotState.ACCEPTED.value).order_by(s.id.desc())):
        if accepted_at is not None and as_utc(accepted_at) <= moment:
            return int(snapshot_id)
    return None


@dataclass(frozen=True)
class Selection:
    """Which SKU-sites to measure: all of them, a list (incremental re-evaluation) or a range of SKUs
    (one partition of a scan)."""

    sku_sites: list[SkuSite] | None = None
    sku_range: tuple[str, str] | None = None

    def clauses(self, sku: Any, site: Any) -> list[Any]:
        found = []
        if self.sku_sites is not None:
            found.append(tuple_(sku, site).in_(self.sku_sites))
        if self.sku_range is not None:
            found.append(sku.between(*self.sku_range))
        return found


EVERYTHING = Selection()


def issue_totals_query(snapshot_id: int, as_of: date) -> Select[Any]:
    """(sku, site, issued in the 365 days to the snapshot date, last issue) per SKU-site, grouped from
    the movements: docs/metrics.md. Only SKU-sites that ever issued have a row."""
    window_start = as_of - timedelta(days=YEAR_DAYS)
    m = table(Movement).c
    return (
        select(m.sku, m.site,
               func.coalesce(func.sum(case((m.moved_on > window_start, m.qty), else_=0)), 0),
               func.max(m.moved_on))
        .where(m.snapshot_id == snapshot_id, m.type == MovementType.ISSUE.value, m.moved_on <= as_of)
        .group_by(m.sku, m.site)
    )


def store_issue_totals(connection: Connection, snapshot_id: int, as_of: date) -> None:
    """Sum the issues of every SKU-site of a snapshot just loaded, in the caller's transaction."""
    totals = issue_totals_query(snapshot_id, as_of).add_columns(literal(snapshot_id))
    connection.execute(insert(SkuSiteIssues).from_select(
        ["sku", "site", "issued_365d", "last_issue_on", "snapshot_id"], totals))


UPSERT_ROWS = 1_000
"""SKU-sites per statement: five parameters each stay far below SQLite's 32,766 and PostgreSQL's 65,535."""


def add_issues(connection: Connection, snapshot_id: int, as_of: date,
               issues: Iterable[tuple[str, str, Decimal, date]]) -> None:
    """Add issues applied after the load, (sku, site, qty, moved_on), to their SKU-sites' sums: the
    same result as grouping all the movements again (tests/test_incremental.py holds the two equal),
    in one statement per thousand SKU-sites instead of a grouping per SKU-site (a millisecond of a
    one-movement re-evaluation on PostgreSQL)."""
    window_start = as_of - timedelta(days=YEAR_DAYS)
    sums: dict[SkuSite, tuple[Decimal, date]] = {}
    for sku, site, qty, moved_on in issues:
        if moved_on <= as_of:
            issued, last = sums.get((sku, site), (Decimal(0), moved_on))
            sums[sku, site] = (issued + qty if moved_on > window_start else issued, max(last, moved_on))
    upsert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    rows = [{"snapshot_id": snapshot_id, "sku": sku, "site": site, "issued_365d": issued, "last_issue_on": last}
            for (sku, site), (issued, last) in sorted(sums.items())]
    for start in range(0, len(rows), UPSERT_ROWS):
        statement = upsert(SkuSiteIssues).values(rows[start:start + UPSERT_ROWS])
        stored, added = table(SkuSiteIssues).c, statement.excluded
        connection.execute(statement.on_conflict_do_update(
            index_elements=["snapshot_id", "sku", "site"],
            set_={"issued_365d": stored.issued_365d + added.issued_365d,
                  "last_issue_on": case((added.last_issue_on > stored.last_issue_on, added.last_issue_on),
                                        else_=stored.last_issue_on)}))


def _issue_totals(connection: Connection, snapshot: Snapshot, selection: Selection) -> dict[SkuSite, tuple[Decimal, date]]:
    i = table(SkuSiteIssues).c
    query = select(i.sku, i.site, i.issued_365d, i.last_issue_on).where(
        i.snapshot_id == snapshot.id, *selection.clauses(i.sku, i.site))
    return {(sku, site): (issued, last) for sku, site, issued, last in connection.execute(query)}


def _open_orders(connection: Connection, snapshot: Snapshot, selection: Selection) -> dict[SkuSite, Decimal]:
    p = table(PurchaseOrderLine).c
    query = (
        select(p.sku, p.site, func.sum(p.qty_open))
        .where(p.snapshot_id == snapshot.id, p.qty_open > 0, *selection.clauses(p.sku, p.site))
        .group_by(p.sku, p.site)
    )
    return {(sku, site): Decimal(qty) for sku, site, qty in connection.execute(query)}


def _lot_rows(connection: Connection, snapshot: Snapshot, selection: Selection) -> Any:
    """The lot positions with their material, in the column order _lot_fact unpacks."""
    lp = table(LotPosition).c
    mt = table(Material).c
    query = (
        select(lp.sku, lp.site, lp.lot, lp.serial, lp.qty, lp.received_on, lp.manufactured_on, lp.expires_on,
               lp.last_movement_on, lp.qc_status, mt.category, mt.risk_class, mt.lifecycle, mt.storage,
               mt.currency, mt.unit_cost, lp.latest_movement_on)
        .join(table(Material), and_(mt.snapshot_id == lp.snapshot_id, mt.sku == lp.sku))
        .where(lp.snapshot_id == snapshot.id, *selection.clauses(lp.sku, lp.site))
        .order_by(lp.sku, lp.site)
    )
    if selection.sku_sites is not None:  # a few SKU-sites (applied movements): one round trip, not a
        return connection.execute(query)  # server-side cursor's declare, fetches and close on PostgreSQL
    return connection.execute(query.execution_options(yield_per=10_000))


def _lot_fact(row: Any, as_of: date) -> LotFact:
    """Unpacked by position and built positionally: by name, this function was a sixth of a scan
    (benchmarks/rules_scan.py; 12 µs a lot against 2 µs)."""
    (sku, site, lot, serial, qty, received_on, manufactured_on, expires_on, last_movement_on, qc_status,
     category, risk_class, lifecycle, storage, currency, unit_cost, latest_movement_on) = row
    last = received_on
    if last_movement_on is not None and last_movement_on > last:
        last = last_movement_on
    if latest_movement_on is not None and latest_movement_on > last:
        last = latest_movement_on
    days_to_expiry = shelf_life_left = None
    if expires_on is not None:
        days_to_expiry = (expires_on - as_of).days
        if manufactured_on is not None and expires_on > manufactured_on:
            shelf_life_left = round(100 * days_to_expiry / (expires_on - manufactured_on).days, 2)
    return LotFact(sku, site, lot, serial, category, risk_class, lifecycle, storage, qc_status, currency, qty,
                   unit_cost, qty * unit_cost, received_on, expires_on, last, (as_of - received_on).days,
                   (as_of - last).days, days_to_expiry, shelf_life_left)


def project_expiry(lots: list[LotFact], avg_daily_demand: float) -> None:
    """Set each lot's projected_expiry_qty: what is left when it expires if demand takes lots FEFO.

    Released lots not yet expired are consumed in expiry order at `avg_daily_demand`; the clock tau
    counts the days of demand already promised to earlier lots, so a later lot only starts being
    used when the earlier ones are gone. Expired or blocked stock with an expiry will all expire;
    stock without an expiry never does.
    """
    walk: list[LotFact] = []
    for fact in lots:
        if fact.expires_on is None:
            fact.projected_expiry_qty = Decimal(0)
        elif fact.qc_status == QcStatus.RELEASED and fact.days_to_expiry is not None and fact.days_to_expiry > 0:
            walk.append(fact)
        else:
            fact.projected_expiry_qty = fact.qty
    walk.sort(key=lambda f: (f.expires_on, f.received_on, f.lot))
    tau = 0.0
    for fact in walk:
        if avg_daily_demand == 0:
            fact.projected_expiry_qty = fact.qty
            continue
        qty = float(fact.qty)
        kept = max(0.0, qty - avg_daily_demand * max(0.0, fact.days_to_expiry - tau))  # type: ignore[operator]
        tau += (qty - kept) / avg_daily_demand
        fact.projected_expiry_qty = Decimal(repr(kept)).quantize(QTY_QUANTUM)
    for fact in lots:
        fact.projected_expiry_value = fact.projected_expiry_qty * fact.unit_cost


def _sku_site_fact(lots: list[LotFact], issues: tuple[Decimal, date] | None, open_po: Decimal,
                   as_of: date) -> SkuSiteFact:
    first = lots[0]
    issued, last_issue = issues if issues is not None else (Decimal(0), None)
    on_hand = sum((f.qty for f in lots), Decimal(0))
    avg_daily_demand = float(issued) / YEAR_DAYS
    project_expiry(lots, avg_daily_demand)
    return SkuSiteFact(
        sku=first.sku, site=first.site, category=first.category, risk_class=first.risk_class,
        lifecycle=first.lifecycle, storage=first.storage, currency=first.currency, unit_cost=first.unit_cost,
        lot_count=len(lots), on_hand=on_hand, on_hand_value=sum((f.value for f in lots), Decimal(0)),
        issued_365d=issued, avg_daily_demand=round(avg_daily_demand, 6),
        days_of_cover=None if issued == 0 else round(float(on_hand) * YEAR_DAYS / float(issued), 2),
        days_since_last_issue=None if last_issue is None else (as_of - last_issue).days,
        turnover_365d=None if on_hand == 0 else round(float(issued / on_hand), 4),
        open_po_qty=open_po,
        projected_expiry_qty=sum((f.projected_expiry_qty for f in lots), Decimal(0)),
        projected_expiry_value=sum((f.projected_expiry_value for f in lots), Decimal(0)),
    )


def iter_facts(connection: Connection, snapshot: Snapshot,
               sku_sites: Iterable[SkuSite] | None = None, *, selection: Selection | None = None) -> Iterator[SkuSiteFacts]:
    """The facts of every SKU-site with lot positions (or only of `sku_sites`, or of `selection`), one
    SKU-site at a time, in SKU order.

    Streaming per SKU-site keeps memory bounded by the largest SKU-site, not by the snapshot.
    """
    if selection is None:
        selection = EVERYTHING if sku_sites is None else Selection(sku_sites=sorted(set(sku_sites)))
    issues = _issue_totals(connection, snapshot, selection)
    orders = _open_orders(connection, snapshot, selection)
    lot_facts = (_lot_fact(row, snapshot.as_of) for row in _lot_rows(connection, snapshot, selection))
    for key, group in groupby(lot_facts, key=lambda f: (f.sku, f.site)):
        lots = list(group)
        fact = _sku_site_fact(lots, issues.get(key), orders.get(key, Decimal(0)), snapshot.as_of)
        yield SkuSiteFacts(fact, lots)


def partition_skus(connection: Connection, snapshot: Snapshot, parts: int) -> list[tuple[str, str]]:
    """Split the snapshot's SKUs into at most `parts` ranges of about equal lot counts, for parallel scans."""
    lp = table(LotPosition).c
    counts = connection.execute(select(lp.sku, func.count()).where(lp.snapshot_id == snapshot.id)
                                .group_by(lp.sku).order_by(lp.sku)).all()
    total = sum(n for _, n in counts)
    ranges: list[tuple[str, str]] = []
    first, seen = None, 0
    for sku, n in counts:
        first = first or sku
        seen += n
        if seen * parts >= total * (len(ranges) + 1) or sku == counts[-1][0]:
            ranges.append((first, sku))
            first = None
    return ranges
