"""Helpers that read what a case did: its mirror row, the messages it queued, its audit trail, its ERP
instructions, and waiting until a workflow or the database shows a step; the case events a scan's steps
record, written straight to the mirror (for lists, pages and the pack without a workflow); and one that
takes a case as far as an instruction awaiting the ERP's confirmation."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sqlalchemy import Engine, select
from sqlmodel import col
from temporalio.client import Client, WorkflowHandle

from audit.trail import entries
from core.case import CaseEvent, CaseLine, case_id, from_json, position_key, to_json
from governance.models import CaseRow, ErpInstruction
from governance.service import record_event
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


def _mirrored_state(engine: Engine, case_id: str) -> str | None:
    """The mirror's state of the case, None before its first step is recorded (a new case is open in
    Temporal before "case.opened" reaches the mirror: CI once read the mirror in that moment)."""
    with engine.connect() as connection:
        return connection.execute(select(col(CaseRow.state)).where(col(CaseRow.id) == case_id)).scalar()


async def until_state(handle: WorkflowHandle, state: str, engine: Engine) -> None:
    """Until the workflow and its mirror both show `state` (the mirror follows once the step is recorded)."""
    for _ in range(200):
        if (await handle.query(CaseWorkflow.view)).state == state and _mirrored_state(engine, handle.id) == state:
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


async def instructed_42(client: Client, engine: Engine, queue: str) -> tuple[WorkflowHandle, ErpInstruction]:
    """On the lot_of_42 company, with a worker on `queue`: a scan through Temporal opens the case of CAT-1 at
    SH01, its owner proposes to scrap all 42 of lot R1 (no signature needed), and the case awaits the ERP's
    confirmation of its one instruction, which is returned with the case."""
    from core.case import ProposalLine, Propose
    from workflows.scan import ScanRequest, ScanWorkflow

    await client.execute_workflow(ScanWorkflow.run, ScanRequest(partitions=1), id=f"scan-{queue}", task_queue=queue)
    handle = client.get_workflow_handle(position_key("CAT-1", "SH01", "zhang.wei@example.com"))
    await until_state(handle, "open", engine)
    await handle.execute_update(CaseWorkflow.propose, Propose("zhang.wei@example.com", "scrap",
                                                              [ProposalLine("R1", "", "42")], reason="crushed boxes"))
    await until_state(handle, "awaiting_confirmation", engine)
    [instruction] = instructions(engine, handle.id)
    return handle, instruction


def instructions(engine: Engine, case_id: str) -> list[ErpInstruction]:
    """The case's ERP instructions as the outbox holds them, in the order they were issued."""
    with engine.connect() as connection:
        return [ErpInstruction.model_validate(row._mapping) for row in connection.execute(
            select(ErpInstruction).where(col(ErpInstruction.case_id) == case_id).order_by(col(ErpInstruction.id)))]


def position_event(sku: str, site: str, lots: list[tuple[str, str]], *, no: int = 1, state: str = "open",
                   owner: str = "zhang.wei@example.com", po: str = "", lines: list[CaseLine] | None = None,
                   acknowledge_due: str = "2026-12-01T00:00:00+00:00",
                   resolve_due: str = "2026-12-31T00:00:00+00:00") -> CaseEvent:
    """Step `no` of the case of the position (sku, site, owner) as a scan records it (opened, then refreshed),
    in `state`: its lines are these (lot, serial) at one unit worth 100.00 each, and the PO line `po` (5 on
    order, worth 50.00) when given; or `lines` as they are."""
    if lines is None:
        lines = [CaseLine(lot, serial, "100.00", {}, quantity="1") for lot, serial in lots]
        if po:
            lines.append(CaseLine("", "", "50.00", {}, quantity="5", po=po))
    position = position_key(sku, site, owner)
    return from_json(CaseEvent, {
        "case_id": case_id(position), "event_no": no, "action": "case.opened" if no == 1 else "case.refreshed",
        "actor": "stockwarden", "state": state, "before": None, "after": state, "reason": "", "rule": "idle",
        "sku": sku, "site": site, "severity": "high", "owner": owner, "assignees": [owner], "escalation_level": 0,
        "acknowledge_due": acknowledge_due, "resolve_due": resolve_due, "lines": to_json(lines),
        "policy_version": "t v1", "at": f"2026-11-{20 + no}T00:00:00+00:00", "position": position})


def record(engine: Engine, *events: CaseEvent) -> None:
    """Record case events in the mirror as the case's steps would, each taken (none a repeat)."""
    with engine.begin() as connection:
        for event in events:
            assert record_event(connection, event)
