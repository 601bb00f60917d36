"""What Stockwarden keeps on the lot positions besides the ERP's columns."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, func, select, tuple_, update

from inventory.models import LotPosition, Movement

LotKey = tuple[str, str, str, str]
KEYS_PER_STATEMENT = 1_000


def record_latest_movements(connection: Connection, snapshot_id: int, keys: Iterable[LotKey] | None = None) -> None:
    """Set latest_movement_on of the snapshot's positions (or only of `keys`: sku, site, lot, serial) from
    the movement table: once when the snapshot is loaded and for the lots each applied file moves, rather
    than grouping every movement again in every scan. One statement, an index lookup per position."""
    lp = LotPosition.__table__.c  # type: ignore[attr-defined]
    mv = Movement.__table__.c  # type: ignore[attr-defined]
    latest = (select(func.max(mv.moved_on))
              .where(mv.snapshot_id == lp.snapshot_id, mv.sku == lp.sku, mv.site == lp.site, mv.lot == lp.lot,
                     mv.serial == lp.serial)
              .scalar_subquery())
    statement = update(LotPosition).where(lp.snapshot_id == snapshot_id).values(latest_movement_on=latest)  # type: ignore[arg-type]
    if keys is None:
        connection.execute(statement)
        return
    chosen = list(keys)
    for start in range(0, len(chosen), KEYS_PER_STATEMENT):
        connection.execute(statement.where(tuple_(lp.sku, lp.site, lp.lot, lp.serial)
                                           .in_(chosen[start:start + KEYS_PER_STATEMENT])))
