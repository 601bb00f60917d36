"""Syntetos-Boylan-Croston classes on hand-made series: one in each quadrant, and on either side of each cut-off."""

from __future__ import annotations

import numpy as np
import pytest

from inventory.demand_classes import DemandClass, classify


def classes_of(series: list[float], start: int = 0) -> tuple[DemandClass, float, float]:
    result = classify(np.array([series]), np.array([start], dtype=np.int64))
    return result.classes[0], float(result.adi[0]), float(result.cv2[0])


@pytest.mark.parametrize(("series", "expected", "adi", "cv2"), [
    ([5, 5, 5, 5], DemandClass.SMOOTH, 1.0, 0.0),  # every month, always 5
    ([1, 9, 1, 9], DemandClass.ERRATIC, 1.0, 0.64),  # mean 5, variance 16: 16 / 25
    ([5, 0, 5, 0], DemandClass.INTERMITTENT, 2.0, 0.0),  # 4 months / 2 demands
    ([1, 0, 9, 0], DemandClass.LUMPY, 2.0, 0.64),
])
def test_each_quadrant(series: list[float], expected: DemandClass, adi: float, cv2: float) -> None:
    assert classes_of([float(v) for v in series]) == (expected, pytest.approx(adi), pytest.approx(cv2))


def test_on_the_cut_offs_counts_as_below() -> None:
    # ADI exactly 1.32: 25 demands in 33 months; one demand fewer (24 in 33, 1.375) is intermittent
    exactly = [5.0] * 25 + [0.0] * 8
    assert classes_of(exactly)[:2] == (DemandClass.SMOOTH, 1.32)
    assert classes_of([5.0] * 24 + [0.0] * 9)[0] == DemandClass.INTERMITTENT
    # CV² exactly 0.49: sizes 3 and 17 (mean 10, variance 49, 49 / 100); 2.9 and 17.1 (50.41 / 100) is above
    assert classes_of([3.0, 17.0]) == (DemandClass.SMOOTH, 1.0, 0.49)
    assert classes_of([2.9, 17.1])[0] == DemandClass.ERRATIC
    assert classes_of([3.0, 0.0, 17.0])[0] == DemandClass.INTERMITTENT
    assert classes_of([2.9, 0.0, 17.1])[0] == DemandClass.LUMPY


def test_the_history_starts_at_the_series_start_and_keeps_trailing_zeros() -> None:
    assert classes_of([0.0, 0.0, 5.0, 5.0], start=2)[0] == DemandClass.SMOOTH
    assert classes_of([0.0, 0.0, 5.0, 5.0], start=0)[0] == DemandClass.INTERMITTENT
    # demand that stopped: 3 demands in 12 months
    assert classes_of([4.0, 4.0, 4.0] + [0.0] * 9)[:2] == (DemandClass.INTERMITTENT, 4.0)


def test_no_demand() -> None:
    assert classes_of([0.0, 0.0])[0] == DemandClass.NO_DEMAND
