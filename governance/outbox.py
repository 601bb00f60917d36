"""The ERP outbox: instructions written once per approved proposal line, exported as CSV for the ERP's
import, and confirmed when the ERP (or the next snapshot) shows them done. Each write is audited in the
same transaction."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Row, select, update
from sqlmodel import col

from audit.models import AuditEntry
from audit.trail import append, canonical_time
from core.case import RETURN_TO_SUPPLIER, Confirmation, InstructionRequest
from core.cells import CsvWriter
from core.db import inserted_id, table
from core.numbers import plain
from governance.models import ErpInstruction
from governance.reservations import consume

PENDING, EXPORTED, CONFIRMED = "pending", "exported", "confirmed"
COLUMNS = ("id", "idempotency_key", "disposition", "sku", "site", "lot", "serial", "quantity", "value", "target",
           "postpone_to", "case_id", "approved_by", "issued_at")


def idempotency_key(case_id: str, proposal_no: int, line_no: int) -> str:
    return f"{case_id}#p{proposal_no}#{line_no}"


def issue(connection: Connection, request: InstructionRequest) -> list[int]:
    """Write an instruction per line unless its key is already there; returns the ids in line order."""
    at = datetime.fromisoformat(request.at)
    ids: list[int] = []
    for place, line in enumerate(request.lines, start=1):
        key = idempotency_key(request.case_id, request.proposal_no, line.line_no or place)
        existing = connection.execute(select(col(ErpInstruction.id)).where(col(ErpInstruction.idempotency_key) == key)).scalar()
        if existing is not None:
            ids.append(existing)
            continue
        target = request.supplier if request.disposition == RETURN_TO_SUPPLIER else request.target
        row = ErpInstruction(
            idempotency_key=key, case_id=request.case_id, proposal_no=request.proposal_no,
            disposition=request.disposition, sku=request.sku, site=request.site, lot=line.lot, serial=line.serial,
            quantity=Decimal(line.quantity), value=Decimal(line.value), target=target,
            postpone_to=date.fromisoformat(request.postpone_to) if request.postpone_to else None,
            approved_by=request.approved_by, issued_at=at)
        new_id = inserted_id(connection.execute(table(ErpInstruction).insert().values(**row.model_dump(exclude={"id"}))))
        ids.append(new_id)
        stored = instruction(connection, new_id)  # hashed as read back: the database rounds and re-types
        assert stored is not None
        append(connection, actor="stockwarden", action="instruction.issued", subject=f"instruction:{new_id}",
               after={**_summary(row), "content_hash": content_hash(stored)}, policy_version=request.policy_version,
               workflow_id=request.case_id, at=at)
    return ids


def _summary(row: ErpInstruction) -> dict[str, object]:
    return {"key": row.idempotency_key, "disposition": row.disposition, "sku": row.sku, "site": row.site,
            "lot": row.lot, "serial": row.serial, "quantity": str(row.quantity), "target": row.target}


def content_hash(row: ErpInstruction) -> str:
    """SHA-256 of what the ERP is told to do, canonicalised (plain decimals, UTC times, sorted keys), so
    the hash in the instruction's audit entry pins it: a changed quantity, lot or target no longer matches."""
    fields = {"id": row.id, "idempotency_key": row.idempotency_key, "case_id": row.case_id,
              "proposal_no": row.proposal_no, "disposition": row.disposition, "sku": row.sku, "site": row.site,
              "lot": row.lot, "serial": row.serial, "quantity": plain(Decimal(row.quantity)),
              "value": plain(Decimal(row.value)), "target": row.target,
              "postpone_to": row.postpone_to.isoformat() if row.postpone_to else "",
              "approved_by": list(row.approved_by), "issued_at": canonical_time(row.issued_at)}
    text = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class InstructionsAltered(Exception):
    """Instructions that no longer match their audit entries: none of the given ones may go to the ERP."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


def altered(connection: Connection, rows: Iterable[ErpInstruction] | None = None) -> list[str]:
    """Each instruction (of `rows`, or all) that differs from what its `instruction.issued` entry recorded,
    or has no such entry, named with what differs. Entries written before content hashes were kept are
    compared field by field with the summary they hold."""
    rows = list(rows) if rows is not None else [
        ErpInstruction.model_validate(r._mapping)
        for r in connection.execute(select(ErpInstruction).order_by(col(ErpInstruction.id)))]
    subjects = [f"instruction:{row.id}" for row in rows]
    issued: dict[str, Row[Any]] = {}
    for start in range(0, len(subjects), 1000):
        for entry in connection.execute(select(AuditEntry).where(
                col(AuditEntry.action) == "instruction.issued", col(AuditEntry.subject).in_(subjects[start:start + 1000]))
                .order_by(col(AuditEntry.seq))):
            issued.setdefault(entry.subject, entry)  # the first one counts
    problems = []
    for row in rows:
        first = issued.get(f"instruction:{row.id}")
        if first is None or not isinstance(first.after, dict):
            problems.append(f"instruction {row.id} ({row.idempotency_key}) has no instruction.issued entry in the "
                            "audit trail")
            continue
        recorded = first.after
        if recorded.get("content_hash") == content_hash(row):
            continue
        now = _summary(row)  # what differs, in words (and all there is for entries without a content hash)
        changed = [f"{name} was {recorded.get(name)!r}, now {now[name]!r}" for name in now
                   if not _same(name, recorded.get(name), now[name])]
        if "content_hash" in recorded:
            changed = changed or ["its content hash differs (case, proposal, value, postponement, approvers or "
                                  + "issue time)"]
        if changed:
            problems.append(f"instruction {row.id} ({row.idempotency_key}) no longer matches audit entry "
                            f"{entry.seq}: " + ", ".join(changed))
    return problems


def _same(name: str, recorded: object, now: object) -> bool:
    if name == "quantity":
        try:
            return Decimal(str(recorded)) == Decimal(str(now))
        except ArithmeticError:
            return False
    return recorded == now


def confirm(connection: Connection, confirmation: Confirmation) -> int:
    """Mark instructions confirmed (once: a retry or a second confirmation changes nothing), each with the
    quantity carried out (all of it unless `confirmation.done` says less); that much of its plan line's
    hold on the lot ends, as the stock has left."""
    at = datetime.fromisoformat(confirmation.at)
    changed = 0
    done = list(confirmation.done) + [""] * (len(confirmation.instructions) - len(confirmation.done))
    for instruction_id, quantity in zip(confirmation.instructions, done, strict=True):
        row = instruction(connection, instruction_id)
        if row is None:
            continue
        carried_out = Decimal(quantity) if quantity else Decimal(row.quantity)
        updated = connection.execute(
            update(ErpInstruction).where(col(ErpInstruction.id) == instruction_id, col(ErpInstruction.state) != CONFIRMED)
            .values(state=CONFIRMED, confirmed_at=at, confirmed_by=confirmation.actor, done=carried_out)).rowcount
        if updated:
            changed += 1  # the hold first: reservations lock before the trail does (governance/reservations.py)
            consume(connection, row.case_id, row.proposal_no, line_of(row.idempotency_key), carried_out, at)
            append(connection, actor=confirmation.actor, action="instruction.confirmed",
                   subject=f"instruction:{instruction_id}", after={"state": CONFIRMED, "done": plain(carried_out),
                                                                    "of": plain(Decimal(row.quantity))},
                   reason=confirmation.note, policy_version=confirmation.policy_version,
                   workflow_id=confirmation.case_id, at=at)
    return changed


def line_of(key: str) -> int:
    """The plan line an idempotency key (`case#p<plan>#<line>`) names."""
    return int(key.rsplit("#", 1)[1])


def unconfirmed(connection: Connection) -> list[ErpInstruction]:
    rows = connection.execute(select(ErpInstruction).where(col(ErpInstruction.state) != CONFIRMED)
                              .order_by(col(ErpInstruction.id)))
    return [ErpInstruction.model_validate(row._mapping) for row in rows]


def instruction(connection: Connection, instruction_id: int) -> ErpInstruction | None:
    row = connection.execute(select(ErpInstruction).where(col(ErpInstruction.id) == instruction_id)).first()
    return None if row is None else ErpInstruction.model_validate(row._mapping)


def export(connection: Connection, rows: Iterable[ErpInstruction], folder: Path, actor: str,
           now: datetime | None = None) -> Path:
    """Write `rows` as one CSV file (UTF-8 with BOM, which Excel and most ERP imports read as Unicode) and
    mark them exported; the idempotency key lets the ERP skip a row it already imported. Nothing is
    written when any row no longer matches its audit entry (InstructionsAltered)."""
    now = now or datetime.now(UTC)
    rows = list(rows)
    problems = altered(connection, rows)
    if problems:
        raise InstructionsAltered(problems)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"stockwarden-instructions-{now:%Y%m%dT%H%M%S%f}.csv"
    with path.open("w", newline="", encoding="utf-8-sig") as out:
        writer = CsvWriter(out)  # text that begins with = + - @ is quoted; quantities stay numbers
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow([row.id, row.idempotency_key, row.disposition, row.sku, row.site, row.lot, row.serial,
                             row.quantity, row.value, row.target, row.postpone_to, row.case_id,
                             " ".join(row.approved_by), row.issued_at])
    ids = [row.id for row in rows]
    if ids:
        connection.execute(update(ErpInstruction).where(col(ErpInstruction.id).in_(ids), col(ErpInstruction.state) == PENDING)
                           .values(state=EXPORTED, exported_at=now))
        append(connection, actor=actor, action="instructions.exported", subject="outbox", after=ids,
               reason=path.name, at=now)
    return path
