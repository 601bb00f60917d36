"""CaseWorkflow on real Temporal servers: SLA reminders and escalation over simulated days (the
time-skipping test server), owner Updates refused or accepted (the dev server, which has Updates),
the case mirror and the audit trail written once per step."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, select
from sqlmodel import col
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from audit.models import AuditEntry
from audit.trail import entries, verify
from core.case import Acknowledge, CaseLine, CaseState, CaseStatus, Comment, Lines, Reassign, Snooze
from stockwarden.temporal import WORKFLOWS, build_worker
from tests.support.cases import mirror, notifications
from tests.support.data import case_input
from workflows.case import CaseWorkflow

LINES = [CaseLine("L1", "S1", "12000.5", {"days_since_movement": 200}),
         CaseLine("L1", "S2", "12000.5", {"days_since_movement": 240})]


async def start(env: WorkflowEnvironment, queue: str) -> WorkflowHandle:
    case_id = f"case-idle-high-value-HIP-1-SH01-{queue[:8]}"
    return await env.client.start_workflow(CaseWorkflow.run, case_input(case_id), id=case_id, task_queue=queue,
                                           start_signal="refresh", start_signal_args=[Lines(LINES)])


def actions(engine: Engine, case_id: str) -> list[str]:
    with engine.connect() as connection:
        by_case = [e.action for e in entries(connection, subject=f"case:{case_id}")]
        by_workflow = [e.action for e in connection.execute(
            select(AuditEntry).where(col(AuditEntry.workflow_id) == case_id).order_by(col(AuditEntry.seq)))]
    assert by_case == by_workflow
    return by_case


@pytest.mark.asyncio(loop_scope="module")
async def test_an_unacknowledged_case_is_reminded_then_escalated_to_the_manager_then_the_committee(
        skipping: WorkflowEnvironment, engine: Engine) -> None:
    queue = str(uuid.uuid4())
    async with build_worker(skipping.client, engine, queue):
        handle = await start(skipping, queue)
        await skipping.sleep(timedelta(days=1))
        view = await handle.query(CaseWorkflow.view)
        assert (view.state, view.assignees, view.lines) == ("open", ["zhang.wei@example.com"], 2)
        await skipping.sleep(timedelta(days=2, hours=1))  # past the 3-day acknowledge deadline
        view = await handle.query(CaseWorkflow.view)
        assert view.escalation_level == 1 and view.assignees == ["zhang.wei@example.com", "li.na@example.com"]
        await skipping.sleep(timedelta(days=3))  # the manager's 3 days pass too
        view = await handle.query(CaseWorkflow.view)
        assert view.escalation_level == 2
        assert view.assignees == ["zhang.wei@example.com", "li.na@example.com", "cfo@example.com",
                                  "qa.director@example.com"]
        row = mirror(engine, handle.id)
        assert (row.state, row.escalation_level, row.value) == ("open", 2, 24001)
        await handle.signal(CaseWorkflow.refresh, Lines([]))  # the next scan no longer finds the stock
        assert await handle.result() == "resolved_by_itself"
    assert actions(engine, handle.id) == ["case.opened", "case.reminded", "case.escalated", "case.reminded",
                                          "case.escalated", "case.resolved_by_itself"]
    owner, manager, committee = ["zhang.wei@example.com"], ["li.na@example.com"], ["cfo@example.com", "qa.director@example.com"]
    assert notifications(engine, handle.id) == [
        ("case_assigned", owner), ("reminder", owner), ("escalated", owner + manager),
        ("reminder", owner + manager), ("escalated", owner + manager + committee),
        ("resolved_by_itself", owner + manager + committee)]
    await Replayer(workflows=WORKFLOWS).replay_workflow(await handle.fetch_history())
    assert mirror(engine, handle.id).state == "resolved_by_itself"
    with engine.connect() as connection:
        assert verify(connection)[1] == []


@pytest.mark.asyncio(loop_scope="module")
async def test_owner_updates_are_validated_before_they_change_anything(dev: WorkflowEnvironment, engine: Engine) -> None:
    queue = str(uuid.uuid4())
    async with build_worker(dev.client, engine, queue):
        handle = await start(dev, queue)
        with pytest.raises(WorkflowUpdateFailedError) as wrong_actor:
            await handle.execute_update(CaseWorkflow.acknowledge, Acknowledge("mallory@example.com"))
        assert "mallory@example.com is not responsible for this case" in str(wrong_actor.value.cause)
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(CaseWorkflow.comment, Comment("zhang.wei@example.com", "  "))
        assert (await handle.query(CaseWorkflow.view)).state == "open"

        state = await handle.execute_update(CaseWorkflow.acknowledge, Acknowledge("zhang.wei@example.com"))
        assert state == "acknowledged"
        await handle.execute_update(CaseWorkflow.comment, Comment("zhang.wei@example.com", "调拨到北京 BJ02"))
        with pytest.raises(WorkflowUpdateFailedError) as twice:
            await handle.execute_update(CaseWorkflow.acknowledge, Acknowledge("zhang.wei@example.com"))
        assert "only an open case can be acknowledged" in str(twice.value.cause)
        await handle.signal(CaseWorkflow.refresh, Lines([]))
        assert await handle.result() == "resolved_by_itself"
    assert actions(engine, handle.id) == ["case.opened", "case.acknowledged", "case.commented",
                                          "case.resolved_by_itself"]
    # The recorded history replays on the current code: the workflow is deterministic.
    history = await handle.fetch_history()
    replayer = Replayer(workflows=WORKFLOWS, data_converter=dev.client.data_converter)  # encrypted history
    await replayer.replay_workflow(history)


@pytest.mark.asyncio(loop_scope="module")
async def test_reassign_and_snooze_are_bounded_and_audited(dev: WorkflowEnvironment, engine: Engine) -> None:
    queue = str(uuid.uuid4())
    async with build_worker(dev.client, engine, queue):
        handle = await start(dev, queue)
        due = datetime.fromisoformat((await handle.query(CaseWorkflow.view)).acknowledge_due)
        refusals = {
            "allows 5 more day(s) of snooze on this case, not 7": Snooze("zhang.wei@example.com", 7, "stocktake"),
            "needs a reason": Snooze("zhang.wei@example.com", 1, " "),
            "not responsible": Snooze("li.na@example.com", 1, "not mine"),
        }
        for expected, request in refusals.items():
            with pytest.raises(WorkflowUpdateFailedError) as refused:
                await handle.execute_update(CaseWorkflow.snooze, request)
            assert expected in str(refused.value.cause)
        moved = await handle.execute_update(CaseWorkflow.snooze, Snooze("zhang.wei@example.com", 3, "盘点中 stocktake"))
        assert datetime.fromisoformat(moved) - due == timedelta(days=3)
        with pytest.raises(WorkflowUpdateFailedError) as too_much:
            await handle.execute_update(CaseWorkflow.snooze, Snooze("zhang.wei@example.com", 3, "again"))
        assert "allows 2 more day(s)" in str(too_much.value.cause)

        for bad in (Reassign("zhang.wei@example.com", "wang.fang", "BJ02 owns it"),
                    Reassign("zhang.wei@example.com", "wang.fang@example.com", ""),
                    Reassign("mallory@example.com", "wang.fang@example.com", "because")):
            with pytest.raises(WorkflowUpdateFailedError):
                await handle.execute_update(CaseWorkflow.reassign, bad)
        assignees = await handle.execute_update(
            CaseWorkflow.reassign, Reassign("zhang.wei@example.com", "wang.fang@example.com", "BJ02 owns this stock"))
        assert assignees == ["wang.fang@example.com"]
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(CaseWorkflow.acknowledge, Acknowledge("zhang.wei@example.com"))
        assert await handle.execute_update(CaseWorkflow.acknowledge, Acknowledge("wang.fang@example.com")) == "acknowledged"
        await handle.signal(CaseWorkflow.refresh, Lines([]))
        assert await handle.result() == "resolved_by_itself"
    assert actions(engine, handle.id) == ["case.opened", "case.snoozed", "case.reassigned", "case.acknowledged",
                                          "case.resolved_by_itself"]
    assert mirror(engine, handle.id).assignees == ["wang.fang@example.com"]
    replayer = Replayer(workflows=WORKFLOWS, data_converter=dev.client.data_converter)  # encrypted history
    await replayer.replay_workflow(await handle.fetch_history())


@pytest.mark.asyncio(loop_scope="module")
async def test_a_long_lived_case_continues_as_new_and_keeps_its_state(dev: WorkflowEnvironment, engine: Engine) -> None:
    queue = str(uuid.uuid4())
    async with build_worker(dev.client, engine, queue):
        case_id = f"case-long-{queue[:8]}"
        handle = await dev.client.start_workflow(
            CaseWorkflow.run, replace(case_input(case_id), history_limit=30), id=case_id, task_queue=queue,
            start_signal="refresh", start_signal_args=[Lines(LINES)])
        await handle.execute_update(CaseWorkflow.acknowledge, Acknowledge("zhang.wei@example.com"))
        first_run = (await handle.describe()).run_id
        for _day in range(25):  # a scan a day refreshes the lines, unchanged: no step, but history grows
            await handle.signal(CaseWorkflow.refresh, Lines(LINES))
        for _ in range(100):
            if (await handle.describe()).run_id != first_run:
                break
            await asyncio.sleep(0.1)
        assert (await handle.describe()).run_id != first_run
        view = await handle.query(CaseWorkflow.view)
        assert (view.state, view.assignees) == ("acknowledged", ["zhang.wei@example.com"])
        await handle.signal(CaseWorkflow.refresh, Lines([]))
        assert await handle.result() == "resolved_by_itself"
    assert actions(engine, case_id) == ["case.opened", "case.acknowledged", "case.resolved_by_itself"]


@pytest.mark.asyncio(loop_scope="module")
async def test_refreshes_that_change_the_lines_across_continue_as_new_are_recorded_in_order(
        dev: WorkflowEnvironment, engine: Engine) -> None:
    """Each scan a day changes the lines while the case keeps continuing as new, and the last one finds no
    stock. A signal that lands while a run closes makes Temporal refuse the close and the worker replay the
    run's last task with the signal first: a step a local activity recorded in the refused task may then
    be taken again as another step under the same number. The trail must still end in the step Temporal
    ends in, and the mirror must show the last lines."""
    queue = str(uuid.uuid4())
    async with build_worker(dev.client, engine, queue):
        case_id = f"case-long-changing-{queue[:8]}"
        handle = await dev.client.start_workflow(
            CaseWorkflow.run, replace(case_input(case_id), history_limit=30), id=case_id, task_queue=queue,
            start_signal="refresh", start_signal_args=[Lines(LINES)])
        await handle.execute_update(CaseWorkflow.acknowledge, Acknowledge("zhang.wei@example.com"))
        first_run = (await handle.describe()).run_id
        for day in range(40):  # sent as fast as they go, so some land while a run closes
            await handle.signal(CaseWorkflow.refresh, Lines([replace(LINES[0], quantity=str(100 - day))]))
        await handle.signal(CaseWorkflow.refresh, Lines([replace(LINES[0], quantity="7")]))
        for _ in range(200):
            if mirror(engine, case_id).lines[0]["quantity"] == "7":
                break
            await asyncio.sleep(0.05)
        assert (await handle.describe()).run_id != first_run
        assert mirror(engine, case_id).lines[0]["quantity"] == "7"  # the last refresh reached the mirror
        await handle.signal(CaseWorkflow.refresh, Lines([]))
        assert await handle.result() == "resolved_by_itself"
    recorded = actions(engine, case_id)
    assert recorded[:2] == ["case.opened", "case.acknowledged"] and recorded[-1] == "case.resolved_by_itself"
    assert set(recorded[2:-1]) == {"case.refreshed"}
    assert mirror(engine, case_id).state == "resolved_by_itself"


@pytest.mark.asyncio(loop_scope="module")
async def test_a_case_outlives_its_worker(dev: WorkflowEnvironment, engine: Engine) -> None:
    """The worker stops with the case waiting for its owner; a new worker process picks it up where it was."""
    queue = str(uuid.uuid4())
    async with build_worker(dev.client, engine, queue):
        handle = await start(dev, queue)
        for _ in range(100):
            if actions(engine, handle.id):
                break
            await asyncio.sleep(0.05)
    # No worker now: the case waits in Temporal, nothing is lost.
    async with build_worker(dev.client, engine, queue):
        assert await handle.execute_update(CaseWorkflow.acknowledge, Acknowledge("zhang.wei@example.com")) == "acknowledged"
        await handle.signal(CaseWorkflow.refresh, Lines([]))
        assert await handle.result() == "resolved_by_itself"
    assert actions(engine, handle.id) == ["case.opened", "case.acknowledged", "case.resolved_by_itself"]


@pytest.mark.asyncio(loop_scope="module")
async def test_an_acknowledged_case_escalates_when_its_resolve_deadline_lapses(
        skipping: WorkflowEnvironment, engine: Engine) -> None:
    """The time-skipping server has no Updates, so the case starts as acknowledged (as a case continued
    as new would) and 30 simulated days pass without a disposition."""
    queue = str(uuid.uuid4())
    now = await skipping.get_current_time()
    carried = CaseState(state=CaseStatus.ACKNOWLEDGED, lines=LINES, assignees=["zhang.wei@example.com"], level=0, events=2,
                        acknowledge_due=(now - timedelta(days=1)).isoformat(),
                        resolve_due=(now + timedelta(days=29)).isoformat(), snoozed_seconds=0, reminded="",
                        timeline=[])
    case_id = f"case-resolve-sla-{queue[:8]}"
    async with build_worker(skipping.client, engine, queue):
        handle = await skipping.client.start_workflow(
            CaseWorkflow.run, replace(case_input(case_id), carried=carried), id=case_id, task_queue=queue)
        await skipping.sleep(timedelta(days=28))  # past 75 % of the 30-day window: reminded, not escalated
        view = await handle.query(CaseWorkflow.view)
        assert (view.state, view.escalation_level) == ("acknowledged", 0)
        await skipping.sleep(timedelta(days=1, hours=1))  # the resolve deadline has passed
        view = await handle.query(CaseWorkflow.view)
        assert (view.escalation_level, view.assignees) == (1, ["zhang.wei@example.com", "li.na@example.com"])
        assert datetime.fromisoformat(view.resolve_due) - datetime.fromisoformat(carried.resolve_due) > timedelta(days=29)
        await skipping.sleep(timedelta(days=31))
        assert (await handle.query(CaseWorkflow.view)).escalation_level == 2
        await handle.signal(CaseWorkflow.refresh, Lines([]))
        assert await handle.result() == "resolved_by_itself"
    with engine.connect() as connection:
        escalations = [e for e in entries(connection, subject=f"case:{case_id}") if e.action == "case.escalated"]
    assert [e.reason for e in escalations] == ["resolve deadline passed"] * 2
    assert mirror(engine, case_id).escalation_level == 2
