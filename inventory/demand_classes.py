"""Demand classes of Syntetos, Boylan and Croston (2005): which forecasting methods suit a series.

ADI (average demand interval) = months from the series' first demand to its last month / months with
demand; CV² = variance / mean² of the non-zero monthly demands (population variance, so one demand has
CV² 0). Above the ADI cut-off 1.32 demand is intermittent (with CV² above 0.49: lumpy), below it smooth
(with CV² above 0.49: erratic). A value on a cut-off counts as below it. A series without any demand is
its own class: there is nothing to classify and its forecast is zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

ADI_CUT = 1.32
CV2_CUT = 0.49


class DemandClass(StrEnum):
    SMOOTH = "smooth"
    ERRATIC = "erratic"
    INTERMITTENT = "intermittent"
    LUMPY = "lumpy"
    NO_DEMAND = "no_demand"


CLASS_ORDER = (DemandClass.SMOOTH, DemandClass.ERRATIC, DemandClass.INTERMITTENT, DemandClass.LUMPY,
               DemandClass.NO_DEMAND)
INTERMITTENT_CLASSES = (DemandClass.INTERMITTENT, DemandClass.LUMPY)
"""ADI above the cut-off: the series the Croston family is for, and where the winner must beat naive."""


@dataclass(frozen=True)
class Classified:
    """Per series of a panel: its class, ADI and CV² (NaN where there is no demand)."""

    classes: list[DemandClass]
    adi: NDArray[np.float64]
    cv2: NDArray[np.float64]


def classify(values: NDArray[np.float64], start: NDArray[np.int64]) -> Classified:
    """Classify every series of a panel (see inventory.forecast_methods) over its whole history."""
    months = np.arange(values.shape[1])[None, :]
    mine = months >= start[:, None]
    demand = mine & (values > 0)
    count = demand.sum(axis=1)
    length = mine.sum(axis=1)
    total = np.where(demand, values, 0.0).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        adi = np.where(count > 0, length / count, np.nan)
        mean = total / count
        variance = np.where(demand, (values - mean[:, None]) ** 2, 0.0).sum(axis=1) / count
        cv2 = np.where(count > 0, variance / mean**2, np.nan)
    classes = [
        DemandClass.NO_DEMAND if n == 0
        else (DemandClass.LUMPY if v > CV2_CUT else DemandClass.INTERMITTENT) if a > ADI_CUT
        else (DemandClass.ERRATIC if v > CV2_CUT else DemandClass.SMOOTH)
        for n, a, v in zip(count.tolist(), adi.tolist(), cv2.tolist(), strict=True)
    ]
    return Classified(classes, adi, cv2)
