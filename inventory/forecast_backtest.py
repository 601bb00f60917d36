"""Pick a forecasting method per SKU-site by a rolling-origin backtest, and forecast with it.

Each of the last 6 months is forecast one month ahead from the months before it (rolling origin), by
every candidate of the series' demand class and by the naive forecast. Per series and method:
WAPE = sum |forecast - actual| / sum actual, bias = sum (forecast - actual) / sum actual (as the
forecast-error KPI has them, reports/stock_kpis.py), and MASE = mean |forecast - actual| / the mean
absolute month-to-month change of the history before the first origin (Hyndman's scaling by the
in-sample naive forecast; 1 means as good as the naive forecast was there). The pick is the candidate with
the least absolute error over the window (the same order as WAPE, which shares its denominator, and
defined when the window's demand is zero), ties to the earlier candidate. A candidate that cannot forecast
every origin (seasonal naive without a year of history) is not eligible.

The pick is measured on the window it was picked on, so its accuracy flatters it somewhat against the
naive forecast (which is not a candidate); the summary says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from inventory.demand_classes import CLASS_ORDER, INTERMITTENT_CLASSES, Classified, DemandClass, classify
from inventory.forecast_methods import METHODS, Array, Index

BACKTEST_MONTHS = 6
HORIZON = 12
"""Months forecast ahead from the end of the history (the first is the month after the last complete one)."""
SMOOTH_CANDIDATES = ("ses", "holt", "seasonal_naive")
INTERMITTENT_CANDIDATES = ("croston_sba", "tsb", "adida", "seasonal_naive")
CANDIDATES: dict[DemandClass, tuple[str, ...]] = {
    DemandClass.SMOOTH: SMOOTH_CANDIDATES, DemandClass.ERRATIC: SMOOTH_CANDIDATES,
    DemandClass.INTERMITTENT: INTERMITTENT_CANDIDATES, DemandClass.LUMPY: INTERMITTENT_CANDIDATES,
    DemandClass.NO_DEMAND: ("naive",),
}
"""Per class, in order of preference on a tie (the first also serves a series too short to backtest)."""


@dataclass(frozen=True)
class Accuracy:
    """One method's backtest of one series: sums over its origins, and the ratios made of them."""

    months: int
    actual: float
    abs_error: float
    error: float
    scale: float | None
    """Mean absolute month-to-month change before the window; None if undefined or zero."""

    @property
    def wape(self) -> float | None:
        return self.abs_error / self.actual if self.months and self.actual > 0 else None

    @property
    def bias(self) -> float | None:
        return self.error / self.actual if self.months and self.actual > 0 else None

    @property
    def mase(self) -> float | None:
        return self.abs_error / self.months / self.scale if self.months and self.scale else None


@dataclass(frozen=True)
class SeriesForecast:
    """What the backtest decided for one series of the panel."""

    demand_class: DemandClass
    adi: float | None
    cv2: float | None
    method: str
    chosen: Accuracy
    naive: Accuracy
    forecast: list[float]
    """The chosen method's forecast for the HORIZON months after the history."""


@dataclass
class ClassSummary:
    """A demand class over the company: pooled sums, so WAPE weighs each series by its demand."""

    demand_class: DemandClass
    series: int = 0
    backtested: int = 0
    actual: float = 0.0
    chosen_abs_error: float = 0.0
    naive_abs_error: float = 0.0
    chosen_error: float = 0.0
    beats_naive: int = 0
    """Series whose pick had less absolute error than the naive forecast."""

    def add(self, result: SeriesForecast) -> None:
        self.series += 1
        if not result.chosen.months:
            return
        self.backtested += 1
        self.actual += result.chosen.actual
        self.chosen_abs_error += result.chosen.abs_error
        self.naive_abs_error += result.naive.abs_error
        self.chosen_error += result.chosen.error
        self.beats_naive += result.chosen.abs_error < result.naive.abs_error

    @property
    def wape(self) -> float | None:
        return self.chosen_abs_error / self.actual if self.actual > 0 else None

    @property
    def naive_wape(self) -> float | None:
        return self.naive_abs_error / self.actual if self.actual > 0 else None

    @property
    def bias(self) -> float | None:
        return self.chosen_error / self.actual if self.actual > 0 else None

    @property
    def better_than_naive(self) -> bool:
        return self.chosen_abs_error < self.naive_abs_error


def summarise(results: list[SeriesForecast]) -> dict[DemandClass, ClassSummary]:
    """Per class, every class listed (empty ones too); the intermittent verdict is `intermittent_summary`."""
    out = {cls: ClassSummary(cls) for cls in CLASS_ORDER}
    for result in results:
        out[result.demand_class].add(result)
    return out


def intermittent_summary(summaries: dict[DemandClass, ClassSummary]) -> ClassSummary:
    """Intermittent and lumpy series together (ADI above 1.32): where the pick must beat naive."""
    both = ClassSummary(DemandClass.INTERMITTENT)
    for cls in INTERMITTENT_CLASSES:
        part = summaries[cls]
        both.series += part.series
        both.backtested += part.backtested
        both.actual += part.actual
        both.chosen_abs_error += part.chosen_abs_error
        both.naive_abs_error += part.naive_abs_error
        both.chosen_error += part.chosen_error
        both.beats_naive += part.beats_naive
    return both


def _run(method: str, values: Array, start: Index, rows: NDArray[np.int64], origin: int, horizon: int) -> Array:
    return METHODS[method](values[rows], start[rows], origin, horizon)


def backtest(values: Array, start: Index, months: int = BACKTEST_MONTHS, horizon: int = HORIZON,
             classified: Classified | None = None,
             candidates: dict[DemandClass, tuple[str, ...]] = CANDIDATES) -> list[SeriesForecast]:
    """Classify, backtest, pick and forecast every series of a panel (inventory.forecast_methods); the
    candidates per class are CANDIDATES unless given."""
    n, width = values.shape
    classified = classified or classify(values, start)
    classes = classified.classes
    origins = list(range(max(1, width - months), width))
    in_window = np.array([[t > s for t in origins] for s in start.tolist()], dtype=bool).reshape(n, len(origins))
    actuals = values[:, origins] if origins else np.zeros((n, 0))
    count = in_window.sum(axis=1)
    actual = np.where(in_window, actuals, 0.0).sum(axis=1)
    first_origin = np.maximum(start + 1, width - months)
    scale = _naive_scale(values, start, first_origin)

    rows_of: dict[str, list[int]] = {"naive": list(range(n))}
    for row, cls in enumerate(classes):
        for method in candidates[cls]:
            if method != "naive":
                rows_of.setdefault(method, []).append(row)
    abs_error: dict[str, Array] = {}
    error: dict[str, Array] = {}
    for method, members in rows_of.items():
        rows = np.asarray(members, dtype=np.int64)
        absolute, signed = np.zeros(rows.size), np.zeros(rows.size)
        eligible = np.ones(rows.size, dtype=bool)
        for k, origin in enumerate(origins):
            forecast = _run(method, values, start, rows, origin, 1)[:, 0]
            inside = in_window[rows, k]
            eligible &= ~(inside & np.isnan(forecast))
            diff = np.where(inside, forecast - actuals[rows, k], 0.0)
            absolute += np.where(inside, np.abs(diff), 0.0)
            signed += np.where(inside, diff, 0.0)
        abs_error[method] = np.full(n, np.nan)
        error[method] = np.full(n, np.nan)
        abs_error[method][rows] = np.where(eligible, absolute, np.nan)
        error[method][rows] = np.where(eligible, signed, np.nan)

    picks: list[str] = []
    for row, cls in enumerate(classes):
        best, best_error = candidates[cls][0], np.inf
        if count[row]:
            best = "naive"
            for method in candidates[cls]:
                value = abs_error[method][row]
                if not np.isnan(value) and value < best_error:
                    best, best_error = method, value
        picks.append(best)

    forecasts = np.zeros((n, horizon))
    for method in set(picks):
        rows = np.asarray([row for row, pick in enumerate(picks) if pick == method], dtype=np.int64)
        forecasts[rows] = _run(method, values, start, rows, width, horizon)
    forecasts = np.nan_to_num(forecasts, nan=0.0)

    def accuracy(method: str, row: int) -> Accuracy:
        if not count[row]:
            return Accuracy(0, 0.0, 0.0, 0.0, None)
        return Accuracy(int(count[row]), float(actual[row]), float(abs_error[method][row]),
                        float(error[method][row]), None if np.isnan(scale[row]) else float(scale[row]))

    def number(value: float) -> float | None:
        return None if np.isnan(value) else float(value)

    return [SeriesForecast(classes[row], number(classified.adi[row]), number(classified.cv2[row]), picks[row],
                           accuracy(picks[row], row), accuracy("naive", row), forecasts[row].tolist())
            for row in range(n)]


def _naive_scale(values: Array, start: Index, end: Index) -> Array:
    """Mean |y[i] - y[i-1]| over start < i < end per series; NaN where there is no such pair or it is 0."""
    change = np.abs(np.diff(values, axis=1))
    months = np.arange(1, values.shape[1])[None, :]
    inside = (months > start[:, None]) & (months < end[:, None])
    pairs = inside.sum(axis=1)
    total = np.where(inside, change, 0.0).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = total / pairs
    return np.where((pairs > 0) & (scale > 0), scale, np.nan)
