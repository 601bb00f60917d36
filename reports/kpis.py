"""Computing a month's KPIs from the snapshot that stood at its end, and storing them (a recomputation
replaces the month's values), so the pack can show each KPI's last twelve months."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import Connection, Engine, delete, insert, select
from sqlmodel import col

from core.period import month_bounds, months_back
from inventory.models import Snapshot, SnapshotState
from reports.case_kpis import case_handling
from reports.models import KpiValue
from reports.stock_kpis import (
    AGING_BUCKETS,
    Scope,
    delivery_deviation,
    forecast_error,
    stock_kpis,
)
from rules.models import Scan


class NoSnapshotForPeriod(LookupError):
    pass


def snapshot_for(connection: Connection, period: str) -> Snapshot:
    """The newest accepted snapshot dated within or before the month: the stock as it stood at its end (a
    suspect or rejected one is no account of it: inventory/suspect.py)."""
    _, last = month_bounds(period)
    row = connection.execute(select(Snapshot).where(col(Snapshot.as_of) <= last,
                                                    col(Snapshot.state) == SnapshotState.ACCEPTED.value)
                             .order_by(col(Snapshot.as_of).desc(), col(Snapshot.id).desc()).limit(1)).first()
    if row is None:
        raise NoSnapshotForPeriod(f"no snapshot is dated on or before the end of {period}")
    return Snapshot.model_validate(row._mapping)


def scan_of(connection: Connection, snapshot: Snapshot) -> int | None:
    """The newest completed scan of `snapshot`: the findings that stood for it."""
    return connection.execute(select(col(Scan.id)).where(col(Scan.snapshot_id) == snapshot.id, col(Scan.completed_at).is_not(None))
                              .order_by(col(Scan.id).desc()).limit(1)).scalar()


def compute(connection: Connection, period: str, now: datetime | None = None) -> tuple[Snapshot, list[tuple[Scope, str, Decimal | None]]]:
    snapshot = snapshot_for(connection, period)
    values: list[tuple[Scope, str, Decimal | None]] = []
    for scope, k in stock_kpis(connection, snapshot, scan_of(connection, snapshot)).items():
        values += [(scope, "on_hand_value", k.on_hand_value), (scope, "issued_value_365d", k.issued_value_365d),
                   (scope, "turnover_days", k.turnover_days), (scope, "obsolete_value", k.obsolete_value),
                   (scope, "obsolete_ratio", k.obsolete_ratio), (scope, "projected_expiry_value", k.projected_expiry_value)]
        values += [(scope, f"aging_{bucket}", k.aging[bucket]) for bucket in AGING_BUCKETS]
        values += [(scope, f"expiring_m{n + 1:02d}", value) for n, value in enumerate(k.expiring)]
    for scope, e in forecast_error(connection, snapshot, period).items():
        values += [(scope, "forecast_wape", e.wape), (scope, "forecast_bias", e.bias)]
    for scope, d in delivery_deviation(connection, snapshot, period).items():
        values += [(scope, "delivery_lines", Decimal(d.lines)), (scope, "delivery_mean_days_late", d.mean_days_late),
                   (scope, "delivery_share_late", d.share_late)]
    for scope, c in case_handling(connection, period, now).items():
        values += [(scope, "cases_opened", Decimal(c.opened)), (scope, "cases_resolved", Decimal(c.resolved)),
                   (scope, "cases_resolved_by_itself", Decimal(c.resolved_by_itself)),
                   (scope, "cases_cancelled", Decimal(c.cancelled)), (scope, "escalations", Decimal(c.escalations)),
                   (scope, "cases_overdue_now", Decimal(c.overdue_now)),
                   (scope, "median_days_to_acknowledge", c.median_days_to_acknowledge),
                   (scope, "median_days_to_resolve", c.median_days_to_resolve),
                   (scope, "share_within_sla", c.share_within_sla)]
        values += [(scope, f"recovered_{disposition}", value) for disposition, value in sorted(c.recovered.items())]
    return snapshot, values


def store(engine: Engine, period: str, now: datetime | None = None) -> int:
    """Compute and store the month's KPIs in one transaction; returns how many values were stored."""
    computed_at = now or datetime.now(UTC)
    with engine.begin() as connection:
        snapshot, values = compute(connection, period, now)
        connection.execute(delete(KpiValue).where(col(KpiValue.period) == period))
        rows = [{"period": period, "scope_kind": kind, "scope_key": key, "name": name, "value": value,
                 "snapshot_id": snapshot.id, "computed_at": computed_at} for (kind, key), name, value in values]
        if rows:
            connection.execute(insert(KpiValue), rows)
    return len(rows)


def trend(connection: Connection, period: str, name: str, scope: Scope = ("company", ""), months: int = 12) -> Iterator[tuple[str, Decimal | None]]:
    """The stored values of `name` for the `months` periods up to `period` (None where not computed)."""
    periods = months_back(period, months)
    stored = dict(connection.execute(select(col(KpiValue.period), col(KpiValue.value)).where(
        col(KpiValue.name) == name, col(KpiValue.scope_kind) == scope[0], col(KpiValue.scope_key) == scope[1],
        col(KpiValue.period).in_(periods))).all())
    for p in periods:
        yield p, stored.get(p)
