"""Each forecasting method on short series whose answers are worked out by hand (the comments show how)."""

from __future__ import annotations

import numpy as np
import pytest

from inventory import forecast_methods as fm


def one(series: list[float], method: fm.Method, horizon: int = 1, lead: int = 0) -> list[float]:
    """The method's forecast from the whole series, placed after `lead` months that are not its history."""
    values = np.array([[0.0] * lead + series])
    start = np.array([lead], dtype=np.int64)
    return [float(v) for v in method(values, start, values.shape[1], horizon)[0]]


INTERMITTENT = [0.0, 3.0, 0.0, 0.0, 6.0]


def test_croston_classic_and_sba() -> None:
    # demand sizes 3, 6: SES with alpha 0.1 starts at 3, forecast 0.1*6 + 0.9*3 = 3.3
    # intervals: demand in months 1 and 4, the first interval counted from the start (1 + 1 = 2), then 4 - 1 = 3:
    # 0.1*3 + 0.9*2 = 2.1
    assert one(INTERMITTENT, fm.croston) == pytest.approx([3.3 / 2.1])
    assert one(INTERMITTENT, fm.croston_sba, horizon=3) == pytest.approx([0.95 * 3.3 / 2.1] * 3)


def test_tsb() -> None:
    # probability of demand, SES alpha 0.1 over 0 1 0 0 1: fitted 0, 0, 0.1, 0.09, 0.081; next 0.1 + 0.9*0.081 = 0.1729
    # sizes as Croston: 3.3; forecast 0.1729 * 3.3 = 0.57057
    assert one(INTERMITTENT, fm.tsb) == pytest.approx([0.57057])


def test_adida() -> None:
    # mean interval (2 + 3) / 2 = 2.5, rounded half to even: buckets of 2 months, the oldest (month 0) dropped:
    # sums 3+0 = 3 and 0+6 = 6; SES on two sums has the same error (3) at every alpha, so the golden section
    # stops at once with alpha (0.1 + 0.3) / 2 = 0.2: 0.2*6 + 0.8*3 = 3.6 per bucket, 1.8 a month
    assert one(INTERMITTENT, fm.adida, horizon=2) == pytest.approx([1.8, 1.8])


def test_months_before_the_start_are_not_history() -> None:
    # the same series after three months that are not its own gives the same forecasts
    for method in (fm.croston, fm.croston_sba, fm.tsb, fm.adida, fm.ses, fm.holt, fm.naive):
        assert one(INTERMITTENT, method, lead=3) == pytest.approx(one(INTERMITTENT, method))


def test_no_demand_forecasts_zero() -> None:
    for method in (fm.croston, fm.croston_sba, fm.tsb, fm.adida, fm.ses, fm.naive):
        assert one([0.0, 0.0, 0.0], method) == [0.0]


def test_simple_exponential_smoothing() -> None:
    # a constant series has no error at any alpha: the search stops at 0.5 and the forecast is the constant
    assert one([4.0, 4.0, 4.0], fm.ses) == pytest.approx([4.0])
    # two months: the one error (4 - 2) is the same at any alpha, so alpha 0.5: 0.5*4 + 0.5*2 = 3
    assert one([2.0, 4.0], fm.ses) == pytest.approx([3.0])
    # a single month is its own forecast
    assert one([7.0], fm.ses) == [7.0]


def test_holt() -> None:
    # 0 0 9: every (alpha, beta) has the same error (9), so the first, (0.1, 0.05), is taken:
    # level 0.1*9 + 0.9*0 = 0.9, trend 0.05*(0.9 - 0) + 0.95*0 = 0.045: 0.945, 0.99, 1.035
    assert one([0.0, 0.0, 9.0], fm.holt, horizon=3) == pytest.approx([0.945, 0.99, 1.035])
    # a constant series keeps its level and no trend
    assert one([5.0] * 6, fm.holt, horizon=2) == pytest.approx([5.0, 5.0])
    # a falling series is never forecast below zero
    assert min(one([60.0, 50.0, 40.0, 30.0, 20.0, 10.0], fm.holt, horizon=12)) == 0.0
    # fewer than three months: no Holt
    assert np.isnan(one([1.0, 2.0], fm.holt)).all()


def test_naive_and_seasonal_naive() -> None:
    assert one(INTERMITTENT, fm.naive, horizon=2) == [6.0, 6.0]
    # months 1..13: a year before the next three months are months 2, 3, 4
    assert one([float(m) for m in range(1, 14)], fm.seasonal_naive, horizon=3) == [2.0, 3.0, 4.0]
    # exactly a year of history: 1, 2; and past a year ahead the season repeats
    assert one([float(m) for m in range(1, 13)], fm.seasonal_naive, horizon=14)[-2:] == [1.0, 2.0]
    # less than a year: none, even when the panel is wider than the series
    assert np.isnan(one([float(m) for m in range(1, 12)], fm.seasonal_naive, lead=5)).all()


def test_an_origin_uses_only_the_months_before_it() -> None:
    values = np.array([INTERMITTENT + [100.0]])
    start = np.zeros(1, dtype=np.int64)
    for method in (fm.croston, fm.tsb, fm.adida, fm.ses, fm.naive):
        assert method(values, start, 5, 1)[0, 0] == pytest.approx(one(INTERMITTENT, method)[0])
    # no month before the origin: no forecast
    assert np.isnan(fm.croston(values, np.array([5], dtype=np.int64), 5, 1)).all()
