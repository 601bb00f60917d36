"""The inventory tables: one snapshot of the ERP's master data, lot positions, movements, demand and orders.

Every row but a site belongs to a snapshot, so a new load never edits what an earlier one stored and
any figure can be recomputed as of the day it was reported. Empty lot and serial numbers are stored as
'' rather than NULL so that "empty matches empty" holds in keys, joins and unique constraints alike.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, UniqueConstraint
from sqlmodel import Field, SQLModel

QTY_DIGITS, QTY_PLACES = 18, 4
MONEY_DIGITS, MONEY_PLACES = 18, 4


def _big_id() -> Column[int]:
    """A 64-bit key on PostgreSQL that stays SQLite's rowid alias (only INTEGER PRIMARY KEY is one)."""
    return Column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True)


class RiskClass(StrEnum):
    I = "I"  # noqa: E741 - the regulators' own name
    II = "II"
    III = "III"


class Lifecycle(StrEnum):
    ACTIVE = "active"
    PHASE_OUT = "phase_out"
    OBSOLETE = "obsolete"


class Storage(StrEnum):
    AMBIENT = "ambient"
    COLD = "cold"
    FROZEN = "frozen"


class QcStatus(StrEnum):
    RELEASED = "released"
    QUARANTINE = "quarantine"
    HOLD = "hold"
    REJECTED = "rejected"


class MovementType(StrEnum):
    RECEIPT = "receipt"
    ISSUE = "issue"
    TRANSFER_IN = "transfer_in"
    TRANSFER_OUT = "transfer_out"
    SCRAP = "scrap"
    ADJUSTMENT = "adjustment"
    RETURN_TO_SUPPLIER = "return_to_supplier"


class DemandKind(StrEnum):
    ACTUAL = "actual"
    FORECAST = "forecast"


class SnapshotState(StrEnum):
    """Whether scans, cases and KPIs may use a snapshot (inventory/suspect.py decides at the load)."""

    ACCEPTED = "accepted"
    SUSPECT = "suspect"
    """Stored but not used until a person accepts it: it has no lots, or it removes more of the positions
    or of the value of the last accepted snapshot than the policy allows (a broken export, most likely)."""
    REJECTED = "rejected"
    """A person said it is not the truth; it stays stored (nothing is ever deleted) and is never used."""


class Snapshot(SQLModel, table=True):
    """One load of an ERP export; its checksum makes a second load of the same files a no-op."""

    id: int | None = Field(default=None, primary_key=True)
    as_of: date = Field(index=True)
    source: str = Field(max_length=500)
    checksum: str = Field(max_length=64, unique=True)
    row_counts: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    loaded_by: str = Field(max_length=200)
    loaded_at: datetime
    state: str = Field(default=SnapshotState.ACCEPTED, max_length=20)
    guard: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    """What the load was compared with and found (inventory.suspect.Comparison.as_json): the previous
    accepted snapshot, positions and value before and after, and why it is suspect."""
    accepted_at: datetime | None = None
    """Since when scans use it: its load, or the moment a person accepted it; None while suspect or rejected.
    "The latest snapshot at a time" (governance/evidence.py) reads this, not `loaded_at`."""
    decided_by: str = Field(default="", max_length=200)
    """Who accepted or rejected a suspect snapshot ('' for one accepted at its load)."""
    decision_reason: str = Field(default="", max_length=2000)


class Site(SQLModel, table=True):
    """A stocking location (warehouse, hospital consignment store); sites outlive snapshots."""

    code: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=200)


class Material(SQLModel, table=True):
    """The SKU master as of one snapshot: what the item is, what it costs and how it may be disposed of."""

    snapshot_id: int = Field(foreign_key="snapshot.id", primary_key=True)
    sku: str = Field(primary_key=True, max_length=80)
    name: str = Field(default="", max_length=300)
    category: str = Field(max_length=80)
    base_uom: str = Field(max_length=20)
    unit_cost: Decimal = Field(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES)
    currency: str = Field(max_length=3)
    risk_class: str | None = Field(default=None, max_length=3)
    lifecycle: str = Field(default=Lifecycle.ACTIVE, max_length=20)
    storage: str = Field(default=Storage.AMBIENT, max_length=20)
    shelf_life_days: int | None = None
    supplier: str = Field(default="", max_length=200)
    return_window_days: int | None = None
    substitutes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class UomConversion(SQLModel, table=True):
    """1 `uom` = `factor` base units of the SKU (a box of 10 catheters has factor 10)."""

    __tablename__ = "uom_conversion"

    snapshot_id: int = Field(foreign_key="snapshot.id", primary_key=True)
    sku: str = Field(primary_key=True, max_length=80)
    uom: str = Field(primary_key=True, max_length=20)
    factor: Decimal = Field(max_digits=18, decimal_places=6)


class LotPosition(SQLModel, table=True):
    """Stock of one lot (or one serial) of a SKU at a site, in the SKU's base unit."""

    __tablename__ = "lot_position"
    __table_args__ = (UniqueConstraint("snapshot_id", "sku", "site", "lot", "serial", name="uq_lot_position_key"),)

    id: int | None = Field(default=None, sa_column=_big_id())
    snapshot_id: int = Field(foreign_key="snapshot.id")
    sku: str = Field(max_length=80)
    site: str = Field(max_length=40)
    lot: str = Field(default="", max_length=80)
    serial: str = Field(default="", max_length=80)
    qty: Decimal = Field(max_digits=QTY_DIGITS, decimal_places=QTY_PLACES)
    received_on: date
    manufactured_on: date | None = None
    expires_on: date | None = None
    last_movement_on: date | None = None
    """As the ERP exported it (optional)."""
    qc_status: str = Field(default=QcStatus.RELEASED, max_length=20)
    udi: str = Field(default="", max_length=200)
    latest_movement_on: date | None = None
    """The latest of this lot's rows in the movement table, kept by ingest and by applied movements
    (inventory.ingest, inventory.movements), so that scans need not group the movements."""


class Movement(SQLModel, table=True):
    """A stock movement as the ERP booked it; quantities are positive except for adjustments."""

    __table_args__ = (Index("ix_movement_lot", "snapshot_id", "sku", "site", "lot", "serial"),
                      Index("uq_movement_identity", "snapshot_id", "identity", unique=True))

    id: int | None = Field(default=None, sa_column=_big_id())
    snapshot_id: int = Field(foreign_key="snapshot.id")
    sku: str = Field(max_length=80)
    site: str = Field(max_length=40)
    lot: str = Field(default="", max_length=80)
    serial: str = Field(default="", max_length=80)
    type: str = Field(max_length=20)
    qty: Decimal = Field(max_digits=QTY_DIGITS, decimal_places=QTY_PLACES)
    moved_on: date
    reference: str = Field(default="", max_length=120)
    identity: str | None = Field(default=None, max_length=64)
    """Of a movement applied after the snapshot: the digest of what it is (inventory.movements.identity),
    so the same movement posted again is known whatever file or key order it comes in; None for the
    export's own history, which the snapshot's positions already hold."""


class SkuSiteIssues(SQLModel, table=True):
    """What a SKU-site issued in the year to the snapshot date and when it last issued, summed when its
    movements are stored (ingest: inventory.metrics.store_issue_totals; applied issues: add_issues)
    rather than regrouped from every movement of the snapshot at each scan (a million rows at 200,000
    lots)."""

    __tablename__ = "sku_site_issues"

    snapshot_id: int = Field(foreign_key="snapshot.id", primary_key=True)
    sku: str = Field(primary_key=True, max_length=80)
    site: str = Field(primary_key=True, max_length=40)
    issued_365d: Decimal = Field(max_digits=QTY_DIGITS, decimal_places=QTY_PLACES)
    last_issue_on: date


class DemandRecord(SQLModel, table=True):
    """Monthly demand of a SKU at a site, either what was consumed (actual) or what planning expects."""

    __tablename__ = "demand_record"

    snapshot_id: int = Field(foreign_key="snapshot.id", primary_key=True)
    sku: str = Field(primary_key=True, max_length=80)
    site: str = Field(primary_key=True, max_length=40)
    period: str = Field(primary_key=True, max_length=7)
    kind: str = Field(primary_key=True, max_length=10)
    qty: Decimal = Field(max_digits=QTY_DIGITS, decimal_places=QTY_PLACES)


class PurchaseOrderLine(SQLModel, table=True):
    """A purchase-order line; open quantity feeds cover, received dates feed delivery deviation."""

    __tablename__ = "purchase_order_line"
    __table_args__ = (Index("ix_purchase_order_line_sku_site", "snapshot_id", "sku", "site"),)

    snapshot_id: int = Field(foreign_key="snapshot.id", primary_key=True)
    po: str = Field(primary_key=True, max_length=40)
    line: str = Field(primary_key=True, max_length=20)
    sku: str = Field(max_length=80)
    site: str = Field(max_length=40)
    qty_open: Decimal = Field(max_digits=QTY_DIGITS, decimal_places=QTY_PLACES)
    ordered_on: date | None = None
    promised_on: date | None = None
    received_on: date | None = None
    received_qty: Decimal | None = Field(default=None, max_digits=QTY_DIGITS, decimal_places=QTY_PLACES)


class MovementBatch(SQLModel, table=True):
    """A file of movements applied to a snapshot after it was loaded; its checksum stops a double apply."""

    __tablename__ = "movement_batch"
    __table_args__ = (UniqueConstraint("snapshot_id", "checksum", name="uq_movement_batch_checksum"),)

    id: int | None = Field(default=None, primary_key=True)
    snapshot_id: int = Field(foreign_key="snapshot.id")
    checksum: str = Field(max_length=64)
    source: str = Field(max_length=500)
    rows: int
    applied_by: str = Field(max_length=200)
    applied_at: datetime
