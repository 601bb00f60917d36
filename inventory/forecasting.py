"""Forecast every SKU-site of a snapshot: read its monthly demand, classify, backtest, pick, store.

A second run on the same snapshot replaces that snapshot's forecasts in one transaction, so readers see
the old rows or the new ones, never a mix. Rows go in through inventory.bulk (COPY on PostgreSQL): a large
company has tens of thousands of SKU-sites and twelve forecast months each.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import Connection, Engine, case, delete, func, select

from core.db import table
from inventory.bulk import BulkWriter
from inventory.demand_classes import CLASS_ORDER, DemandClass
from inventory.demand_series import last_complete_month, months_after, read_series
from inventory.forecast_backtest import (
    HORIZON,
    ClassSummary,
    SeriesForecast,
    backtest,
    intermittent_summary,
    summarise,
)
from inventory.forecast_models import ForecastMonth, SkuSiteForecast
from inventory.models import Snapshot

QTY = Decimal("0.0001")
FORECAST_COLUMNS = (
    "snapshot_id", "sku", "site", "source", "history_months", "demand_months", "demand_class", "adi", "cv2",
    "method", "monthly_demand", "backtest_months", "actual", "abs_error", "error", "wape", "mase", "bias",
    "naive_abs_error", "naive_error", "naive_wape", "naive_mase", "naive_bias", "made_at",
)
MONTH_COLUMNS = ("snapshot_id", "sku", "site", "period", "qty")


@dataclass(frozen=True)
class ForecastRun:
    """What one run did: per class the pooled backtest, and the intermittent verdict."""

    snapshot_id: int
    as_of: str
    series: int
    months: int
    """Months of history in the panel (the longest series')."""
    classes: dict[DemandClass, ClassSummary]
    intermittent: ClassSummary
    seconds: float


def quantity(value: float) -> Decimal:
    return Decimal(repr(value)).quantize(QTY, ROUND_HALF_UP)


def forecast_snapshot(engine: Engine, snapshot: Snapshot, progress: Callable[[str], None] = lambda _: None,
                      made_at: datetime | None = None) -> ForecastRun:
    """Forecast every SKU-site of `snapshot` and store the results (replacing that snapshot's earlier ones)."""
    started = time.perf_counter()
    assert snapshot.id is not None
    with engine.connect() as connection:
        series = read_series(connection, snapshot)
    progress(f"Read monthly demand of {len(series):,} SKU-sites over {len(series.months)} months "
             f"({sum(s == 'demand' for s in series.sources):,} from demand records, "
             f"{sum(s == 'issues' for s in series.sources):,} from issues).")
    results = backtest(series.values, series.start)
    progress(f"Classified and backtested {len(results):,} SKU-sites in {time.perf_counter() - started:.1f} s.")
    periods = months_after(last_complete_month(snapshot.as_of), HORIZON)
    made = made_at or datetime.now(UTC)
    with engine.begin() as connection:
        written = store(connection, snapshot.id, series.keys, series.sources,
                        [int(len(series.months) - s) for s in series.start.tolist()],
                        [int((row[s:] > 0).sum()) for row, s in zip(series.values, series.start.tolist(), strict=True)],
                        results, periods, made)
    progress(f"Stored {written:,} forecasts for {periods[0]} to {periods[-1]}.")
    classes = summarise(results)
    return ForecastRun(snapshot.id, snapshot.as_of.isoformat(), len(results), len(series.months), classes,
                       intermittent_summary(classes), time.perf_counter() - started)


def store(connection: Connection, snapshot_id: int, keys: list[tuple[str, str]], sources: list[str],
          history: list[int], demand_months: list[int], results: list[SeriesForecast], periods: list[str],
          made_at: datetime) -> int:
    """Replace the snapshot's forecasts with these, in the caller's transaction; the rows written."""
    connection.execute(delete(table(ForecastMonth)).where(table(ForecastMonth).c.snapshot_id == snapshot_id))
    connection.execute(delete(table(SkuSiteForecast)).where(table(SkuSiteForecast).c.snapshot_id == snapshot_id))
    forecasts = BulkWriter(connection, table(SkuSiteForecast), FORECAST_COLUMNS)
    months = BulkWriter(connection, table(ForecastMonth), MONTH_COLUMNS)
    processor = table(SkuSiteForecast).c.made_at.type.bind_processor(connection.dialect)
    made = made_at if connection.dialect.name == "postgresql" or processor is None else processor(made_at)
    for (sku, site), source, length, demanded, result in zip(keys, sources, history, demand_months, results,
                                                             strict=True):
        chosen, naive = result.chosen, result.naive
        forecasts.add((snapshot_id, sku, site, source, length, demanded, str(result.demand_class), result.adi,
                       result.cv2, result.method, quantity(result.forecast[0]), chosen.months, chosen.actual,
                       chosen.abs_error, chosen.error, chosen.wape, chosen.mase, chosen.bias, naive.abs_error,
                       naive.error, naive.wape, naive.mase, naive.bias, made))
        for period, qty in zip(periods, result.forecast, strict=True):
            months.add((snapshot_id, sku, site, period, quantity(qty)))
    forecasts.flush()
    months.flush()
    return forecasts.written


def stored_summary(connection: Connection, snapshot_id: int) -> dict[DemandClass, ClassSummary]:
    """Per class, the pooled backtest of a snapshot's stored forecasts (the same figures a run printed)."""
    f = table(SkuSiteForecast).c
    tested = f.backtest_months > 0
    rows = connection.execute(
        select(f.demand_class, func.count(), func.sum(case((tested, 1), else_=0)), func.sum(f.actual),
               func.sum(f.abs_error), func.sum(f.naive_abs_error), func.sum(f.error),
               func.sum(case((tested & (f.abs_error < f.naive_abs_error), 1), else_=0)))
        .where(f.snapshot_id == snapshot_id).group_by(f.demand_class))
    out = {cls: ClassSummary(cls) for cls in CLASS_ORDER}
    for cls, count, backtested, actual, abs_error, naive_abs_error, error, beats in rows:
        out[DemandClass(cls)] = ClassSummary(DemandClass(cls), int(count), int(backtested or 0), float(actual or 0),
                                             float(abs_error or 0), float(naive_abs_error or 0), float(error or 0),
                                             int(beats or 0))
    return out
