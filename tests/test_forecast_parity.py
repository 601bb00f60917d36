"""Our Croston classic and SBA, TSB, ADIDA (and SES) equal statsforecast's on 500 generated series to 1e-9.

statsforecast is installed by the test extra only; the product carries inventory/forecast_methods.py.
The series are of every length from 1 to 48 months, from nearly always to rarely with demand, all-zero
ones included, with integer and fractional sizes, and sit right-aligned in one panel (each with its own
start), so our handling of starts is tested too; every backtest origin of the longer ones is compared
as well (our one call per origin against statsforecast fitted on the prefix).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from statsforecast.models import ADIDA, TSB, CrostonClassic, CrostonSBA, SimpleExponentialSmoothingOptimized

from inventory import forecast_methods as fm

SERIES = 500


def _series() -> list[np.ndarray]:
    rng = np.random.default_rng(20261204)
    out = []
    for k in range(SERIES):
        length = 1 + k % 48
        chance = rng.choice([0.0, 0.08, 0.25, 0.5, 0.8, 1.0]) if k % 25 else 0.0
        sizes = np.round(rng.gamma(rng.choice([0.7, 2.0, 9.0]), 6.0, length), int(rng.integers(0, 3)))
        out.append(np.where(rng.random(length) < chance, sizes, 0.0).astype(np.float64))
    return out


def _panel(series: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    width = max(len(y) for y in series)
    values = np.zeros((len(series), width))
    start = np.zeros(len(series), dtype=np.int64)
    for i, y in enumerate(series):
        values[i, width - len(y):] = y
        start[i] = width - len(y)
    return values, start


MODELS = [
    ("croston", CrostonClassic, fm.croston),
    ("croston_sba", CrostonSBA, fm.croston_sba),
    ("tsb", lambda: TSB(alpha_d=fm.TSB_ALPHA_DEMAND, alpha_p=fm.TSB_ALPHA_PROBABILITY), fm.tsb),
    ("adida", ADIDA, fm.adida),
    ("ses", SimpleExponentialSmoothingOptimized, fm.ses),
]


@pytest.mark.parametrize(("name", "model", "ours"), MODELS, ids=[m[0] for m in MODELS])
def test_equal_to_statsforecast_on_500_series(name: str, model: object, ours: fm.Method) -> None:
    series = _series()
    values, start = _panel(series)
    width = values.shape[1]
    theirs = np.array([model().forecast(y=y, h=3)["mean"] for y in series])  # type: ignore[operator]
    mine = ours(values, start, width, 3)
    assert theirs.shape == mine.shape == (SERIES, 3)
    assert not np.isnan(mine).any()
    np.testing.assert_allclose(mine, theirs, rtol=0, atol=1e-9)
    assert (mine > 0).any() and (mine == 0).any(), "the series must include both demand and none at all"


@pytest.mark.parametrize(("name", "model", "ours"), MODELS, ids=[m[0] for m in MODELS])
def test_equal_to_statsforecast_at_each_backtest_origin(name: str, model: object, ours: fm.Method) -> None:
    series = [y for y in _series() if len(y) >= 30][:100]
    values, start = _panel(series)
    width = values.shape[1]
    for origin in range(width - 6, width):
        expected = []
        for y, first in zip(values, start.tolist(), strict=True):
            prefix = y[first:origin]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                expected.append(model().forecast(y=prefix, h=1)["mean"][0] if prefix.size else np.nan)  # type: ignore[operator]
        np.testing.assert_allclose(ours(values, start, origin, 1)[:, 0], np.array(expected), rtol=0, atol=1e-9)
