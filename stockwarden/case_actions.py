"""People's actions sent to case workflows as Updates, for the CLI and the API: one place that knows how
an outbox instruction leads to its case."""

from __future__ import annotations

from sqlalchemy import Engine
from temporalio.client import Client

from core.case import Confirm
from governance.outbox import instruction
from workflows.case import CaseWorkflow


class UnknownInstruction(LookupError):
    pass


def case_of_instruction(engine: Engine, instruction_id: int) -> str:
    with engine.connect() as connection:
        row = instruction(connection, instruction_id)
    if row is None:
        raise UnknownInstruction(f"there is no instruction {instruction_id} in the outbox")
    return row.case_id


async def confirm_instruction(client: Client, engine: Engine, instruction_id: int, actor: str, note: str = "") -> str:
    """Confirm one ERP instruction on its case; returns the case's state after it (resolved when it was the last).
    A refusal (already confirmed, case no longer waiting) raises temporalio's WorkflowUpdateFailedError."""
    handle = client.get_workflow_handle(case_of_instruction(engine, instruction_id))
    return await handle.execute_update(CaseWorkflow.confirm, Confirm(actor, instruction_id, note))
