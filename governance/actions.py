"""One way to act on a case: a person's action sent to its CaseWorkflow as the Update its message names,
for the API's routes, the case page, the action links, the ERP outbox and the console alike.

The case's validators decide (is this person responsible, does the state allow it), so a refusal carries
the case's own words; this module only turns every way an Update can fail into one CaseRefused with the
HTTP status the API answers. Someone acting through the API or a page (a `Principal`) must first be
allowed to see the case (governance/visibility.py), so a case they may not see is refused exactly as an
unknown one. Updates are sent by name: governance sits below the workflows, and the names live in one
mapping here that a test holds against CaseWorkflow's own declarations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from core.case import (
    Acknowledge,
    Cancel,
    CaseView,
    Comment,
    Confirm,
    Propose,
    Reassign,
    Sign,
    Snooze,
)
from governance.outbox import instruction
from governance.visibility import CaseRefused, Principal, visible_case

CaseMessage = Acknowledge | Comment | Reassign | Snooze | Propose | Sign | Confirm | Cancel
"""What a person can send a case."""


@dataclass(frozen=True)
class Message:
    """An Update (or Query) of CaseWorkflow by its name, and the type its answer decodes to."""

    name: str
    result: Any


UPDATES: dict[type, Message] = {
    Acknowledge: Message("acknowledge", str),
    Comment: Message("comment", int),
    Reassign: Message("reassign", list[str]),
    Snooze: Message("snooze", str),
    Propose: Message("propose", str),
    Sign: Message("sign", str),
    Confirm: Message("confirm", str),
    Cancel: Message("cancel", str),
}
"""Which Update each message is sent as; answers: the case's state after it (a comment's number, a
reassignment's assignees)."""
VIEW = Message("view", CaseView)
"""The Query that shows a running case (its state, and the dispositions its rule allows)."""


@dataclass(frozen=True)
class Confirmed:
    """An ERP instruction confirmed: its case and the case's state after it."""

    case_id: str
    state: str


async def act(client: Client, engine: Engine, case_id: str, message: CaseMessage, who: Principal | None = None) -> Any:
    """Send `message` to the case as its Update and return the Update's answer.

    With `who` (the API, a page, a link) the case must be one they may see (404 otherwise, as for an
    unknown case); without, the action comes from the console, whose operator holds the database anyway.
    Raises CaseRefused: 409 with the case's own words when its validator refuses, 404 when the case no
    longer runs, 409 when Temporal refuses for another reason."""
    if who is not None:
        with engine.connect() as connection:
            visible_case(connection, who, case_id)
    update = UPDATES[type(message)]
    handle = client.get_workflow_handle(case_id)
    try:
        return await handle.execute_update(update.name, message, result_type=update.result)
    except WorkflowUpdateFailedError as failure:
        cause = failure.cause
        words = cause.message if isinstance(cause, ApplicationError) else str(cause)
        raise CaseRefused(409, words, CaseRefused.REFUSED) from failure
    except RPCError as failure:
        if failure.status == RPCStatusCode.NOT_FOUND:
            raise CaseRefused(404, f"no running case {case_id}", CaseRefused.NOT_RUNNING, failure.message) from failure
        raise CaseRefused(409, failure.message, CaseRefused.UNAVAILABLE, failure.message) from failure


async def confirm_instruction(client: Client, engine: Engine, instruction_id: int, actor: str, note: str = "",
                              who: Principal | None = None) -> Confirmed:
    """Confirm one ERP instruction on its case (the case resolves when it was the last one).
    Raises CaseRefused: 404 for an instruction the outbox does not hold, else as `act`."""
    with engine.connect() as connection:
        row = instruction(connection, instruction_id)
    if row is None:
        raise CaseRefused(404, f"there is no instruction {instruction_id} in the outbox",
                          CaseRefused.UNKNOWN_INSTRUCTION)
    state = await act(client, engine, row.case_id, Confirm(actor, instruction_id, note), who)
    return Confirmed(row.case_id, state)


async def view_of(client: Client, case_id: str) -> CaseView:
    """The running case as its Query shows it; RPCError when Temporal no longer runs it."""
    view: CaseView = await client.get_workflow_handle(case_id).query(VIEW.name, result_type=VIEW.result)
    return view
