"""Case actions over HTTP: the same Updates as the CLI and the action links, in the caller's name, sent
by the one case action (governance/actions.py). The route checks the caller's role; the action checks
whether they may see the case at all (governance/visibility.py: 404 otherwise, as for an unknown case);
a signature also needs the signer's PIN (api/pins.py). The case workflow's validators check everything
else (is this person responsible, does the state allow it), so a refusal carries the case's own words
(409; create_app answers every CaseRefused with its status)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine
from temporalio.client import Client

from api.auth import COMMENTERS, OWNERS, SIGNERS
from api.deps import (
    ClientDep,
    CommenterDep,
    CommitteeDep,
    EngineDep,
    ErpDep,
    OwnerDep,
    SettingsDep,
    SignerDep,
)
from api.outbox import carried_out, plain, refuse_more_than_open
from api.pins import PinRefused, authenticated, refusal_text
from api.problems import REFUSALS, ROW_ID_MAX, answers
from api.web import language_of
from core.case import (
    Acknowledge,
    Cancel,
    Comment,
    Confirm,
    ProposalLine,
    Propose,
    Reassign,
    Sign,
    Snooze,
)
from governance.actions import CaseMessage, act
from governance.outbox import instruction
from governance.visibility import Principal, visible_case

PAGE_ACTION_ROLES = {"acknowledge": OWNERS, "propose": OWNERS, "comment": COMMENTERS, "approve": SIGNERS,
                     "reject": SIGNERS}
"""The case page's forms take the roles of the routes they stand for."""

router = APIRouter(tags=["case actions"], responses={**REFUSALS, **answers(404, 409, 429)})


class CommentBody(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"text": "调拨到北京仓 / moving them to Beijing"}]})

    text: str = Field(min_length=1, max_length=2000)


class ReassignBody(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"to": "wang.fang@example.com", "reason": "she runs the Guangzhou site"}]})

    to: str = Field(min_length=3, max_length=200)
    reason: str = Field(min_length=1, max_length=2000)


class SnoozeBody(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"days": 7, "reason": "the hospital tender closes next week"}]})

    days: float = Field(gt=0, le=365)
    reason: str = Field(min_length=1, max_length=2000)


class LineBody(BaseModel):
    lot: str = ""
    serial: str = ""
    quantity: str = Field(pattern=r"^[0-9]+(\.[0-9]+)?$")


class ProposeBody(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"disposition": "return_to_supplier", "lines": [{"lot": "L2", "serial": "S2", "quantity": "1"}], "reason": "inside the return window"}]})

    disposition: str
    lines: list[LineBody] = Field(min_length=1)
    target: str = ""
    postpone_to: str = ""
    reason: str = ""


class SignBody(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"meaning": "approved", "reason": "", "pin": "482916"}]})

    meaning: str = Field(pattern="^(approved|rejected|reviewed)$")
    reason: str = ""
    pin: str = Field(default="", max_length=64, description="The signer's signing PIN (stockwarden pin set, /pages/pin)")


class ConfirmBody(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"instruction": 42, "note": "RMA-5531"},
                                                              {"instruction": 42, "note": "RMA-5532", "quantity": "30"}]})

    instruction: int = Field(ge=1, le=ROW_ID_MAX)
    note: str = ""
    quantity: Decimal | None = carried_out()


class CancelBody(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "stock written off in the ERP already"}]})

    reason: str = Field(min_length=1, max_length=2000)


def pin_refusal(request: Request, who: Principal, refused: PinRefused) -> HTTPException:
    """403 for a missing, unset or wrong PIN; 429 with Retry-After while signing is locked."""
    text = refusal_text(language_of(request, who.person), refused)
    if refused.until is None:
        return HTTPException(403, text)
    wait = max(1, int((refused.until - datetime.now(UTC)).total_seconds()))
    return HTTPException(429, text, headers={"Retry-After": str(wait)})


async def _sent(client: Client, engine: Engine, case_id: str, who: Principal, message: CaseMessage) -> dict[str, Any]:
    """The action's answer: the case and what its Update returned."""
    return {"case": case_id, "result": await act(client, engine, case_id, message, who)}


@router.post("/cases/{case_id:path}/acknowledge", summary="Acknowledge a case")
async def acknowledge(case_id: str, who: OwnerDep, client: ClientDep, engine: EngineDep) -> dict[str, Any]:
    return await _sent(client, engine, case_id, who, Acknowledge(who.person))


@router.post("/cases/{case_id:path}/comment", summary="Comment on a case")
async def comment(case_id: str, body: CommentBody, who: CommenterDep, client: ClientDep,
                  engine: EngineDep) -> dict[str, Any]:
    return await _sent(client, engine, case_id, who, Comment(who.person, body.text))


@router.post("/cases/{case_id:path}/reassign", summary="Reassign a case to a named person, with a reason")
async def reassign(case_id: str, body: ReassignBody, who: OwnerDep, client: ClientDep,
                   engine: EngineDep) -> dict[str, Any]:
    return await _sent(client, engine, case_id, who, Reassign(who.person, body.to, body.reason))


@router.post("/cases/{case_id:path}/snooze", summary="Snooze a case within the policy's bound")
async def snooze(case_id: str, body: SnoozeBody, who: OwnerDep, client: ClientDep, engine: EngineDep) -> dict[str, Any]:
    return await _sent(client, engine, case_id, who, Snooze(who.person, body.days, body.reason))


@router.post("/cases/{case_id:path}/propose", summary="Propose a disposition")
async def propose(case_id: str, body: ProposeBody, who: OwnerDep, client: ClientDep, engine: EngineDep) -> dict[str, Any]:
    lines = [ProposalLine(line.lot, line.serial, line.quantity) for line in body.lines]
    return await _sent(client, engine, case_id, who,
                       Propose(who.person, body.disposition, lines, body.target, body.postpone_to, body.reason))


@router.post("/cases/{case_id:path}/sign", summary="Sign the open proposal (approved, rejected, reviewed)")
async def sign(request: Request, case_id: str, body: SignBody, who: SignerDep, client: ClientDep,
               engine: EngineDep, settings: SettingsDep) -> dict[str, Any]:
    with engine.connect() as connection:
        visible_case(connection, who, case_id)  # before the PIN: a hidden case is not worth a guess
    try:
        signed = await asyncio.to_thread(authenticated, engine, settings, Sign(who.person, body.meaning, body.reason),
                                         body.pin, case_id)
    except PinRefused as refused:
        raise pin_refusal(request, who, refused) from None
    return await _sent(client, engine, case_id, who, signed)


@router.post("/cases/{case_id:path}/confirm", summary="Confirm an ERP instruction was carried out")
async def confirm(request: Request, case_id: str, body: ConfirmBody, who: ErpDep, client: ClientDep,
                  engine: EngineDep) -> dict[str, Any]:
    """With `quantity`, only that much was carried out: the instruction records it and the rest stays governed."""
    if body.quantity is None:
        return await _sent(client, engine, case_id, who, Confirm(who.person, body.instruction, body.note))
    with engine.connect() as connection:
        visible_case(connection, who, case_id)
        row = instruction(connection, body.instruction)
    if row is not None and row.case_id == case_id:  # another case's instruction: this case refuses it
        refuse_more_than_open(row, body.quantity, language_of(request, who.person))
    return await _sent(client, engine, case_id, who, Confirm(who.person, body.instruction, body.note, plain(body.quantity)))


@router.post("/cases/{case_id:path}/cancel", summary="Cancel a case (a committee member, with a reason)")
async def cancel(case_id: str, body: CancelBody, who: CommitteeDep, client: ClientDep, engine: EngineDep) -> dict[str, Any]:
    return await _sent(client, engine, case_id, who, Cancel(who.person, body.reason))
