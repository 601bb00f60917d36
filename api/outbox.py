"""The ERP's side of approved dispositions over HTTP: the instructions not yet confirmed (return,
move, cut a PO line, sell or donate, scrap) and their confirmation, which reaches the case as its
Update through the one case action (governance/actions.py; the case resolves when its last instruction
is confirmed). A confirmation may say that less was carried out than instructed (the ERP posted 30 of 42):
the rest stays on the case's line, still governed."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine
from temporalio.client import Client

from api.deps import ClientDep, EngineDep, ErpDep, OutboxReaderDep
from api.problems import REFUSALS, ROW_ID_MAX, answers
from api.texts import refusal_words
from api.web import language_of
from core.case import Confirm
from governance.actions import Confirmed, act, confirm_instruction
from governance.models import ErpInstruction
from governance.outbox import CONFIRMED, altered, instruction, unconfirmed
from governance.visibility import CaseRefused, Principal, visible_case


def carried_out() -> Any:
    """The optional quantity of a confirmation, as both confirming routes take it (the outbox's and the case's)."""
    return Field(default=None, gt=0, max_digits=20, decimal_places=6,
                 description="What the ERP carried out, when less than instructed (a partial confirmation: the rest "
                             "stays on the case's line, still governed); at most what is still open on the "
                             "instruction. Left out: all of it.")


class Confirmation(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"note": "GRN-2026-1187"},
                                                              {"note": "GRN-2026-1188", "quantity": "30"}]})

    note: str = Field(default="", max_length=2000, description="What the ERP reported, e.g. its document number")
    quantity: Decimal | None = carried_out()


def plain(number: Decimal) -> str:
    """30, not 3E+1 or 30.000000: the case compares and records the quantity as the ERP meant it."""
    return format(number.normalize(), "f")


def refuse_more_than_open(row: ErpInstruction, quantity: Decimal, language: str | None) -> None:
    """CaseRefused (409, in `language`; both languages with None) when `quantity` is more than is still open
    on the instruction: nothing is sent to the case. A confirmed instruction is left to the case to refuse
    (it awaits no confirmation), in its own words."""
    if row.state != CONFIRMED and quantity > row.quantity:
        raise CaseRefused(409, refusal_words(language, "confirm_more_than_open", instruction=row.id,
                                             open=plain(row.quantity), asked=plain(quantity)), CaseRefused.REFUSED)


async def confirm_carried_out(client: Client, engine: Engine, instruction_id: int, actor: str, note: str,
                              quantity: Decimal | None, language: str | None,
                              who: Principal | None = None) -> Confirmed:
    """Confirm one ERP instruction on its case, all of it (`quantity` None) or the part carried out, for the
    API and the console alike. Raises CaseRefused: 404 for an instruction the outbox does not hold (or whose
    case `who` may not see), 409 for more than is open on it, else as the one case action."""
    if quantity is None:
        return await confirm_instruction(client, engine, instruction_id, actor, note, who)
    with engine.connect() as connection:
        row = instruction(connection, instruction_id)
        if row is not None and who is not None:
            visible_case(connection, who, row.case_id)  # a case they may not see says nothing of its stock
    if row is None:
        return await confirm_instruction(client, engine, instruction_id, actor, note, who)  # its 404
    refuse_more_than_open(row, quantity, language)
    state = await act(client, engine, row.case_id, Confirm(actor, instruction_id, note, plain(quantity)), who)
    return Confirmed(row.case_id, state)


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
async def confirm(request: Request, instruction_id: Annotated[int, Path(ge=1, le=ROW_ID_MAX)], body: Confirmation,
                  who: ErpDep, client: ClientDep, engine: EngineDep) -> dict[str, Any]:
    """With `quantity`, only that much was carried out: the instruction records it and the rest stays governed."""
    done = await confirm_carried_out(client, engine, instruction_id, who.person, body.note, body.quantity,
                                     language_of(request, who.person), who)
    return {"instruction": instruction_id, "case": done.case_id, "state": done.state}
