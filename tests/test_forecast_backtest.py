"""The rolling-origin backtest on a hand case: each origin's forecasts, WAPE, MASE, bias, the pick and the
summary against the naive forecast."""

from __future__ import annotations

import numpy as np
import pytest

from inventory.demand_classes import DemandClass
from inventory.forecast_backtest import (
    CANDIDATES,
    Accuracy,
    ClassSummary,
    SeriesForecast,
    backtest,
    intermittent_summary,
    summarise,
)

SERIES = [3.0, 0.0, 0.0, 6.0, 0.0, 3.0]
"""Demand in months 0, 3 and 5: ADI 6 / 3 = 2, sizes 3 6 3 (mean 4, variance 2, CV² 0.125): intermittent."""
HAND = {**CANDIDATES, DemandClass.INTERMITTENT: ("croston_sba", "tsb")}
"""Two candidates whose arithmetic fits in a comment."""


def run(series: list[float], months: int = 2, candidates: dict[DemandClass, tuple[str, ...]] = HAND) -> SeriesForecast:
    return backtest(np.array([series]), np.zeros(1, dtype=np.int64), months=months, horizon=3,
                    candidates=candidates)[0]


def test_hand_case() -> None:
    result = run(SERIES)
    assert (result.demand_class, result.adi, result.cv2) == (DemandClass.INTERMITTENT, 2.0, pytest.approx(0.125))
    # origins month 4 (actual 0) and month 5 (actual 3), each forecast from the months before it.
    # SBA at 4 from 3 0 0 6: sizes 3, 6 -> 0.1*6 + 0.9*3 = 3.3; intervals 1, 3 -> 0.1*3 + 0.9*1 = 1.2;
    #   0.95 * 3.3 / 1.2 = 2.6125; at 5 nothing new: 2.6125. Errors 2.6125 and -0.3875: |e| 3.0, sum e 2.225
    # TSB at 4: probability 1 0 0 1 -> 1, 1, 0.9, 0.81, next 0.1 + 0.9*0.81 = 0.829; * 3.3 = 2.7357
    #   at 5: 0.9*0.829 = 0.7461; * 3.3 = 2.46213. |e| 2.7357 + 0.53787 = 3.27357: SBA wins
    # naive: 6 then 0: errors 6 and -3: |e| 9, sum e 3
    assert result.method == "croston_sba"
    # MASE scale: mean |change| over months 0..3 before the first origin: (3 + 0 + 6) / 3 = 3
    assert result.chosen == Accuracy(2, 3.0, pytest.approx(3.0), pytest.approx(2.225), pytest.approx(3.0))  # type: ignore[arg-type]
    assert result.chosen.wape == pytest.approx(3.0 / 3)
    assert result.chosen.bias == pytest.approx(2.225 / 3)
    assert result.chosen.mase == pytest.approx(3.0 / 2 / 3)
    assert (result.naive.wape, result.naive.bias, result.naive.mase) == pytest.approx((3.0, 1.0, 9 / 2 / 3))
    # the forecast from all six months: sizes 3 6 3 -> fitted 3, 3, 3.3, next 0.1*3 + 0.9*3.3 = 3.27;
    # intervals 1 3 2 -> 1, 1, 1.2, next 0.1*2 + 0.9*1.2 = 1.28; 0.95 * 3.27 / 1.28
    assert result.forecast == pytest.approx([0.95 * 3.27 / 1.28] * 3)


def test_a_method_that_cannot_forecast_every_origin_is_not_eligible() -> None:
    # seasonal naive needs a year of history; with only SERIES it is never picked, however the others do
    only_seasonal = {**CANDIDATES, DemandClass.INTERMITTENT: ("seasonal_naive",)}
    assert run(SERIES, candidates=only_seasonal).method == "naive"
    # with 14 months it is eligible at both origins (12 and 13)
    longer = [0.0, 5.0] * 7
    assert run(longer, candidates=only_seasonal).method == "seasonal_naive"


def test_zero_demand_in_the_window_has_no_ratios() -> None:
    result = run([4.0, 0.0, 4.0, 0.0, 0.0, 0.0])
    assert result.chosen.actual == 0.0 and result.chosen.abs_error > 0
    assert (result.chosen.wape, result.chosen.bias) == (None, None)
    assert result.chosen.mase is not None


def test_a_series_too_short_to_backtest_takes_its_class_first_candidate() -> None:
    result = run([5.0])
    assert (result.method, result.chosen.months, result.chosen.wape) == ("ses", 0, None)
    assert result.forecast == [5.0, 5.0, 5.0]


def test_summary_per_class_and_the_intermittent_verdict() -> None:
    def made(cls: DemandClass, actual: float, chosen: float, naive: float) -> SeriesForecast:
        return SeriesForecast(cls, 2.0, 0.1, "tsb", Accuracy(6, actual, chosen, chosen / 2, None),
                              Accuracy(6, actual, naive, 0.0, None), [0.0])

    results = [made(DemandClass.INTERMITTENT, 10, 4, 8), made(DemandClass.INTERMITTENT, 10, 9, 6),
               made(DemandClass.LUMPY, 20, 30, 20), made(DemandClass.SMOOTH, 50, 5, 10)]
    classes = summarise(results)
    intermittent = classes[DemandClass.INTERMITTENT]
    assert (intermittent.series, intermittent.beats_naive) == (2, 1)
    assert (intermittent.wape, intermittent.naive_wape) == pytest.approx((13 / 20, 14 / 20))
    assert intermittent.better_than_naive
    both = intermittent_summary(classes)
    # 4 + 9 + 30 = 43 against 8 + 6 + 20 = 34 over 40 of demand: the picks lose to naive
    assert (both.series, both.wape, both.naive_wape) == (3, pytest.approx(43 / 40), pytest.approx(34 / 40))
    assert not both.better_than_naive
    assert classes[DemandClass.ERRATIC] == ClassSummary(DemandClass.ERRATIC)
