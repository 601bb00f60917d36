"""Case actions over HTTP: the same Updates as the CLI and the action links, in the caller's name.
The route checks the caller's role, then whether they may see the case at all (api/visibility.py: 404
otherwise, as for an unknown case); a signature also needs the signer's PIN (api/pins.py). The case
workflow's validators check everything else (is this person responsible, does the state allow it), so a
refusal carries the case's own words (409)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.auth import Principal, Role, require
from api.pins import PinRefused, authenticated, refusal_text
from api.problems import REFUSALS, ROW_ID_MAX, answers
from api.visibility import visible_case
from api.web import language_of
from workflows.case import CaseWorkflow
from workflows.case_messages import (
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

OWNERS = (Role.OWNER, Role.ADMIN)
SIGNERS = (Role.COMMITTEE, Role.QA, *OWNERS)
COMMENTERS = (*OWNERS, Role.COMMITTEE, Role.QA)
PAGE_ACTION_ROLES = {"acknowledge": OWNERS, "propose": OWNERS, "comment": COMMENTERS, "approve": SIGNERS,
                     "reject": SIGNERS}
"""The case page's forms take the roles of the routes they stand for."""


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
    model_config = ConfigDict(json_schema_extra={"examples": [{"instruction": 42, "note": "RMA-5531"}]})

    instruction: int = Field(ge=1, le=ROW_ID_MAX)
    note: str = ""


class CancelBody(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "stock written off in the ERP already"}]})

    reason: str = Field(min_length=1, max_length=2000)


async def perform(client: Client, case_id: str, method: Any, message: Any) -> Any:
    """The case's Update; its refusal becomes 409 with the case's own words, an unknown case 404."""
    handle = client.get_workflow_handle(case_id)
    try:
        return await handle.execute_update(method, message)
    except WorkflowUpdateFailedError as failure:
        cause = failure.cause
        raise HTTPException(409, cause.message if isinstance(cause, ApplicationError) else str(cause)) from None
    except RPCError as failure:
        if failure.status == RPCStatusCode.NOT_FOUND:
            raise HTTPException(404, f"no running case {case_id}") from None
        raise HTTPException(409, failure.message) from None


def pin_refusal(request: Request, who: Principal, refused: PinRefused) -> HTTPException:
    """403 for a missing, unset or wrong PIN; 429 with Retry-After while signing is locked."""
    text = refusal_text(language_of(request, who.person), refused)
    if refused.until is None:
        return HTTPException(403, text)
    wait = max(1, int((refused.until - datetime.now(UTC)).total_seconds()))
    return HTTPException(429, text, headers={"Retry-After": str(wait)})


def router() -> APIRouter:
    routes = APIRouter(tags=["case actions"], responses={**REFUSALS, **answers(404, 409, 429)})

    async def update(request: Request, case_id: str, who: Principal, method: Any, message: Any) -> dict[str, Any]:
        with request.app.state.engine.connect() as connection:
            visible_case(connection, who, case_id)
        return {"case": case_id, "result": await perform(request.app.state.client, case_id, method, message)}

    @routes.post("/cases/{case_id:path}/acknowledge", summary="Acknowledge a case")
    async def acknowledge(request: Request, case_id: str, who: Annotated[Principal, Depends(require(*OWNERS))]) -> dict[str, Any]:
        return await update(request, case_id, who, CaseWorkflow.acknowledge, Acknowledge(who.person))

    @routes.post("/cases/{case_id:path}/comment", summary="Comment on a case")
    async def comment(request: Request, case_id: str, body: CommentBody,
                      who: Annotated[Principal, Depends(require(*COMMENTERS))]) -> dict[str, Any]:
        return await update(request, case_id, who, CaseWorkflow.comment, Comment(who.person, body.text))

    @routes.post("/cases/{case_id:path}/reassign", summary="Reassign a case to a named person, with a reason")
    async def reassign(request: Request, case_id: str, body: ReassignBody,
                       who: Annotated[Principal, Depends(require(*OWNERS))]) -> dict[str, Any]:
        return await update(request, case_id, who, CaseWorkflow.reassign, Reassign(who.person, body.to, body.reason))

    @routes.post("/cases/{case_id:path}/snooze", summary="Snooze a case within the policy's bound")
    async def snooze(request: Request, case_id: str, body: SnoozeBody,
                     who: Annotated[Principal, Depends(require(*OWNERS))]) -> dict[str, Any]:
        return await update(request, case_id, who, CaseWorkflow.snooze, Snooze(who.person, body.days, body.reason))

    @routes.post("/cases/{case_id:path}/propose", summary="Propose a disposition")
    async def propose(request: Request, case_id: str, body: ProposeBody,
                      who: Annotated[Principal, Depends(require(*OWNERS))]) -> dict[str, Any]:
        lines = [ProposalLine(line.lot, line.serial, line.quantity) for line in body.lines]
        return await update(request, case_id, who, CaseWorkflow.propose,
                            Propose(who.person, body.disposition, lines, body.target, body.postpone_to, body.reason))

    @routes.post("/cases/{case_id:path}/sign", summary="Sign the open proposal (approved, rejected, reviewed)")
    async def sign(request: Request, case_id: str, body: SignBody,
                   who: Annotated[Principal, Depends(require(*SIGNERS))]) -> dict[str, Any]:
        with request.app.state.engine.connect() as connection:
            visible_case(connection, who, case_id)  # before the PIN: a hidden case is not worth a guess
        try:
            sign = await asyncio.to_thread(authenticated, request.app.state.engine, request.app.state.settings,
                                           Sign(who.person, body.meaning, body.reason), body.pin, case_id)
        except PinRefused as refused:
            raise pin_refusal(request, who, refused) from None
        return await update(request, case_id, who, CaseWorkflow.sign, sign)

    @routes.post("/cases/{case_id:path}/confirm", summary="Confirm an ERP instruction was carried out")
    async def confirm(request: Request, case_id: str, body: ConfirmBody,
                      who: Annotated[Principal, Depends(require(Role.ERP, Role.ADMIN))]) -> dict[str, Any]:
        return await update(request, case_id, who, CaseWorkflow.confirm, Confirm(who.person, body.instruction, body.note))

    @routes.post("/cases/{case_id:path}/cancel", summary="Cancel a case (a committee member, with a reason)")
    async def cancel(request: Request, case_id: str, body: CancelBody,
                     who: Annotated[Principal, Depends(require(Role.COMMITTEE))]) -> dict[str, Any]:
        return await update(request, case_id, who, CaseWorkflow.cancel, Cancel(who.person, body.reason))

    return routes
