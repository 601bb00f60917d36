"""Monthly demand forecasting methods, vectorised over many SKU-sites at once, in numpy.

Written here rather than imported from statsforecast (Nixtla), whose 2.x install adds about 560 MiB
(pandas, scipy, statsmodels, pyarrow...) for a handful of loops: Croston classic and SBA, TSB and ADIDA
follow statsforecast's code step for step (its `_ses_lib` C++ loops, the same initialisation, the same
golden-section search, the same float operations in the same order), and tests/test_forecast_parity.py
holds them equal to statsforecast's output on 500 generated series to 1e-9. Simple exponential smoothing
uses statsforecast's `SimpleExponentialSmoothingOptimized` convention (alpha by golden section in
[0.01, 0.99]); Holt's linear trend is our own (a small grid of alpha and beta picked by in-sample one-step
error, trend starting at 0, forecasts never below zero), since statsforecast's Holt is a full ETS fit.

A panel is a matrix `values` (series x months, oldest first, all ending at the same month) and `start`,
the first month of each series: columns before it are not the series' history (a series begins with its
first demand; statsforecast counts every element of the array it is given, leading zeros included, in its
first demand interval). Every method answers `method(values, start, origin, horizon)`: the forecast for
months origin .. origin + horizon - 1 made from columns start .. origin - 1, NaN for a series that has no
such history (or not enough for the method), so one call serves a backtest origin and the final forecast.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]
Index = NDArray[np.int64]
Method = Callable[[Array, Index, int, int], Array]

GOLDEN_RATIO = (math.sqrt(5.0) + 1.0) / 2.0
CROSTON_ALPHA = 0.1
"""statsforecast's Croston classic smooths sizes and intervals with alpha 0.1."""
SBA_FACTOR = 0.95
"""Syntetos-Boylan approximation: Croston times (1 - alpha / 2) with alpha 0.1, as statsforecast has it."""
TSB_ALPHA_DEMAND = 0.1
TSB_ALPHA_PROBABILITY = 0.1
"""statsforecast's TSB has no default; 0.1 for both, like Croston's, so the two differ only in the method."""
SES_BOUNDS = (0.01, 0.99)
"""statsforecast's SimpleExponentialSmoothingOptimized searches alpha in this interval."""
ADIDA_BOUNDS = (0.1, 0.3)
"""statsforecast's ADIDA smooths the aggregated sums with alpha searched in this interval."""
HOLT_ALPHAS = (0.1, 0.2, 0.3, 0.5)
HOLT_BETAS = (0.05, 0.1, 0.2)
SEASON = 12


def _nan(rows: int, horizon: int) -> Array:
    return np.full((rows, horizon), np.nan)


def _flat(level: Array, horizon: int) -> Array:
    return np.repeat(level[:, None], horizon, axis=1)


class _Smoother:
    """Simple exponential smoothing of a subsequence, one observation per call, with statsforecast's
    `ses_forecast` arithmetic: the first fitted value is the first observation, each next fitted value
    alpha * previous observation + (1 - alpha) * previous fitted value, and the forecast the same step once
    more (a single observation is its own forecast)."""

    def __init__(self, rows: int, alpha: Array | float):
        self.alpha = np.broadcast_to(np.asarray(alpha, dtype=np.float64), (rows,))
        self.complement = 1.0 - self.alpha
        self.count = np.zeros(rows, dtype=np.int64)
        self.fitted = np.zeros(rows)
        self.last = np.zeros(rows)

    def add(self, seen: NDArray[np.bool_], value: Array) -> None:
        later = seen & (self.count > 0)
        self.fitted = np.where(later, self.alpha * self.last + self.complement * self.fitted, self.fitted)
        self.fitted = np.where(seen & (self.count == 0), value, self.fitted)
        self.last = np.where(seen, value, self.last)
        self.count += seen

    def forecast(self) -> Array:
        """The next value; NaN where nothing was observed."""
        stepped = self.alpha * self.last + self.complement * self.fitted
        return np.where(self.count == 0, np.nan, np.where(self.count == 1, self.last, stepped))


def _history(values: Array, start: Index, origin: int) -> tuple[Array, NDArray[np.bool_]]:
    """The columns before `origin` and which of them belong to each series."""
    seen = values[:, :origin]
    return seen, np.arange(origin)[None, :] >= start[:, None]


def naive(values: Array, start: Index, origin: int, horizon: int) -> Array:
    """The last month's demand, for every month ahead: the benchmark every method must beat."""
    out = _flat(values[:, origin - 1], horizon) if origin > 0 else _nan(len(values), horizon)
    out[start >= origin] = np.nan
    return out


def seasonal_naive(values: Array, start: Index, origin: int, horizon: int) -> Array:
    """The same month a year earlier (season 12); only for series with a full year of history."""
    out = _nan(len(values), horizon)
    if origin < SEASON:
        return out
    season = values[:, origin - SEASON:origin]
    out[:] = season[:, [h % SEASON for h in range(horizon)]]
    out[origin - start < SEASON] = np.nan
    return out


def _croston_level(values: Array, start: Index, origin: int) -> Array:
    """statsforecast's `_croston_classic`: smoothed demand size over smoothed interval between demands
    (the first interval counted from the series' start), both with alpha 0.1; a series without demand
    gets its last value (statsforecast falls back to the naive forecast)."""
    seen, mine = _history(values, start, origin)
    rows = len(values)
    sizes, intervals = _Smoother(rows, CROSTON_ALPHA), _Smoother(rows, CROSTON_ALPHA)
    previous = start - 1
    for i in range(origin):
        demand = mine[:, i] & (seen[:, i] > 0)
        sizes.add(demand, seen[:, i])
        intervals.add(demand, (i - previous).astype(np.float64))
        previous = np.where(demand, i, previous)
    size, interval = sizes.forecast(), intervals.forecast()
    with np.errstate(divide="ignore", invalid="ignore"):
        level = np.where(interval != 0.0, size / interval, size)
    last = seen[:, origin - 1] if origin > 0 else np.full(rows, np.nan)
    level = np.where(sizes.count == 0, last, level)
    level[start >= origin] = np.nan
    return level


def croston(values: Array, start: Index, origin: int, horizon: int) -> Array:
    """Croston's method (classic): flat forecast of size / interval."""
    return _flat(_croston_level(values, start, origin), horizon)


def croston_sba(values: Array, start: Index, origin: int, horizon: int) -> Array:
    """Syntetos-Boylan approximation: Croston's forecast times 0.95, which removes its upward bias."""
    return _flat(_croston_level(values, start, origin) * SBA_FACTOR, horizon)


def tsb(values: Array, start: Index, origin: int, horizon: int) -> Array:
    """Teunter-Syntetos-Babai (statsforecast's `_tsb`): smoothed probability of a demand in a month (over
    every month, so it decays while nothing is asked: obsolescence shows) times smoothed demand size."""
    seen, mine = _history(values, start, origin)
    rows = len(values)
    sizes, probability = _Smoother(rows, TSB_ALPHA_DEMAND), _Smoother(rows, TSB_ALPHA_PROBABILITY)
    for i in range(origin):
        sizes.add(mine[:, i] & (seen[:, i] > 0), seen[:, i])
        probability.add(mine[:, i], (seen[:, i] != 0).astype(np.float64))
    level = np.where(sizes.count == 0, 0.0, probability.forecast() * sizes.forecast())
    level[start >= origin] = np.nan
    return _flat(level, horizon)


def _ses_sse(x: Array, length: Index, alpha: Array) -> Array:
    """statsforecast's `ses_sse`: in-sample one-step squared error of SES, per row of `x`, whose rows hold
    their series from column 0 on and come longest first (`length` descending): column i then concerns a
    leading block of rows only, so short series cost nothing past their end."""
    complement = 1.0 - alpha
    forecast = x[:, 0].copy()
    sse = np.zeros(len(x))
    upto = np.searchsorted(-length, -np.arange(x.shape[1]), side="left")
    for i in range(1, x.shape[1]):
        n = int(upto[i])
        if n == 0:
            break
        forecast[:n] = alpha[:n] * x[:n, i - 1] + complement[:n] * forecast[:n]
        err = x[:n, i] - forecast[:n]
        sse[:n] += err * err
    return sse


def _golden_alpha(x: Array, start: Index, lower: float, upper: float) -> Array:
    """statsforecast's `golden_section_ses`, row by row in lockstep: each row narrows its own bracket
    until it is under 1e-12 wide (or both probes tie), and gets the bracket's middle."""
    rows, width = x.shape
    length = width - start
    order = np.argsort(-length, kind="stable")
    columns = np.minimum(start[order][:, None] + np.arange(width)[None, :], width - 1)
    aligned, length = x[order[:, None], columns], length[order]
    a, b = np.full(rows, lower), np.full(rows, upper)
    c = b - (b - a) / GOLDEN_RATIO
    d = a + (b - a) / GOLDEN_RATIO
    fc, fd = _ses_sse(aligned, length, c), _ses_sse(aligned, length, d)
    active = np.ones(rows, dtype=bool)
    while True:
        active &= np.abs(b - a) >= 1e-12
        left, right = active & (fc < fd), active & (fd < fc)
        active = left | right
        if not active.any():
            alpha = np.empty(rows)
            alpha[order] = (b + a) / 2.0
            return alpha
        b, a = np.where(left, d, b), np.where(right, c, a)
        d, c = np.where(left, c, d), np.where(right, d, c)
        fd, fc = np.where(left, fc, fd), np.where(right, fd, fc)
        probe = np.where(left, b - (b - a) / GOLDEN_RATIO, a + (b - a) / GOLDEN_RATIO)
        if active.all():
            f_probe = _ses_sse(aligned, length, probe)
        else:
            rows_on = np.flatnonzero(active)
            f_probe = np.zeros(rows)
            f_probe[rows_on] = _ses_sse(aligned[rows_on], length[rows_on], probe[rows_on])
        c, fc = np.where(left, probe, c), np.where(left, f_probe, fc)
        d, fd = np.where(right, probe, d), np.where(right, f_probe, fd)


def _ses_forecast(x: Array, start: Index, alpha: Array) -> Array:
    smoother = _Smoother(len(x), alpha)
    for i in range(x.shape[1]):
        smoother.add(i >= start, x[:, i])
    return smoother.forecast()


def ses(values: Array, start: Index, origin: int, horizon: int) -> Array:
    """Simple exponential smoothing, alpha by golden section in [0.01, 0.99] on the in-sample one-step
    squared error (statsforecast's SimpleExponentialSmoothingOptimized)."""
    out = _nan(len(values), horizon)
    rows = np.flatnonzero(start < origin)
    if rows.size:
        x, first = values[rows, :origin], start[rows]
        alpha = _golden_alpha(x, first, *SES_BOUNDS)
        out[rows] = _flat(_ses_forecast(x, first, alpha), horizon)
    return out


def adida(values: Array, start: Index, origin: int, horizon: int) -> Array:
    """Aggregate-disaggregate intermittent demand approach (statsforecast's `_adida`): sum the history in
    buckets of the mean demand interval (rounded half to even, the newest bucket ending at the origin,
    the oldest incomplete one dropped), forecast the sums by SES (alpha by golden section in [0.1, 0.3]),
    and share the forecast equally over the bucket's months."""
    rows = len(values)
    level = np.full(rows, np.nan)
    seen, mine = _history(values, start, origin)
    has = start < origin
    demand = mine & (seen != 0)
    count = demand.sum(axis=1)
    level[has & (count == 0)] = 0.0
    last = np.where(demand, np.arange(origin)[None, :], -1).max(axis=1, initial=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_interval = (last - start + 1).astype(np.float64) / count
    bucket = np.where(count > 0, np.rint(mean_interval), 1).astype(np.int64)
    length = origin - start
    chunks = np.where(has, length // bucket, 0)
    todo = has & (count > 0)
    short = todo & (chunks == 0)
    level[short] = seen[short, origin - 1] / bucket[short]
    # The sums of every series, right-aligned in one matrix (each row starting where its own sums do), so
    # that one golden-section search serves them all; the sums add months in order, as statsforecast does.
    summed = np.flatnonzero(todo & (chunks > 0))
    if summed.size:
        widest = int(chunks[summed].max())
        sums = np.zeros((summed.size, widest))
        for size in np.unique(bucket[summed]).tolist():
            at = np.flatnonzero(bucket[summed] == size)
            n_chunks = chunks[summed[at]]
            for back in range(1, int(n_chunks.max()) + 1):
                has_chunk = at[n_chunks >= back]
                base = origin - back * size
                total = np.zeros(has_chunk.size)
                for j in range(size):
                    total = total + seen[summed[has_chunk], base + j]
                sums[has_chunk, widest - back] = total
        first = (widest - chunks[summed]).astype(np.int64)
        alpha = _golden_alpha(sums, first, *ADIDA_BOUNDS)
        level[summed] = _ses_forecast(sums, first, alpha) / bucket[summed]
    return _flat(level, horizon)


def holt(values: Array, start: Index, origin: int, horizon: int) -> Array:
    """Holt's linear trend: level and trend smoothed with the (alpha, beta) of a small grid that has the
    least in-sample one-step squared error; the trend starts at 0, so two months do not set a slope.
    Needs three months of history; forecasts are never below zero (demand is not negative)."""
    rows = len(values)
    out = _nan(rows, horizon)
    picked = np.flatnonzero(origin - start >= 3)
    if not picked.size:
        return out
    x, first = values[picked, :origin], start[picked]
    grid = [(a, b) for a in HOLT_ALPHAS for b in HOLT_BETAS]
    alpha = np.array([a for a, _ in grid])[None, :]
    beta = np.array([b for _, b in grid])[None, :]
    level = np.repeat(x[np.arange(len(x)), first][:, None], len(grid), axis=1)
    trend = np.zeros_like(level)
    sse = np.zeros_like(level)
    for i in range(origin):
        later = (i > first)[:, None]
        y = x[:, i][:, None]
        err = y - (level + trend)
        new_level = alpha * y + (1 - alpha) * (level + trend)
        new_trend = beta * (new_level - level) + (1 - beta) * trend
        sse = np.where(later, sse + err * err, sse)
        level, trend = np.where(later, new_level, level), np.where(later, new_trend, trend)
    best = np.argmin(sse, axis=1)
    take = np.arange(len(x))
    steps = np.arange(1, horizon + 1)[None, :]
    out[picked] = np.maximum(0.0, level[take, best][:, None] + steps * trend[take, best][:, None])
    return out


METHODS: dict[str, Method] = {
    "naive": naive, "seasonal_naive": seasonal_naive, "croston": croston, "croston_sba": croston_sba,
    "tsb": tsb, "adida": adida, "ses": ses, "holt": holt,
}
"""Every method by the name stored with a forecast."""
