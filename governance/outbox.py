"""The ERP outbox: instructions written once per approved proposal line, exported as CSV for the ERP's
import, and confirmed when the ERP (or the next snapshot) shows them done. Each write is audited in the
same transaction."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Connection, select, update

from activities.cases import Confirmation, InstructionRequest
from audit.trail import append
from governance.models import ErpInstruction
from reports.cells import CsvWriter

PENDING, EXPORTED, CONFIRMED = "pending", "exported", "confirmed"
COLUMNS = ("id", "idempotency_key", "disposition", "sku", "site", "lot", "serial", "quantity", "value", "target",
           "postpone_to", "case_id", "approved_by", "issued_at")


def idempotency_key(case_id: str, proposal_no: int, line_no: int) -> str:
    return f"{case_id}#p{proposal_no}#{line_no}"


def issue(connection: Connection, request: InstructionRequest) -> list[int]:
    """Write an instruction per line unless its key is already there; returns the ids in line order."""
    at = datetime.fromisoformat(request.at)
    ids: list[int] = []
    for line_no, line in enumerate(request.lines, start=1):
        key = idempotency_key(request.case_id, request.proposal_no, line_no)
        existing = connection.execute(select(ErpInstruction.id).where(ErpInstruction.idempotency_key == key)).scalar()  # type: ignore[arg-type]
        if existing is not None:
            ids.append(existing)
            continue
        target = request.supplier if request.disposition == "return_to_supplier" else request.target
        row = ErpInstruction(
            idempotency_key=key, case_id=request.case_id, proposal_no=request.proposal_no,
            disposition=request.disposition, sku=request.sku, site=request.site, lot=line.lot, serial=line.serial,
            quantity=Decimal(line.quantity), value=Decimal(line.value), target=target,
            postpone_to=date.fromisoformat(request.postpone_to) if request.postpone_to else None,
            approved_by=request.approved_by, issued_at=at)
        new_id = connection.execute(
            ErpInstruction.__table__.insert().values(**row.model_dump(exclude={"id"}))  # type: ignore[attr-defined]
        ).inserted_primary_key[0]
        ids.append(new_id)
        append(connection, actor="stockwarden", action="instruction.issued", subject=f"instruction:{new_id}",
               after=_summary(row), policy_version=request.policy_version, workflow_id=request.case_id, at=at)
    return ids


def _summary(row: ErpInstruction) -> dict[str, object]:
    return {"key": row.idempotency_key, "disposition": row.disposition, "sku": row.sku, "site": row.site,
            "lot": row.lot, "serial": row.serial, "quantity": str(row.quantity), "target": row.target}


def confirm(connection: Connection, confirmation: Confirmation) -> int:
    """Mark instructions confirmed (once: a retry or a second confirmation changes nothing)."""
    at = datetime.fromisoformat(confirmation.at)
    changed = 0
    for instruction_id in confirmation.instructions:
        done = connection.execute(
            update(ErpInstruction).where(ErpInstruction.id == instruction_id, ErpInstruction.state != CONFIRMED)  # type: ignore[arg-type]
            .values(state=CONFIRMED, confirmed_at=at, confirmed_by=confirmation.actor)).rowcount
        if done:
            changed += 1
            append(connection, actor=confirmation.actor, action="instruction.confirmed",
                   subject=f"instruction:{instruction_id}", after=CONFIRMED, reason=confirmation.note,
                   policy_version=confirmation.policy_version, workflow_id=confirmation.case_id, at=at)
    return changed


def unconfirmed(connection: Connection) -> list[ErpInstruction]:
    rows = connection.execute(select(ErpInstruction).where(ErpInstruction.state != CONFIRMED)  # type: ignore[arg-type]
                              .order_by(ErpInstruction.id))  # type: ignore[arg-type]
    return [ErpInstruction.model_validate(row._mapping) for row in rows]


def instruction(connection: Connection, instruction_id: int) -> ErpInstruction | None:
    row = connection.execute(select(ErpInstruction).where(ErpInstruction.id == instruction_id)).first()  # type: ignore[arg-type]
    return None if row is None else ErpInstruction.model_validate(row._mapping)


def export(connection: Connection, rows: Iterable[ErpInstruction], folder: Path, actor: str,
           now: datetime | None = None) -> Path:
    """Write `rows` as one CSV file (UTF-8 with BOM, which Excel and most ERP imports read as Unicode) and
    mark them exported; the idempotency key lets the ERP skip a row it already imported."""
    now = now or datetime.now(UTC)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"stockwarden-instructions-{now:%Y%m%dT%H%M%S%f}.csv"
    rows = list(rows)
    with path.open("w", newline="", encoding="utf-8-sig") as out:
        writer = CsvWriter(out)  # text that begins with = + - @ is quoted; quantities stay numbers
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow([row.id, row.idempotency_key, row.disposition, row.sku, row.site, row.lot, row.serial,
                             row.quantity, row.value, row.target, row.postpone_to, row.case_id,
                             " ".join(row.approved_by), row.issued_at])
    ids = [row.id for row in rows]
    if ids:
        connection.execute(update(ErpInstruction).where(ErpInstruction.id.in_(ids), ErpInstruction.state == PENDING)  # type: ignore[union-attr,arg-type]
                           .values(state=EXPORTED, exported_at=now))
        append(connection, actor=actor, action="instructions.exported", subject="outbox", after=ids,
               reason=path.name, at=now)
    return path
