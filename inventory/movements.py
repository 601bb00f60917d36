"""Movements that arrive after a snapshot: checked like an export, then applied to the stored lot positions.

Issues, transfers out, scrap and returns take stock from the lot they name; receipts and transfers in
add to it (creating the position when the lot is new at that site); adjustments carry their own sign.
A file is applied whole or not at all, and the same movement is never applied twice to one snapshot:
each has an identity made of what it is (identity), so a movement posted again is left out whatever
file, sheet or key order it comes in (the file's checksum alone let a reordered copy apply twice).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, insert, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from core.db import table
from inventory.fields import DEFAULT_NUMBER_FORMAT, NumberFormat, RowError
from inventory.ingest import CheckedMovement, IngestFailed, Loader
from inventory.metrics import add_issues
from inventory.models import LotPosition, Movement, MovementBatch, MovementType, QcStatus, Snapshot
from inventory.sources import read_table

TAKES = {MovementType.ISSUE, MovementType.TRANSFER_OUT, MovementType.SCRAP, MovementType.RETURN_TO_SUPPLIER}
LotKey = tuple[str, str, str, str]


class AlreadyApplied(Exception):
    """Every movement of the file was applied to the snapshot before."""


@dataclass(frozen=True)
class AppliedMovements:
    rows: int
    sku_sites: set[tuple[str, str]]
    skipped: int = 0
    """Movements of the file applied before, left out."""


def identities(movements: list[CheckedMovement]) -> list[str]:
    """What each movement is, as a digest: reference, SKU, site, lot, serial, type, base quantity and day
    (not its line, its file or the order of its columns or keys), and which of the identical movements
    of its file it is: the second of two equal lines is a movement of its own, and posting the same two
    again adds neither."""
    seen: dict[tuple[str, ...], int] = {}
    found = []
    for m in movements:
        content = (m.reference, m.sku, m.site, m.lot, m.serial, m.type, _plain(m.qty), m.moved_on.isoformat())
        seen[content] = occurrence = seen.get(content, 0) + 1
        found.append(hashlib.sha256(json.dumps([*content, occurrence], ensure_ascii=False).encode()).hexdigest())
    return found


APPLIED_LOOKUP = 500
"""Identities looked up per query (a file may hold 100,000 movements)."""


def _applied(connection: Connection, snapshot_id: int, found: list[str]) -> set[str]:
    m = table(Movement).c
    applied: set[str] = set()
    for start in range(0, len(found), APPLIED_LOOKUP):
        applied.update(connection.scalars(select(m.identity).where(
            m.snapshot_id == snapshot_id, m.identity.in_(found[start:start + APPLIED_LOOKUP]))))
    return applied


def _plain(qty: Decimal) -> str:
    return f"{qty.normalize():f}"


def _second_unit(file: str, line: int, where: str, serial: str, qty: Decimal) -> RowError:
    """A serial is one unit (inventory.ingest.Loader.serial_qty): these movements would make it more."""
    return RowError(file, line, "qty", f"would bring {where} to {_plain(qty)}: a serial number names one unit / "
                                       f"将使序列号 {serial} 的数量变为 {_plain(qty)}：一个序列号只对应一件产品")


def _signed(kind: str, qty: Decimal) -> Decimal:
    return -qty if kind in TAKES else qty


def _positions(connection: Connection, snapshot_id: int,
               keys: Iterable[LotKey]) -> dict[LotKey, tuple[int, Decimal, date | None]]:
    lp = table(LotPosition).c
    # Locked until the caller's transaction ends: a posting at the same time waits and then reads what this
    # one left, rather than writing its own sum over the quantity both read (PostgreSQL; SQLite has one
    # writer at a time anyway).
    query = select(lp.id, lp.sku, lp.site, lp.lot, lp.serial, lp.qty, lp.latest_movement_on).where(
        lp.snapshot_id == snapshot_id, tuple_(lp.sku, lp.site, lp.lot, lp.serial).in_(list(keys))).with_for_update()
    return {(r.sku, r.site, r.lot, r.serial): (r.id, r.qty, r.latest_movement_on) for r in connection.execute(query)}


def apply_movements(connection: Connection, snapshot: Snapshot, path: Path, *, actor: str,
                    number_format: NumberFormat = DEFAULT_NUMBER_FORMAT) -> AppliedMovements:
    """Check and store the movements of `path` that were not applied before and update the positions they
    touch, in the caller's transaction. Raises SourceError, IngestFailed (every bad row) or AlreadyApplied
    (when every movement was)."""
    table, checksum = read_table(path, "movements")
    already = (f"{table.label}: every movement in it is already applied to snapshot {snapshot.id}; nothing changed / "
               f"文件中的每条移动均已应用于快照 {snapshot.id}，未作更改")
    seen = connection.execute(select(col(MovementBatch.id)).where(
        col(MovementBatch.snapshot_id) == snapshot.id, col(MovementBatch.checksum) == checksum)).first()
    if seen is not None:
        raise AlreadyApplied(already)
    load = Loader.for_snapshot(connection, snapshot.id, snapshot.as_of,  # type: ignore[arg-type]
                               number_format=number_format)
    load.movements_table(table)
    if load.errors:
        raise IngestFailed(load.errors.kept, load.errors.count)
    checked = load.checked_movements or []
    found = identities(checked)
    applied = _applied(connection, snapshot.id, found)  # type: ignore[arg-type]
    fresh = [(m, i) for m, i in zip(checked, found, strict=True) if i not in applied]
    if not fresh:
        raise AlreadyApplied(already)
    movements = [m for m, _identity in fresh]

    deltas: dict[LotKey, Decimal] = {}
    last_line: dict[LotKey, int] = {}
    first_receipt: dict[LotKey, date] = {}
    latest: dict[LotKey, date] = {}
    for m in movements:
        key = (m.sku, m.site, m.lot, m.serial)
        deltas[key] = deltas.get(key, Decimal(0)) + _signed(m.type, m.qty)
        last_line[key] = m.line
        latest[key] = max(latest.get(key, m.moved_on), m.moved_on)
        if m.type in (MovementType.RECEIPT, MovementType.TRANSFER_IN):
            first_receipt[key] = min(first_receipt.get(key, m.moved_on), m.moved_on)
    existing = _positions(connection, snapshot.id, deltas)  # type: ignore[arg-type]
    errors: list[RowError] = []
    new_positions: list[dict[str, Any]] = []
    for key, delta in deltas.items():
        where = f"lot {key[2] or '(none)'}" + (f", serial {key[3]}" if key[3] else "") + f" at {key[1]}"
        if key in existing:
            position_id, qty, stored_latest = existing[key]
            if qty + delta < 0:
                errors.append(RowError(table.label, last_line[key], "qty",
                                       f"takes {_plain(-delta)} from {where}, which holds {_plain(qty)}"))
            elif key[3] and qty + delta > 1:
                errors.append(_second_unit(table.label, last_line[key], where, key[3], qty + delta))
            connection.execute(update(LotPosition).where(col(LotPosition.id) == position_id).values(
                qty=qty + delta, latest_movement_on=max(latest[key], stored_latest or latest[key])))
        elif delta < 0 or key not in first_receipt:
            errors.append(RowError(table.label, last_line[key], "lot", f"no stock of {key[0]} {where} to take from"))
        elif key[3] and delta > 1:
            errors.append(_second_unit(table.label, last_line[key], where, key[3], delta))
        else:
            new_positions.append({"snapshot_id": snapshot.id, "sku": key[0], "site": key[1], "lot": key[2],
                                  "serial": key[3], "qty": delta, "received_on": first_receipt[key],
                                  "qc_status": QcStatus.RELEASED.value, "udi": "", "latest_movement_on": latest[key]})
    if errors:
        raise IngestFailed(sorted(errors, key=lambda e: e.line))
    if new_positions:
        connection.execute(insert(LotPosition), new_positions)
    try:
        load.write_movements(movements, [i for _m, i in fresh])
    except IntegrityError as exc:  # a posting at the same time applied some of them first; this one rolls back
        if not any(name in str(exc.orig) for name in ("uq_movement_identity", "movement.identity")):
            raise
        raise AlreadyApplied(f"{table.label}: another posting applied some of these movements meanwhile; nothing "
                             f"changed, post the file again to apply what is new / 其中部分移动已被同时提交的另一批次"
                             f"应用，未作更改；请重新提交以应用新增的移动") from None
    add_issues(connection, snapshot.id, snapshot.as_of, [  # type: ignore[arg-type]
        (m.sku, m.site, m.qty, m.moved_on) for m in movements if m.type == MovementType.ISSUE])
    load.register_sites()
    connection.execute(insert(MovementBatch).values(
        snapshot_id=snapshot.id, checksum=checksum, source=str(path)[-500:], rows=len(movements), applied_by=actor,
        applied_at=datetime.now(UTC)))
    return AppliedMovements(len(movements), {(key[0], key[1]) for key in deltas}, len(checked) - len(movements))
