"""What the action forms send (the signed-link pages and the case page), read into the case's messages
and sent through the one case action (governance/actions.py). A quantity that is not a number raises
InvalidOperation, a signature without its signer's PIN PinRefused; everything else the case's Update
checks (CaseRefused)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine
from temporalio.client import Client

from api.pins import authenticated
from core.case import Acknowledge, CaseLine, Comment, ProposalLine, Propose, Sign
from core.settings import Settings
from governance.actions import CaseMessage, act
from governance.visibility import Principal

DONE = {"acknowledge": "acknowledged", "comment": "commented", "propose": "proposed", "approve": "signed",
        "reject": "signed"}
"""The text key that says a form's action was recorded."""


def propose_from_form(form: Any, person: str, lines: list[CaseLine]) -> Propose:
    """`qty_<n>` per case line (empty: the line is left out), `disposition`, `target`, `reason`."""
    chosen = []
    for index, line in enumerate(lines):
        quantity = str(form.get(f"qty_{index}", "")).strip()
        if quantity:
            Decimal(quantity)
            chosen.append(ProposalLine(line.lot, line.serial, quantity))
    return Propose(person, str(form.get("disposition", "")), chosen, target=str(form.get("target", "")),
                   reason=str(form.get("reason", "")))


def sign_from_form(form: Any, person: str, action: str) -> Sign:
    """`reject` signs rejected; `approve` signs the chosen meaning (approved or reviewed)."""
    chosen = str(form.get("meaning", "approved"))
    meaning = "rejected" if action == "reject" else chosen if chosen in ("approved", "reviewed") else "approved"
    return Sign(person, meaning, str(form.get("reason", "")))


def message_from_form(action: str, form: Any, person: str, lines: list[CaseLine]) -> CaseMessage:
    """The message a form's action stands for: acknowledge, comment, propose, else a signature (approve, reject)."""
    if action == "acknowledge":
        return Acknowledge(person)
    if action == "comment":
        return Comment(person, str(form.get("text", "")))
    if action == "propose":
        return propose_from_form(form, person, lines)
    return sign_from_form(form, person, action)


async def act_on_form(client: Client, engine: Engine, settings: Settings, case_id: str, who: Principal,
                      action: str, form: Any, lines: list[CaseLine]) -> Any:
    """A form's action sent to the case in `who`'s name; a signature first proves its signer by their PIN."""
    message = message_from_form(action, form, who.person, lines)
    if isinstance(message, Sign):
        message = await asyncio.to_thread(authenticated, engine, settings, message, str(form.get("pin", "")), case_id)
    return await act(client, engine, case_id, message, who)
