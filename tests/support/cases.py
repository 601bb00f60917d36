"""Helpers that read what a case did: its mirror row, the messages it queued, its audit trail, and
waiting until a workflow or the database shows a step."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sqlalchemy import Engine, select
from sqlmodel import col
from temporalio.client import WorkflowHandle

from audit.trail import entries
from governance.models import CaseRow
from notifications.models import Notification
from workflows.case import CaseWorkflow


def mirror(engine: Engine, case_id: str) -> CaseRow:
    with engine.connect() as connection:
        return CaseRow.model_validate(connection.execute(select(CaseRow).where(col(CaseRow.id) == case_id)).one()._mapping)


def notifications(engine: Engine, case_id: str) -> list[tuple[str, list[str]]]:
    """The messages the case queued, in order: (template, recipients) per recorded step."""
    with engine.connect() as connection:
        rows = connection.execute(select(Notification).where(col(Notification.case_id) == case_id)
                                  .order_by(col(Notification.id))).all()
    steps: dict[int, tuple[str, list[str]]] = {}
    for row in rows:
        steps.setdefault(row.snapshot["event_no"], (row.event, []))[1].append(row.recipient)
    return list(steps.values())


def trail(engine: Engine, case_id: str) -> list[str]:
    """Every audit entry of a case, its instructions' included, in chain order (as `audit show --case`)."""
    with engine.connect() as connection:
        return [e.action for e in entries(connection, case=case_id)]


async def until_state(handle: WorkflowHandle, state: str, engine: Engine) -> None:
    """Until the workflow and its mirror both show `state` (the mirror follows once the step is recorded)."""
    for _ in range(200):
        if (await handle.query(CaseWorkflow.view)).state == state and mirror(engine, handle.id).state == state:
            return
        await asyncio.sleep(0.05)
    pending = (await handle.describe()).raw_description.pending_activities
    raise AssertionError(f"{handle.id} never reached {state}: {(await handle.query(CaseWorkflow.view)).state}; "
                         f"pending activities: {pending}")


async def until(condition: Callable[[], object], what: str, seconds: float = 20) -> None:
    """Until `condition()` holds (polled every 0.1 s), or fail naming `what` was awaited."""
    for _ in range(int(seconds / 0.1)):
        if condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
