"""What a snapshot shows of an ERP instruction being carried out: only the disposition itself happening to
that lot (its movement, the stock arriving at the target, the purchase-order line cut or postponed).

A drop in a lot's quantity is not evidence: the lot may have been sold, counted down or moved elsewhere
while the instruction waited (issue 15: a scan recorded an unexecuted return and a scrap of sold stock as
"confirmed by snapshot"). What shows nothing here waits for the ERP's confirmation.

Which snapshot's movements are read, and why: every snapshot holds its own movement history. An export
brings the ERP's movements up to its date (so a later export repeats what an earlier one held), and a
movement file applied later lands in the snapshot it is applied to (inventory/movements.py: rows with that
snapshot's id, dated on or before its `as_of`). Reading the movements of the one snapshot being scanned, on
or after the instruction's issue date, therefore sees each movement once; adding up several snapshots would
count a repeated movement twice, and there is no key that tells a repeat from a second, equal movement.
`done` is thus cumulative (all that this snapshot shows since the issue), never an increment over an
earlier scan. Positions and purchase-order lines are compared with the snapshot current when the
instruction was issued (`snapshot_before`), the one its proposal was checked against.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select
from sqlmodel import col

from core.case import REALLOCATE, REDUCE_PURCHASE_ORDER, RETURN_TO_SUPPLIER
from core.db import as_utc, table
from core.numbers import plain
from governance.models import ErpInstruction
from governance.outbox import CONFIRMED
from inventory.metrics import snapshot_used_at
from inventory.models import LotPosition, Movement, MovementType, PurchaseOrderLine

SCRAP = "scrap"
MOVED_BY = {RETURN_TO_SUPPLIER: MovementType.RETURN_TO_SUPPLIER, SCRAP: MovementType.SCRAP}
"""The dispositions a movement of the lot itself shows; substitute and sell_or_donate show in no snapshot."""


@dataclass
class Evidence:
    """What the snapshot shows of one instruction: `done` (at most the instructed quantity; less is a
    partial) and `how`, a sentence naming the movements or the change. A postponement without a cut has
    quantity 0: its evidence has done 0 and is complete."""

    instruction_id: int
    done: Decimal
    how: str


def evidence(connection: Connection, instructions: list[ErpInstruction], snapshot_id: int) -> list[Evidence]:
    """Evidence in `snapshot_id` for each unconfirmed instruction that shows some; instructions showing
    nothing (and confirmed ones) are left out."""
    found = []
    for instruction in instructions:
        if instruction.state == CONFIRMED or instruction.id is None:
            continue
        shown = _shown(connection, instruction, snapshot_id)
        if shown is not None:
            done, how = shown
            found.append(Evidence(instruction.id, min(done, Decimal(instruction.quantity)), how))
    return found


def snapshot_before(connection: Connection, at: datetime) -> int | None:
    """The snapshot that was the latest at `at`, as `latest_snapshot` read it then: the newest accepted by
    then (a suspect snapshot counts only from its acceptance), the one the instruction's proposal was
    checked against. A header-only snapshot held as suspect is never the baseline, so it cannot make a
    reallocation look done by the stock "growing" at the target."""
    return snapshot_used_at(connection, at)


def _shown(connection: Connection, instruction: ErpInstruction, snapshot_id: int) -> tuple[Decimal, str] | None:
    if instruction.disposition in MOVED_BY:
        return _moved(connection, instruction, snapshot_id, instruction.site, MOVED_BY[instruction.disposition])
    if instruction.disposition == REALLOCATE:
        return _arrived(connection, instruction, snapshot_id)
    if instruction.disposition == REDUCE_PURCHASE_ORDER:
        return _order_changed(connection, instruction, snapshot_id)
    return None


def _issued_on(instruction: ErpInstruction) -> date:
    return as_utc(instruction.issued_at).date()


def _moved(connection: Connection, instruction: ErpInstruction, snapshot_id: int, site: str,
           kind: MovementType) -> tuple[Decimal, str] | None:
    """The movements of `kind` of the instruction's lot at `site`, moved on or after the issue date, as far
    as they are this instruction's: each movement goes to the instructions for that lot and that movement,
    oldest issued first, each taking at most its quantity (a confirmed one what it was confirmed with), so
    one scrap of 20 never confirms both a plan's scrap of 20 and a later plan's scrap of 22 on that lot."""
    m = table(Movement).c
    group = _sharing(connection, instruction, site, kind)
    rows = connection.execute(select(m.qty, m.moved_on, m.reference).where(
        m.snapshot_id == snapshot_id, m.sku == instruction.sku, m.site == site, m.lot == instruction.lot,
        m.serial == instruction.serial, m.type == kind.value, m.moved_on >= min(_issued_on(i) for i in group))
        .order_by(m.moved_on, m.id)).all()
    room = {i.id: Decimal(i.done if i.state == CONFIRMED and i.done is not None else i.quantity) for i in group}
    mine: list[tuple[Decimal, Any]] = []
    for row in rows:
        left = Decimal(row.qty)
        for other in group:
            if left <= 0:
                break
            if _issued_on(other) > row.moved_on or room[other.id] <= 0:
                continue
            taken = min(left, room[other.id])
            room[other.id] -= taken
            left -= taken
            if other.id == instruction.id:
                mine.append((taken, row))
    if not mine:
        return None
    parts = [f"{plain(taken)} on {r.moved_on.isoformat()}" + (f" (ref {r.reference})" if r.reference else "")
             + (f" (of {plain(r.qty)})" if taken != Decimal(r.qty) else "") for taken, r in mine]
    place = f" at {site}" if site != instruction.site else ""
    noun = kind.value + (" movement" if len(mine) == 1 else " movements")
    return sum((taken for taken, _row in mine), Decimal(0)), f"{noun} of {_joined(parts)}{place}"


def _sharing(connection: Connection, instruction: ErpInstruction, site: str, kind: MovementType) -> list[ErpInstruction]:
    """Every instruction (of any case, confirmed or not) that a movement of `kind` of this lot at `site`
    would show: the same disposition on the same lot, sent to the same site; oldest issued first."""
    e = table(ErpInstruction).c
    query = select(ErpInstruction).where(
        e.sku == instruction.sku, e.lot == instruction.lot, e.serial == instruction.serial,
        e.disposition == instruction.disposition)
    query = query.where(e.target == site) if kind == MovementType.TRANSFER_IN else query.where(e.site == site)
    group = [ErpInstruction.model_validate(row._mapping) for row in connection.execute(query)]
    if all(other.id != instruction.id for other in group):
        group.append(instruction)
    return sorted(group, key=lambda other: (as_utc(other.issued_at), other.id or 0))


def _arrived(connection: Connection, instruction: ErpInstruction, snapshot_id: int) -> tuple[Decimal, str] | None:
    """The lot arriving at the target site: its transfers in there since the issue, or its position there
    grown against the snapshot current at issue (an export may carry positions without movements). The two
    show the same units, so the larger counts, never their sum. The lot leaving the source shows nothing."""
    target = instruction.target
    moved = _moved(connection, instruction, snapshot_id, target, MovementType.TRANSFER_IN)
    before_id = snapshot_before(connection, instruction.issued_at)
    grown: tuple[Decimal, str] | None = None
    if before_id is not None and before_id != snapshot_id:
        before = _held(connection, before_id, instruction, target)
        now = _held(connection, snapshot_id, instruction, target)
        if now > before:
            grown = (now - before, f"lot {instruction.lot or '(none)'} at {target} grew from {plain(before)} to "
                                   f"{plain(now)} (snapshot {before_id} to {snapshot_id})")
    shown = [found for found in (moved, grown) if found is not None]
    return max(shown, key=lambda found: found[0]) if shown else None


def _held(connection: Connection, snapshot_id: int, instruction: ErpInstruction, site: str) -> Decimal:
    lp = table(LotPosition).c
    qty = connection.execute(select(lp.qty).where(
        lp.snapshot_id == snapshot_id, lp.sku == instruction.sku, lp.site == site, lp.lot == instruction.lot,
        lp.serial == instruction.serial)).scalar()
    return Decimal(0) if qty is None else Decimal(qty)


def _order_changed(connection: Connection, instruction: ErpInstruction,
                   snapshot_id: int) -> tuple[Decimal, str] | None:
    """The line "PO/LINE" against itself in the snapshot current at issue: the cut is the drop in open
    quantity less what was received meanwhile (a delivery also lowers it); a postponement shows as the
    promised date moved to `postpone_to` or later. An instruction with a postponement shows nothing until
    its date moved, then its cut (possibly partial); a line missing from either snapshot shows nothing
    (closed, cancelled or fully received: the export cannot tell which)."""
    po, _, line = instruction.target.partition("/")
    before_id = snapshot_before(connection, instruction.issued_at)
    if before_id is None or before_id == snapshot_id:
        return None
    before, now = (_order_line(connection, at, po, line, instruction) for at in (before_id, snapshot_id))
    if before is None or now is None:
        return None
    received = max(Decimal(now.received_qty or 0) - Decimal(before.received_qty or 0), Decimal(0))
    cut = max(Decimal(before.qty_open) - Decimal(now.qty_open) - received, Decimal(0))
    said = []
    if cut > 0:
        said.append(f"PO {instruction.target} open quantity cut from {plain(before.qty_open)} to "
                    f"{plain(now.qty_open)}" + (f" ({plain(received)} received meanwhile)" if received else ""))
    if instruction.postpone_to is not None:
        promised = now.promised_on
        if promised is None or promised < instruction.postpone_to or promised == before.promised_on:
            return None
        said.append(f"PO {instruction.target} delivery moved from "
                    f"{before.promised_on.isoformat() if before.promised_on else '(no date)'} to {promised.isoformat()}")
    elif cut == 0:
        return None
    return cut, f"{'; '.join(said)} (snapshot {before_id} to {snapshot_id})"


def _order_line(connection: Connection, snapshot_id: int, po: str, line: str,
                instruction: ErpInstruction) -> PurchaseOrderLine | None:
    row = connection.execute(select(PurchaseOrderLine).where(
        col(PurchaseOrderLine.snapshot_id) == snapshot_id, col(PurchaseOrderLine.po) == po,
        col(PurchaseOrderLine.line) == line, col(PurchaseOrderLine.sku) == instruction.sku,
        col(PurchaseOrderLine.site) == instruction.site)).first()
    return None if row is None else PurchaseOrderLine.model_validate(row._mapping)


def _joined(parts: Iterable[str]) -> str:
    items = list(parts)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
