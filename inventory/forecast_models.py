"""The forecast tables: per SKU-site and snapshot the picked method, its backtest and the naive's, and the
months it forecasts.

Keyed by snapshot like every inventory table, so a forecast can be recomputed and compared as of the day
it was made. The backtest's sums are stored beside the ratios so that pooled figures (WAPE of a class, a
site, the company) add up from rows instead of averaging ratios.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlmodel import Field, SQLModel

from inventory.models import QTY_DIGITS, QTY_PLACES


class SkuSiteForecast(SQLModel, table=True):
    """The forecast of one SKU-site as of one snapshot and how well its method did in the backtest."""

    __tablename__ = "sku_site_forecast"

    snapshot_id: int = Field(foreign_key="snapshot.id", primary_key=True)
    sku: str = Field(primary_key=True, max_length=80)
    site: str = Field(primary_key=True, max_length=40)
    source: str = Field(max_length=10)
    """Where the history came from: demand (kind actual) or issues (movements)."""
    history_months: int
    demand_months: int
    demand_class: str = Field(max_length=20)
    adi: float | None = None
    cv2: float | None = None
    method: str = Field(max_length=20)
    monthly_demand: Decimal = Field(max_digits=QTY_DIGITS, decimal_places=QTY_PLACES)
    """The forecast for the first month after the history (the snapshot's month unless it is its last day)."""
    backtest_months: int
    actual: float
    """Demand over the backtest's months."""
    abs_error: float
    error: float
    wape: float | None = None
    mase: float | None = None
    bias: float | None = None
    naive_abs_error: float
    naive_error: float
    naive_wape: float | None = None
    naive_mase: float | None = None
    naive_bias: float | None = None
    made_at: datetime


class ForecastMonth(SQLModel, table=True):
    """The picked method's forecast of one SKU-site for one month ahead of the snapshot."""

    __tablename__ = "forecast_month"

    snapshot_id: int = Field(foreign_key="snapshot.id", primary_key=True)
    sku: str = Field(primary_key=True, max_length=80)
    site: str = Field(primary_key=True, max_length=40)
    period: str = Field(primary_key=True, max_length=7)
    qty: Decimal = Field(max_digits=QTY_DIGITS, decimal_places=QTY_PLACES)
