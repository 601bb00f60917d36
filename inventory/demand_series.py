"""Monthly demand per SKU-site of a snapshot, as a panel the forecasting methods read.

A SKU-site's demand is its `demand` rows of kind actual when it has any; else its issue movements summed
per month (an export without a demand file still gets forecasts). Two queries, each summed by the
database. The history ends with the last complete month before the snapshot date (the snapshot's own
month is still running; it is complete only on its last day), reaches back at most MAX_MONTHS, and
each series starts at its first month with demand: months before it are not zeros of that SKU-site (it
may not have been sold yet), and the Croston family counts every month it is given into the first
interval. A month whose net demand is negative (returns larger than issues) counts as zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import numpy as np
from sqlalchemy import Connection, extract, func, select

from core.db import table
from core.period import Period
from inventory.forecast_methods import Array, Index
from inventory.models import DemandKind, DemandRecord, Movement, MovementType, Snapshot

MAX_MONTHS = 60
"""Five years: older demand says little about next month and only costs memory."""


class Source:
    DEMAND = "demand"
    ISSUES = "issues"


@dataclass(frozen=True)
class DemandSeries:
    """The panel: `values[i]` is the monthly demand of `keys[i]` over `months`, from `start[i]` on."""

    months: list[str]
    keys: list[tuple[str, str]]
    sources: list[str]
    values: Array
    start: Index

    def __len__(self) -> int:
        return len(self.keys)


def last_complete_month(as_of: date) -> Period:
    """The snapshot's month if the snapshot is of its last day, else the month before."""
    month = Period.of(as_of)
    return month if (as_of + timedelta(days=1)).month != as_of.month else month.previous()


def months_after(last: Period, count: int) -> list[str]:
    """The `count` months after `last`, as YYYY-MM."""
    out, year, month = [], last.year, last.month
    for _ in range(count):
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        out.append(f"{year:04d}-{month:02d}")
    return out


def read_series(connection: Connection, snapshot: Snapshot) -> DemandSeries:
    """Every SKU-site of the snapshot with demand (or issues) in the MAX_MONTHS up to the last complete month."""
    last = last_complete_month(snapshot.as_of)
    window: list[str] = [str(last)]
    while len(window) < MAX_MONTHS:
        window.append(str(Period.parse(window[-1]).previous()))
    window.reverse()
    column = {period: i for i, period in enumerate(window)}
    amounts: dict[tuple[str, str], dict[int, Decimal]] = {}
    sources: dict[tuple[str, str], str] = {}

    d = table(DemandRecord).c
    for row in connection.execute(
        select(d.sku, d.site, d.period, func.sum(d.qty).label("qty"))
        .where(d.snapshot_id == snapshot.id, d.kind == DemandKind.ACTUAL, d.period >= window[0], d.period <= window[-1])
        .group_by(d.sku, d.site, d.period)
    ):
        key = (row.sku, row.site)
        sources[key] = Source.DEMAND
        amounts.setdefault(key, {})[column[row.period]] = Decimal(row.qty)

    m = table(Movement).c
    first_day, _ = Period.parse(window[0]).bounds()
    _, last_day = last.bounds()
    year, month = extract("year", m.moved_on).label("year"), extract("month", m.moved_on).label("month")
    for row in connection.execute(
        select(m.sku, m.site, year, month, func.sum(m.qty).label("qty"))
        .where(m.snapshot_id == snapshot.id, m.type == MovementType.ISSUE, m.moved_on >= first_day,
               m.moved_on <= last_day)
        .group_by(m.sku, m.site, year, month)
    ):
        key = (row.sku, row.site)
        if sources.get(key) == Source.DEMAND:
            continue
        sources[key] = Source.ISSUES
        amounts.setdefault(key, {})[column[f"{int(row.year):04d}-{int(row.month):02d}"]] = Decimal(row.qty)

    keys = sorted(amounts)
    values = np.zeros((len(keys), len(window)))
    start = np.zeros(len(keys), dtype=np.int64)
    for i, key in enumerate(keys):
        months = amounts[key]
        for j, qty in months.items():
            values[i, j] = max(0.0, float(qty))
        with_demand = [j for j in months if values[i, j] > 0]
        start[i] = min(with_demand) if with_demand else min(months)
    used = int(start.min()) if len(keys) else len(window) - 1
    return DemandSeries(window[used:], keys, [sources[key] for key in keys], values[:, used:], start - used)
