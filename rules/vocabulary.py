"""The words a policy may use: metrics with their units and levels, operators, dispositions, scope keys.

Metric names are the fact names of inventory.metrics, so a policy speaks the same language as
`stockwarden facts`. A lot rule sees its lot's facts and the facts of the lot's SKU-site (the lot's own
win where both have a name); a SKU rule sees the SKU-site's facts only.
"""

from __future__ import annotations

from dataclasses import fields
from enum import StrEnum

from inventory.metrics import LotFact, SkuSiteFact


class Kind(StrEnum):
    DAYS = "days"
    MONEY = "money"
    QUANTITY = "quantity"
    RATIO = "ratio"
    PERCENT = "percent"
    TEXT = "text"
    DATE = "date"


_KINDS: dict[str, Kind] = {
    "days_in_stock": Kind.DAYS, "days_since_movement": Kind.DAYS, "days_to_expiry": Kind.DAYS,
    "days_of_cover": Kind.DAYS, "days_since_last_issue": Kind.DAYS,
    "value": Kind.MONEY, "unit_cost": Kind.MONEY, "on_hand_value": Kind.MONEY, "projected_expiry_value": Kind.MONEY,
    "qty": Kind.QUANTITY, "on_hand": Kind.QUANTITY, "issued_365d": Kind.QUANTITY, "avg_daily_demand": Kind.QUANTITY,
    "open_po_qty": Kind.QUANTITY, "projected_expiry_qty": Kind.QUANTITY, "lot_count": Kind.QUANTITY,
    "turnover_365d": Kind.RATIO, "shelf_life_left_pct": Kind.PERCENT,
    "received_on": Kind.DATE, "expires_on": Kind.DATE, "last_moved_on": Kind.DATE,
}

SKU_METRICS: dict[str, Kind] = {f.name: _KINDS.get(f.name, Kind.TEXT) for f in fields(SkuSiteFact)}
LOT_METRICS: dict[str, Kind] = {**SKU_METRICS, **{f.name: _KINDS.get(f.name, Kind.TEXT) for f in fields(LotFact)}}
METRICS_BY_LEVEL = {"lot": LOT_METRICS, "sku": SKU_METRICS}


class Level(StrEnum):
    LOT = "lot"
    SKU = "sku"


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Disposition(StrEnum):
    REALLOCATE = "reallocate"
    SUBSTITUTE = "substitute"
    RETURN_TO_SUPPLIER = "return_to_supplier"
    REDUCE_PURCHASE_ORDER = "reduce_purchase_order"
    SELL_OR_DONATE = "sell_or_donate"
    SCRAP = "scrap"


COMPARISONS = ("gt", "gte", "lt", "lte")
OPERATORS = ("gt", "gte", "lt", "lte", "eq", "ne", "in", "not_in", "between", "is_null")
TEXT_OPERATORS = ("eq", "ne", "in", "not_in", "is_null")
SCOPE_KEYS = ("category", "site", "sku", "risk_class", "lifecycle", "storage", "qc_status")
COMMITTEE = "committee"
