"""The ERP's side of approved dispositions over HTTP: the instructions not yet confirmed (return,
move, cut a PO line, sell or donate, scrap) and their confirmation, which reaches the case as its
Update through the one case action (governance/actions.py; the case resolves when its last instruction
is confirmed)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path
from pydantic import BaseModel, ConfigDict, Field

from api.deps import ClientDep, EngineDep, ErpDep, OutboxReaderDep
from api.problems import REFUSALS, ROW_ID_MAX, answers
from governance.actions import confirm_instruction
from governance.outbox import altered, unconfirmed


class Confirmation(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"note": "GRN-2026-1187"}]})

    note: str = Field(default="", max_length=2000, description="What the ERP reported, e.g. its document number")


router = APIRouter(tags=["ERP outbox"], responses=REFUSALS)


@router.get("/outbox", responses=answers(409), summary="ERP instructions not yet confirmed, oldest first")
async def pending(_: OutboxReaderDep, engine: EngineDep) -> list[dict[str, Any]]:
    """`idempotency_key` (case, proposal, line) is stable: an ERP that imports one twice can tell."""
    with engine.connect() as connection:
        rows = unconfirmed(connection)
        problems = altered(connection, rows)
    if problems:  # as `outbox --export`: nothing goes to the ERP while any instruction was altered
        raise HTTPException(409, "ERP instructions no longer match their audit entries: " + "; ".join(problems))
    return [{"id": r.id, "idempotency_key": r.idempotency_key, "case": r.case_id, "disposition": r.disposition,
             "sku": r.sku, "site": r.site, "lot": r.lot, "serial": r.serial, "quantity": str(r.quantity),
             "value": str(r.value), "target": r.target,
             "postpone_to": r.postpone_to.isoformat() if r.postpone_to else None, "approved_by": r.approved_by,
             "state": r.state, "issued_at": r.issued_at.isoformat()} for r in rows]


@router.post("/outbox/{instruction_id}/confirm", responses=answers(404, 409),
             summary="Confirm that the ERP carried out one instruction")
async def confirm(instruction_id: Annotated[int, Path(ge=1, le=ROW_ID_MAX)], body: Confirmation, who: ErpDep,
                  client: ClientDep, engine: EngineDep) -> dict[str, Any]:
    done = await confirm_instruction(client, engine, instruction_id, who.person, body.note, who)
    return {"instruction": instruction_id, "case": done.case_id, "state": done.state}
