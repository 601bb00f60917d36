"""Where a disposition may send stock, as the latest snapshot knows it: sites with demand for the SKU,
and purchase-order lines still open. The workflow cannot read the database, so an activity asks here."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from sqlalchemy import Connection, func, select
from sqlmodel import col

from core.numbers import plain
from inventory.metrics import latest_snapshot
from inventory.models import DemandRecord, PurchaseOrderLine, Site


def target_problems(connection: Connection, sku: str, site: str, disposition: str, target: str,
                    quantity: str) -> list[str]:
    snapshot = latest_snapshot(connection)
    if snapshot is None:
        return ["no snapshot is loaded, so the target cannot be checked"]
    if disposition == "reallocate":
        if connection.execute(select(col(Site.code)).where(col(Site.code) == target)).first() is None:
            return [f"there is no site '{target}'"]
        d = DemandRecord.__table__.c  # type: ignore[attr-defined]
        demand = connection.execute(select(func.coalesce(func.sum(d.qty), 0)).where(
            d.snapshot_id == snapshot.id, d.sku == sku, d.site == target, d.qty > 0)).scalar_one()
        if not demand:
            return [f"{target} has no demand for {sku}; reallocate to a site that uses it"]
    if disposition == "reduce_purchase_order":
        po, _, line = target.partition("/")
        p = PurchaseOrderLine.__table__.c  # type: ignore[attr-defined]
        row = connection.execute(select(p.qty_open, p.sku, p.site).where(
            p.snapshot_id == snapshot.id, p.po == po, p.line == line)).first()
        if row is None:
            return [f"there is no purchase-order line {target} in snapshot {snapshot.id}"]
        if (row.sku, row.site) != (sku, site):
            return [f"{target} orders {row.sku} for {row.site}, not {sku} for {site}"]
        try:
            cut = Decimal(quantity)
        except InvalidOperation:
            return [f"cut quantity '{quantity}' is not a number"]
        if row.qty_open <= 0:
            return [f"{target} has nothing left open to cut or postpone"]
        if cut > row.qty_open:
            return [f"{target} has {plain(row.qty_open)} open; cannot cut {cut}"]
    return []


def open_on_order(connection: Connection, sku: str, site: str, target: str) -> Decimal:
    """What the latest snapshot still has open on the purchase-order line `target` ("PO/LINE") of the
    SKU-site: 0 when the line is gone (received, closed), so a cut approved before is trimmed, not sent."""
    snapshot = latest_snapshot(connection)
    if snapshot is None:
        return Decimal(0)
    po, _, line = target.partition("/")
    p = PurchaseOrderLine.__table__.c  # type: ignore[attr-defined]
    qty = connection.execute(select(p.qty_open).where(
        p.snapshot_id == snapshot.id, p.po == po, p.line == line, p.sku == sku, p.site == site)).scalar()
    return Decimal(0) if qty is None else max(Decimal(qty), Decimal(0))
