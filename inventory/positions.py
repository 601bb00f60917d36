"""What Stockwarden keeps on the lot positions besides the ERP's columns."""

from __future__ import annotations

from sqlalchemy import Connection, func, select, update

from inventory.models import LotPosition, Movement

LotKey = tuple[str, str, str, str]
"""sku, site, lot, serial: one position of a snapshot."""


def record_latest_movements(connection: Connection, snapshot_id: int) -> None:
    """Set latest_movement_on of the snapshot's positions from the movement table, once when the
    snapshot is loaded, rather than grouping every movement again in every scan (applied movements
    keep it as they update each position). One statement, an index lookup per position."""
    lp = LotPosition.__table__.c  # type: ignore[attr-defined]
    mv = Movement.__table__.c  # type: ignore[attr-defined]
    latest = (select(func.max(mv.moved_on))
              .where(mv.snapshot_id == lp.snapshot_id, mv.sku == lp.sku, mv.site == lp.site, mv.lot == lp.lot,
                     mv.serial == lp.serial)
              .scalar_subquery())
    connection.execute(update(LotPosition).where(lp.snapshot_id == snapshot_id).values(latest_movement_on=latest))  # type: ignore[arg-type]
