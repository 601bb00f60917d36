"""One case per stock position (issue 15), on the dev server and both databases: a lot's findings are one
line, governed by the most severe, allowing only what they all allow; unusable stock is never put to use;
two plans never hold more of a lot than it has, even from two cases at once; a partial confirmation leaves
the rest governed; stock that goes from under a plan trims it before anything is instructed."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlmodel import col
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from core.case import Acknowledge, Cancel, CaseInput, Confirm, ProposalLine, Propose, Sign, position_key
from governance.models import CaseRow, ErpInstruction, LotReservation
from governance.opening import CaseRequest, case_requests
from inventory.ingest import ingest
from rules.incremental import reevaluate
from rules.scan import scan
from rules.versions import activate
from stockwarden.temporal import build_worker
from tests.support.cases import mirror, notifications, until, until_state
from tests.support.data import AS_OF, write_export
from workflows.case import CaseWorkflow
from workflows.scan import ScanRequest, ScanWorkflow

OWNER, QA_OWNER = "zhang.wei@example.com", "qa.officer@example.com"
QA_DIRECTOR = "qa.director@example.com"
POLICY = """\
policy: positions
version: 1
owners:
  - scope: {qc_status: [quarantine, hold, rejected]}
    owner: qa.officer@example.com
    escalation: [qa.director@example.com]
  - scope: {}
    owner: zhang.wei@example.com
    escalation: [li.na@example.com, committee]
committee: [cfo@example.com, qa.director@example.com]
qa: [qa.officer@example.com, qa.director@example.com]
rules:
  - id: idle
    title: {en: Lot idle for half a year, zh-CN: 批次半年未动}
    level: lot
    when:
      days_since_movement: {gte: 180d}
    severity: medium
    sla: {acknowledge: 5d, resolve: 45d}
    dispositions: [reallocate, return_to_supplier, scrap]
  - id: expired
    title: {en: Expired stock, zh-CN: 已过期库存}
    level: lot
    when:
      days_to_expiry: {lte: 0}
    severity: critical
    sla: {acknowledge: 1d, resolve: 7d}
    dispositions: [return_to_supplier, scrap]
  - id: quarantine-sitting
    title: {en: Quarantined stock waiting, zh-CN: 隔离库存未处理}
    level: lot
    scope: {qc_status: [quarantine, hold, rejected]}
    when:
      days_since_movement: {gte: 30d}
    severity: medium
    sla: {acknowledge: 2d, resolve: 21d}
    dispositions: [reallocate, return_to_supplier, scrap]
approvals:
  scrap: {qa_signoff: true}
"""
"""quarantine-sitting allows reallocate here on purpose: the guard, not the policy, must refuse it."""
LOTS = """\
sku,site,lot,serial,qty,uom,received_on,manufactured_on,expires_on,last_movement_on,qc_status,udi
HIP-1,SH01,E1,,2,,2025-01-10,2024-12-01,2026-10-01,2025-02-01,released,
HIP-1,SH01,R1,,42,,2025-01-10,2024-12-01,2030-01-01,2025-02-01,released,
HIP-1,SH01,Q1,,3,,2025-01-10,2024-12-01,2030-01-01,2025-02-01,quarantine,
CAT-1,GZ03,Z1,,0,,2025-01-10,2024-12-01,2030-01-01,2025-02-01,released,
"""
"""Z1 is idle but empty: a zero-quantity position opens no case."""
DEMAND = "sku,site,period,kind,qty\nHIP-1,BJ02,2026-10,actual,4\n"


@pytest.fixture
def positions(engine: Engine, tmp_path: Path) -> Engine:
    ingest(engine, write_export(tmp_path / "export", lots=LOTS, demand=DEMAND), as_of=AS_OF)
    (tmp_path / "policy.yaml").write_text(POLICY, encoding="utf-8")
    activate(engine, tmp_path / "policy.yaml", actor="li.na")
    return engine


def requests_of(engine: Engine) -> dict[str, CaseRequest]:
    result = scan(engine)
    with engine.connect() as connection:
        return {request.case.owner: request for request in case_requests(connection, result.scan_id)
                if request.case is not None}


async def opened(env: WorkflowEnvironment, engine: Engine, queue: str, request: CaseRequest,
                 suffix: str = "") -> WorkflowHandle:
    """The case of `request`, started as a scan starts it (its id made unique to this test)."""
    assert request.case is not None
    case_id = f"{request.case_id}{suffix}-{queue[:8]}"
    case: CaseInput = replace(request.case, case_id=case_id)
    handle = await env.client.start_workflow(CaseWorkflow.run, case, id=case_id, task_queue=queue,
                                             start_signal="refresh", start_signal_args=[request.refresh])
    await until(lambda: _mirrored(engine, case_id), f"{case_id} in the mirror")
    return handle


def _mirrored(engine: Engine, case_id: str) -> bool:
    with engine.connect() as connection:
        return connection.execute(select(col(CaseRow.id)).where(col(CaseRow.id) == case_id)).first() is not None


async def refused(handle: WorkflowHandle, request: Propose, expected: str) -> None:
    with pytest.raises(WorkflowUpdateFailedError) as failure:
        await handle.execute_update(CaseWorkflow.propose, request)
    cause = failure.value.cause
    assert expected in str(getattr(cause, "message", cause)), cause


def test_each_lot_is_one_line_of_one_case_with_every_finding_governed_by_the_most_severe(positions: Engine) -> None:
    cases = requests_of(positions)
    assert set(cases) == {OWNER, QA_OWNER}  # quarantined stock is QA's: a case of its own at the same SKU-site
    assert all(request.case is not None and request.case.sku == "HIP-1" for request in cases.values())  # not Z1
    own, qa = cases[OWNER], cases[QA_OWNER]
    assert own.case_id == position_key("HIP-1", "SH01", "zhang.wei@example.com")
    lines = {line.lot: line for line in own.lines}
    assert set(lines) == {"E1", "R1"} and [line.lot for line in qa.lines] == ["Q1"]
    expired = lines["E1"]
    assert {f.rule for f in expired.findings} == {"expired", "idle"} and expired.rule == "expired"
    assert expired.dispositions == ["return_to_supplier", "scrap"]  # what both allow: never reallocate
    assert lines["R1"].dispositions == ["reallocate", "return_to_supplier", "scrap"]
    quarantined = qa.lines[0]
    assert {f.rule for f in quarantined.findings} == {"idle", "quarantine-sitting"}
    assert quarantined.dispositions == ["return_to_supplier", "scrap"]  # the policy allows reallocate; the guard not
    assert own.case is not None and own.case.severity == "critical" and own.case.rule == "expired"
    assert own.case.acknowledge_seconds == 86_400  # the earliest deadline its lines' rules give
    conditions = {c.metric: c.value for c in expired.findings[0].conditions}
    assert conditions.get("days_to_expiry", conditions.get("days_since_movement")) is not None
    total = sum(Decimal(line.value) for request in cases.values() for line in request.lines)
    assert total == Decimal("12000.50") * 47  # every unit with a finding, counted once


@pytest.mark.asyncio(loop_scope="module")
async def test_expired_or_quarantined_stock_is_never_reallocated(dev: WorkflowEnvironment, positions: Engine) -> None:
    cases = requests_of(positions)
    queue = str(uuid.uuid4())
    async with build_worker(dev.client, positions, queue):
        own = await opened(dev, positions, queue, cases[OWNER])
        await refused(own, Propose(OWNER, "reallocate", [ProposalLine("E1", "", "2")], target="BJ02"),
                      "lot E1 is expired: it may be returned or scrapped, never reallocate")
        qa = await opened(dev, positions, queue, cases[QA_OWNER])
        await refused(qa, Propose(QA_OWNER, "reallocate", [ProposalLine("Q1", "", "3")], target="BJ02"),
                      "lot Q1 is quarantine: it may be returned or scrapped, never reallocate")
        # The released lot beside them may go; one plan, a disposition per line.
        state = await own.execute_update(CaseWorkflow.propose, Propose(OWNER, "scrap", [
            ProposalLine("E1", "", "2"), ProposalLine("R1", "", "4", disposition="reallocate", target="BJ02")]))
        assert state == "awaiting_approval"  # the scrap line asks for QA's signature
        row = mirror(positions, own.id)
        assert row.proposal is not None and row.proposal["disposition"] == "scrap+reallocate"


@pytest.mark.asyncio(loop_scope="module")
async def test_two_plans_never_hold_more_of_a_lot_than_it_has_even_from_two_cases_at_once(
        dev: WorkflowEnvironment, positions: Engine) -> None:
    cases = requests_of(positions)
    queue = str(uuid.uuid4())
    # R1 in two cases of two owners at once: as when a lot changes hands between two scans.
    other = cases[QA_OWNER]
    assert other.case is not None
    both = CaseRequest(other.case_id, other.case, replace(other.refresh, lines=[
        line for line in cases[OWNER].lines if line.lot == "R1"]))
    async with build_worker(dev.client, positions, queue):
        first, second = await opened(dev, positions, queue, cases[OWNER]), await opened(dev, positions, queue, both, "-b")
        outcomes = await asyncio.gather(
            first.execute_update(CaseWorkflow.propose, Propose(OWNER, "scrap", [ProposalLine("R1", "", "30")])),
            second.execute_update(CaseWorkflow.propose, Propose(QA_OWNER, "scrap", [ProposalLine("R1", "", "30")])),
            return_exceptions=True)
        assert sorted(type(o).__name__ for o in outcomes) == ["WorkflowUpdateFailedError", "str"], outcomes
        failure = next(o for o in outcomes if isinstance(o, WorkflowUpdateFailedError))
        assert "30 asked, 42 in stock of which 30 held by" in str(getattr(failure.cause, "message", failure.cause))
        loser = second if isinstance(outcomes[1], WorkflowUpdateFailedError) else first
        actor = QA_OWNER if loser is second else OWNER
        assert await loser.execute_update(CaseWorkflow.propose, Propose(actor, "scrap", [
            ProposalLine("R1", "", "12")])) == "awaiting_approval"  # what is left is free
        await refused(loser, Propose(actor, "scrap", [ProposalLine("R1", "", "1")]), "the case is awaiting_approval")
    with positions.connect() as connection:
        held = connection.execute(select(col(LotReservation.quantity)).where(
            col(LotReservation.lot) == "R1", col(LotReservation.state) == "held")).scalars().all()
    assert sum(held) == 42


@pytest.mark.asyncio(loop_scope="module")
async def test_a_partial_confirmation_leaves_the_rest_of_its_line_governed(
        dev: WorkflowEnvironment, positions: Engine) -> None:
    cases = requests_of(positions)
    queue = str(uuid.uuid4())
    async with build_worker(dev.client, positions, queue):
        case = await opened(dev, positions, queue, cases[OWNER])
        await case.execute_update(CaseWorkflow.acknowledge, Acknowledge(OWNER))
        await case.execute_update(CaseWorkflow.propose, Propose(OWNER, "scrap", [
            ProposalLine("E1", "", "2"), ProposalLine("R1", "", "10")]))
        await case.execute_update(CaseWorkflow.sign, Sign(QA_DIRECTOR, "approved", authenticated_by="pin"))
        await until_state(case, "awaiting_confirmation", positions)
        with positions.connect() as connection:
            out = {row.lot: row.id for row in connection.execute(
                select(ErpInstruction).where(col(ErpInstruction.case_id) == case.id))}
        await case.execute_update(CaseWorkflow.confirm, Confirm("erp", out["E1"], "scrapped"))
        assert await case.execute_update(CaseWorkflow.confirm, Confirm("erp", out["R1"], "4 found damaged",
                                                                       quantity="4")) == "acknowledged"
        row = mirror(positions, case.id)
        assert row.state == "acknowledged" and row.proposal is None
        assert [(line["lot"], Decimal(line["quantity"])) for line in row.lines] == [("R1", Decimal(38))]
        assert ("plan_done", [OWNER]) in notifications(positions, case.id)
        with positions.connect() as connection:
            done = {r.lot: r.done for r in connection.execute(select(ErpInstruction).where(
                col(ErpInstruction.case_id) == case.id))}
            holds = {(r.lot, r.state) for r in connection.execute(select(LotReservation).where(
                col(LotReservation.case_id) == case.id))}
        assert done == {"E1": 2, "R1": 4}
        assert holds == {("E1", "consumed"), ("R1", "released")}  # 4 consumed, the other 6 let go


@pytest.mark.asyncio(loop_scope="module")
async def test_stock_that_goes_from_under_a_plan_trims_it_and_nothing_is_instructed_for_stock_that_is_gone(
        dev: WorkflowEnvironment, positions: Engine, tmp_path: Path) -> None:
    cases = requests_of(positions)
    queue = str(uuid.uuid4())
    async with build_worker(dev.client, positions, queue):
        case = await opened(dev, positions, queue, cases[OWNER])
        await case.execute_update(CaseWorkflow.propose, Propose(OWNER, "scrap", [
            ProposalLine("E1", "", "2"), ProposalLine("R1", "", "42")]))
        movements = tmp_path / "issued.csv"  # the ERP issues 30 of R1 and both of E1 meanwhile
        movements.write_text(f"sku,site,lot,serial,type,qty,moved_on\nHIP-1,SH01,R1,,issue,30,{AS_OF}\n"
                             f"HIP-1,SH01,E1,,issue,2,{AS_OF}\n", encoding="utf-8")
        reevaluate(positions, movements, actor="erp")
        await case.execute_update(CaseWorkflow.sign, Sign(QA_DIRECTOR, "approved", authenticated_by="pin"))
        await until_state(case, "awaiting_confirmation", positions)
        with positions.connect() as connection:
            out = [(r.lot, r.quantity) for r in connection.execute(
                select(ErpInstruction).where(col(ErpInstruction.case_id) == case.id))]
        assert out == [("R1", 12)]  # E1 is gone, R1 has 12 left: nothing goes out for stock that is gone
        with positions.connect() as connection:
            keys = [r.idempotency_key for r in connection.execute(
                select(ErpInstruction).where(col(ErpInstruction.case_id) == case.id))]
            holds = {(r.line_no, r.lot, r.state, r.quantity) for r in connection.execute(
                select(LotReservation).where(col(LotReservation.case_id) == case.id))}
        assert [key.rsplit("#", 1)[1] for key in keys] == ["2"]  # R1 keeps its line number after E1 went
        assert holds == {(1, "E1", "released", 2), (2, "R1", "held", 12)}  # the 30 R1 gave up are free again
        assert ("plan_trimmed", [OWNER]) in notifications(positions, case.id)
        # And a plan proposed for stock already gone is refused: its lots cannot be held.
        again = await opened(dev, positions, queue, cases[OWNER], "-again")
        await refused(again, Propose(OWNER, "scrap", [ProposalLine("E1", "", "2")]), "0 in stock")


@pytest.mark.asyncio(loop_scope="module")
async def test_a_more_severe_finding_tightens_an_open_case_and_tells_its_people(
        dev: WorkflowEnvironment, positions: Engine) -> None:
    cases = requests_of(positions)
    qa = cases[QA_OWNER]  # medium: quarantine-sitting and idle, acknowledge within 2 days
    assert qa.case is not None and qa.case.severity == "medium"
    queue = str(uuid.uuid4())
    async with build_worker(dev.client, positions, queue):
        case = await opened(dev, positions, queue, qa)
        before = mirror(positions, case.id).acknowledge_due
        worse = replace(qa.refresh, severity="critical", rule="expired", title_en="Expired stock", title_zh="已过期库存",
                        acknowledge_seconds=86_400.0, resolve_seconds=7 * 86_400.0)
        await case.signal(CaseWorkflow.refresh, worse)
        await until(lambda: mirror(positions, case.id).severity == "critical", "the case's severity to rise")
        row = mirror(positions, case.id)
        assert row.rule == "expired" and (before - row.acknowledge_due).total_seconds() == 86_400
        assert ("tightened", [QA_OWNER]) in notifications(positions, case.id)
        await case.signal(CaseWorkflow.refresh, qa.refresh)  # a milder scan again loosens nothing
        await case.query(CaseWorkflow.view)
        assert mirror(positions, case.id).severity == "critical"


async def scanned_through_temporal(env: WorkflowEnvironment, queue: str, name: str) -> None:
    await env.client.execute_workflow(ScanWorkflow.run, ScanRequest(partitions=1), id=f"scan-{name}-{queue}",
                                      task_queue=queue)


@pytest.mark.asyncio(loop_scope="module")
async def test_a_later_snapshot_confirms_only_what_it_shows_done_and_reopens_an_ended_position_as_a_new_case(
        dev: WorkflowEnvironment, positions: Engine, tmp_path: Path) -> None:
    queue = str(uuid.uuid4())
    async with build_worker(dev.client, positions, queue):
        await scanned_through_temporal(dev, queue, "first")
        own = dev.client.get_workflow_handle(position_key("HIP-1", "SH01", OWNER))
        qa = dev.client.get_workflow_handle(position_key("HIP-1", "SH01", QA_OWNER))
        await until(lambda: _mirrored(positions, own.id) and _mirrored(positions, qa.id), "both cases in the mirror")
        await own.execute_update(CaseWorkflow.propose, Propose(OWNER, "scrap", [
            ProposalLine("E1", "", "2"), ProposalLine("R1", "", "10")]))
        await own.execute_update(CaseWorkflow.sign, Sign(QA_DIRECTOR, "approved", authenticated_by="pin"))
        await until_state(own, "awaiting_confirmation", positions)
        await qa.execute_update(CaseWorkflow.cancel, Cancel("cfo@example.com", "kept for the recall investigation"))
        # The next export: R1 was scrapped (10); E1 was sold, not scrapped; Q1 is still there.
        today = date.today()
        lots = (LOTS.replace("HIP-1,SH01,E1,,2,", "HIP-1,SH01,E1,,0,").replace("HIP-1,SH01,R1,,42,", "HIP-1,SH01,R1,,32,"))
        moves = (f"sku,site,lot,serial,type,qty,moved_on\nHIP-1,SH01,R1,,scrap,10,{today}\n"
                 f"HIP-1,SH01,E1,,issue,2,{today}\n")
        # E1 sold out is one of three positions gone: more than the 20 % that holds a snapshot as suspect.
        ingest(positions, write_export(tmp_path / "next", lots=lots, demand=DEMAND, movements=moves), as_of=today,
               suspect_drop=Decimal(100))
        await scanned_through_temporal(dev, queue, "second")
        await until(lambda: {r.lot: r.state for r in _instructions(positions, own.id)}["R1"] == "confirmed",
                    "the scrap of R1 confirmed by the snapshot")
        by_lot = {r.lot: r for r in _instructions(positions, own.id)}
        assert (by_lot["R1"].confirmed_by, by_lot["R1"].done) == ("snapshot", 10)
        assert by_lot["E1"].state != "confirmed"  # a sale of the same units is no scrap
        assert mirror(positions, own.id).state == "awaiting_confirmation"
        # The cancelled position has findings again on a later snapshot: a new case, never a new run of the old.
        second = position_key("HIP-1", "SH01", QA_OWNER) + "~2"
        await until(lambda: _mirrored(positions, second), "the position's next case")
        assert mirror(positions, qa.id).state == "cancelled" and mirror(positions, second).generation == 2


def _instructions(engine: Engine, case_id: str) -> list[ErpInstruction]:
    with engine.connect() as connection:
        return [ErpInstruction.model_validate(r._mapping) for r in connection.execute(
            select(ErpInstruction).where(col(ErpInstruction.case_id) == case_id))]


@pytest.mark.asyncio(loop_scope="module")
async def test_a_case_that_ends_while_a_scan_opens_cases_is_followed_by_its_positions_next_case(
        dev: WorkflowEnvironment, positions: Engine, tmp_path: Path) -> None:
    """The scan read the mirror while QA's case was open; the committee cancelled it before the scan's start
    reached Temporal, which refuses the ended id. The position's next case starts from this scan, not from
    the next snapshot's; on the snapshot the case ended on, nothing starts."""
    from temporalio.service import RPCError
    from temporalio.testing import ActivityEnvironment

    from activities.opening import CaseOpening

    request = requests_of(positions)[QA_OWNER]
    assert request.case is not None
    queue = str(uuid.uuid4())
    uid = f"{request.case_id}-{queue[:8]}"
    case = replace(request.case, case_id=uid, position=uid)
    async with build_worker(dev.client, positions, queue):
        qa = await dev.client.start_workflow(CaseWorkflow.run, case, id=uid, task_queue=queue,
                                             start_signal="refresh", start_signal_args=[request.refresh])
        await until(lambda: _mirrored(positions, uid), "QA's case in the mirror")
        stale = [CaseRequest(uid, case, request.refresh)]  # what the scan read before the case ended
        await qa.execute_update(CaseWorkflow.cancel, Cancel("cfo@example.com", "kept for the recall investigation"))
        opening = CaseOpening(positions, dev.client)
        activities = ActivityEnvironment()
        activities.info = replace(activities.info, task_queue=queue)
        opening._requests = lambda scan_id: stale  # type: ignore[method-assign]
        await activities.run(opening.open_cases, 0)
        with pytest.raises(RPCError):  # the same snapshot: a re-scan of it changes nothing, starts nothing
            await dev.client.get_workflow_handle(f"{uid}~2").describe()
        later = ingest(positions, write_export(tmp_path / "next", lots=LOTS.replace(",Q1,,3,", ",Q1,,2,"),
                                               demand=DEMAND), as_of=AS_OF).snapshot_id
        stale = [CaseRequest(uid, case, replace(request.refresh, snapshot_id=later))]
        await activities.run(opening.open_cases, 0)
        await until(lambda: _mirrored(positions, f"{uid}~2"), "the position's next case")
    assert mirror(positions, uid).state == "cancelled" and mirror(positions, f"{uid}~2").generation == 2
