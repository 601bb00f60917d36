"""The ERP's side of approved dispositions over HTTP: the instructions not yet confirmed (return,
move, cut a PO line, sell or donate, scrap) and their confirmation, which reaches the case as its
Update (the case resolves when its last instruction is confirmed)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from api.actions import perform
from api.auth import Principal, Role, require
from api.problems import REFUSALS, ROW_ID_MAX, answers
from api.visibility import visible_case
from governance.outbox import altered, unconfirmed
from stockwarden.case_actions import UnknownInstruction, case_of_instruction
from workflows.case import CaseWorkflow
from workflows.case_messages import Confirm

ERP = (Role.ERP, Role.ADMIN)


class Confirmation(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"note": "GRN-2026-1187"}]})

    note: str = Field(default="", max_length=2000, description="What the ERP reported, e.g. its document number")


def router() -> APIRouter:
    routes = APIRouter(tags=["ERP outbox"], responses=REFUSALS)

    @routes.get("/outbox", responses=answers(409), summary="ERP instructions not yet confirmed, oldest first")
    async def pending(request: Request, _: Annotated[Principal, Depends(require(*ERP, Role.VIEWER, Role.COMMITTEE))],
                      ) -> list[dict[str, Any]]:
        """`idempotency_key` (case, proposal, line) is stable: an ERP that imports one twice can tell."""
        with request.app.state.engine.connect() as connection:
            rows = unconfirmed(connection)
            problems = altered(connection, rows)
        if problems:  # as `outbox --export`: nothing goes to the ERP while any instruction was altered
            raise HTTPException(409, "ERP instructions no longer match their audit entries: " + "; ".join(problems))
        return [{"id": r.id, "idempotency_key": r.idempotency_key, "case": r.case_id, "disposition": r.disposition,
                 "sku": r.sku, "site": r.site, "lot": r.lot, "serial": r.serial, "quantity": str(r.quantity),
                 "value": str(r.value), "target": r.target,
                 "postpone_to": r.postpone_to.isoformat() if r.postpone_to else None, "approved_by": r.approved_by,
                 "state": r.state, "issued_at": r.issued_at.isoformat()} for r in rows]

    @routes.post("/outbox/{instruction_id}/confirm", responses=answers(404, 409),
                 summary="Confirm that the ERP carried out one instruction")
    async def confirm(request: Request, instruction_id: Annotated[int, Path(ge=1, le=ROW_ID_MAX)], body: Confirmation,
                      who: Annotated[Principal, Depends(require(*ERP))]) -> dict[str, Any]:
        try:
            case_id = case_of_instruction(request.app.state.engine, instruction_id)
        except UnknownInstruction as missing:
            raise HTTPException(404, str(missing)) from None
        with request.app.state.engine.connect() as connection:
            visible_case(connection, who, case_id)  # the one check every action passes (api/visibility.py)
        state = await perform(request.app.state.client, case_id, CaseWorkflow.confirm,
                              Confirm(who.person, instruction_id, body.note))
        return {"instruction": instruction_id, "case": case_id, "state": state}

    return routes
