"""Dispositions on real Temporal (the dev server, which has Updates) and a real database: each disposition
from proposal to resolved, the signatures the policy asks for, refusals that change nothing, instructions
written to the outbox once even when the worker stops or an activity is retried, and the CLI's outbox."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import subprocess
import sys
import uuid
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import col
from temporalio import activity
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from activities.cases import CaseActivities
from audit.models import AuditEntry
from audit.trail import verify
from core.case import (
    Acknowledge,
    Approval,
    Cancel,
    CaseLine,
    Confirm,
    Evidenced,
    InstructionLine,
    InstructionRequest,
    Lines,
    ProposalLine,
    Propose,
    Sign,
    position_key,
)
from governance.models import ErpInstruction, LotReservation
from inventory.ingest import ingest
from rules.versions import activate
from stockwarden.temporal import WORKFLOWS, build_worker
from tests.support.cases import mirror, notifications, trail, until_state
from tests.support.data import (
    BOSS,
    CFO,
    OWNER,
    PROPOSALS,
    QA_DIRECTOR,
    QA_OFFICER,
    disposition_case,
    two_cups,
    write_export,
)
from tests.support.data import DISPOSITIONS as ALL
from tests.support.data import HIP_DEMAND as DEMAND
from tests.support.data import HIP_LINES as LINES
from tests.support.data import HIP_LOTS as LOTS
from tests.support.data import HIP_ORDERS as ORDERS
from tests.support.data import HIP_POLICY as POLICY
from workflows.case import CaseWorkflow
from workflows.scan import ScanRequest, ScanWorkflow

PIN = "pin"  # what the service puts in a Sign once the signer's PIN held (api/pins.py); these tests send Updates directly


async def start(env: WorkflowEnvironment, queue: str, name: str, lines: list[CaseLine] = LINES) -> WorkflowHandle:
    case_id = f"case/held/SH01/HIP-1/{name}-{queue[:8]}"
    return await env.client.start_workflow(CaseWorkflow.run, disposition_case(case_id), id=case_id, task_queue=queue,
                                           start_signal="refresh", start_signal_args=[Lines(lines)])


def outbox(engine: Engine, case_id: str) -> list[ErpInstruction]:
    with engine.connect() as connection:
        return [ErpInstruction.model_validate(r._mapping) for r in connection.execute(
            select(ErpInstruction).where(col(ErpInstruction.case_id) == case_id).order_by(col(ErpInstruction.id)))]


async def refused(handle: WorkflowHandle, update: object, request: object, expected: str) -> None:
    with pytest.raises(WorkflowUpdateFailedError) as failure:
        await handle.execute_update(update, request)  # type: ignore[call-overload]
    cause = failure.value.cause
    assert expected in str(getattr(cause, "message", cause)), cause


SIGNERS = {"scrap": [(QA_OFFICER, "qa"), (CFO, "committee")]}  # 24,001 > 20,000: QA and the committee


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("disposition", ALL)
async def test_each_disposition_runs_from_proposal_to_resolved(dev: WorkflowEnvironment, stock: Engine,
                                                               disposition: str) -> None:
    queue = str(uuid.uuid4())
    async with build_worker(dev.client, stock, queue):
        # The plan takes all of the case (its cups L2 and L3, or its open PO line), so carrying it out resolves it.
        order = CaseLine("", "", "36001.50", {}, quantity="3", po="P9/10", dispositions=["reduce_purchase_order"])
        lines = [order] if disposition == "reduce_purchase_order" else LINES[1:]
        handle = await start(dev, queue, disposition, lines)
        await handle.execute_update(CaseWorkflow.acknowledge, Acknowledge(OWNER))
        state = await handle.execute_update(CaseWorkflow.propose, PROPOSALS[disposition])
        for signer, _role in SIGNERS.get(disposition, []):
            assert state == "awaiting_approval"
            state = await handle.execute_update(CaseWorkflow.sign, Sign(signer, "approved", authenticated_by=PIN))
        await until_state(handle, "awaiting_confirmation", stock)
        instructions = outbox(stock, handle.id)
        expected_lines = 1 if disposition == "reduce_purchase_order" else 2
        assert [(i.disposition, i.state) for i in instructions] == [(disposition, "pending")] * expected_lines
        if disposition == "reallocate":  # the next snapshot shows both cups arrive at BJ02 (governance/evidence.py)
            await handle.signal(CaseWorkflow.refresh, Lines(lines, evidenced=[
                Evidenced(i.id or 0, "1", "transfer_in of 1 at BJ02") for i in instructions]))
        else:
            for instruction in instructions:
                assert instruction.id is not None
                await handle.execute_update(CaseWorkflow.confirm, Confirm("erp", instruction.id, "GRN-77"))
        assert await handle.result() == "resolved"

    instructions = outbox(stock, handle.id)
    assert {i.state for i in instructions} == {"confirmed"}
    assert {i.confirmed_by for i in instructions} == {"snapshot" if disposition == "reallocate" else "erp"}
    target = {"return_to_supplier": "Ortho Co", "scrap": "", "reduce_purchase_order": "P9/10"}
    assert instructions[0].target == target.get(disposition, PROPOSALS[disposition].target)
    if disposition == "reduce_purchase_order":
        assert (str(instructions[0].postpone_to), instructions[0].quantity) == ("2099-01-31", 3)
    else:
        assert [(i.lot, i.serial, i.quantity, i.value) for i in instructions] == [
            ("L2", "S2", 1, 12000.50), ("L3", "S3", 1, 12000.50)]
    signed = ["case.signed"] * len(SIGNERS.get(disposition, []))
    approval = ["case.approval_requested", *signed] if signed else []
    held = [] if disposition == "reduce_purchase_order" else ["lot.reserved"] * 2  # orders hold no stock
    consumed = [] if disposition == "reduce_purchase_order" else ["lot.consumed"]
    confirmations = [*consumed, "instruction.confirmed", "case.instruction_confirmed"] * expected_lines
    assert trail(stock, handle.id) == [
        "case.opened", "case.acknowledged", *held, "case.disposition_proposed", *approval, "case.approved",
        "case.executing", *["instruction.issued"] * expected_lines, "case.instructions_issued", *confirmations,
        "case.resolved"]
    sent = notifications(stock, handle.id)
    assert sent[0] == ("case_assigned", [OWNER]) and sent[-1] == ("resolved", [OWNER])
    if disposition == "scrap":  # the approvers are asked at once; the owner hears of the approval
        assert sent[1:4] == [("approval_requested", [QA_OFFICER, QA_DIRECTOR, CFO]), ("approved", [OWNER]),
                             ("instruction_sent", [OWNER])]
    row = mirror(stock, handle.id)
    assert row.state == "resolved" and row.proposal is not None
    assert row.proposal["disposition"] == disposition
    assert [(s["signer"], s["meaning"], s["role"]) for s in row.proposal["signatures"]] == [
        (signer, "approved", role) for signer, role in SIGNERS.get(disposition, [])]
    with stock.connect() as connection:
        assert verify(connection)[1] == []
    replayer = Replayer(workflows=WORKFLOWS, data_converter=dev.client.data_converter)  # encrypted history
    await replayer.replay_workflow(await handle.fetch_history())


@pytest.mark.asyncio(loop_scope="module")
async def test_refused_proposals_and_signatures_change_nothing(dev: WorkflowEnvironment, stock: Engine) -> None:
    queue = str(uuid.uuid4())
    async with build_worker(dev.client, stock, queue):
        handle = await start(dev, queue, "refusals")
        await handle.execute_update(CaseWorkflow.acknowledge, Acknowledge(OWNER))
        propose = CaseWorkflow.propose
        await refused(handle, propose, Propose("mallory@example.com", "scrap", two_cups()), "not responsible")
        await refused(handle, propose, Propose(OWNER, "burn", two_cups()), "allows reallocate, substitute")
        await refused(handle, propose, Propose(OWNER, "return_to_supplier", [ProposalLine("L1", "S1", "1")]),
                      "lot L1 serial S1: the supplier's return window closed on 2025-02-23")
        await refused(handle, propose, Propose(OWNER, "scrap", two_cups("2")), "2 is more than the 1 in stock")
        await refused(handle, propose, Propose(OWNER, "scrap", [ProposalLine("L9", "S9", "1")]),
                      "lot L9 serial S9 is not a line of this case")
        await refused(handle, propose, Propose(OWNER, "substitute", two_cups(), target="CAT-1"),
                      "CAT-1 is not a substitute of HIP-1 (substitutes: HIP-2)")
        # What only the data knows is checked by an activity in the handler; it refuses just as well.
        await refused(handle, propose, Propose(OWNER, "reallocate", two_cups(), target="GZ03"),
                      "GZ03 has no demand for HIP-1")
        await refused(handle, propose, Propose(OWNER, "reallocate", two_cups(), target="XX99"), "there is no site 'XX99'")
        await refused(handle, propose, Propose(OWNER, "reduce_purchase_order", [ProposalLine("", "", "9")],
                                               target="P9/10"), "P9/10 has 5 open; cannot cut 9")
        assert trail(stock, handle.id) == ["case.opened", "case.acknowledged"]

        assert await handle.execute_update(propose, PROPOSALS["scrap"]) == "awaiting_approval"
        sign = CaseWorkflow.sign
        await refused(handle, sign, Sign(QA_OFFICER, "approved"), "needs its signer authenticated at signing time")
        await refused(handle, sign, Sign(OWNER, "approved", authenticated_by=PIN), "proposed this disposition and cannot approve it")
        await refused(handle, sign, Sign(BOSS, "approved", authenticated_by=PIN), "may not sign for this proposal (still needed: qa: ")
        await refused(handle, sign, Sign(CFO, "agreed", authenticated_by=PIN), "a signature means one of approved, rejected, reviewed")
        await refused(handle, sign, Sign(QA_OFFICER, "rejected", " ", authenticated_by=PIN), "a rejection needs a reason")
        await refused(handle, CaseWorkflow.cancel, Cancel(OWNER, "no longer needed"), "only a committee member")
        await refused(handle, CaseWorkflow.confirm, Confirm("erp", 1), "awaits no confirmation")
        await refused(handle, sign, Sign(BOSS, "reviewed", authenticated_by=PIN), "has no part in this case")
        assert await handle.execute_update(sign, Sign(QA_OFFICER, "reviewed", "numbers checked", authenticated_by=PIN)) == "awaiting_approval"
        await refused(handle, sign, Sign(QA_OFFICER, "approved", authenticated_by=PIN), "has already signed this proposal")
        assert await handle.execute_update(sign, Sign(QA_DIRECTOR, "approved", authenticated_by=PIN)) == "awaiting_approval"
        assert await handle.execute_update(sign, Sign(CFO, "rejected", "sell it to the distributor instead", authenticated_by=PIN)) == "acknowledged"
        view = await handle.query(CaseWorkflow.view)
        assert view.proposal is not None
        assert [(s.signer, s.meaning, s.role) for s in view.proposal.signatures] == [
            (QA_OFFICER, "reviewed", ""), (QA_DIRECTOR, "approved", "qa"), (CFO, "rejected", "")]
        assert outbox(stock, handle.id) == []

        # A new proposal after the rejection; then a committee member cancels the case instead.
        assert await handle.execute_update(propose, PROPOSALS["return_to_supplier"]) == "approved"
        await until_state(handle, "awaiting_confirmation", stock)
        await refused(handle, CaseWorkflow.cancel, Cancel(CFO, "too late"), "only a case with no instruction out")
        await refused(handle, CaseWorkflow.confirm, Confirm("erp", 10**6), "instruction 1000000 is not pending")
        await handle.signal(CaseWorkflow.refresh, Lines([]))  # the stock is gone, but no snapshot shows a return
        await asyncio.sleep(0.5)
        assert (await handle.query(CaseWorkflow.view)).state == "awaiting_confirmation"  # so nothing is confirmed
        returned = [Evidenced(i.id or 0, "1", "return_to_supplier movement of 1") for i in outbox(stock, handle.id)]
        await handle.signal(CaseWorkflow.refresh, Lines([], evidenced=returned))  # the next one shows the returns
        assert await handle.result() == "resolved"
    assert trail(stock, handle.id)[2:] == [  # the rejection lets go of the cups; the returns consume their holds
        "lot.reserved", "lot.reserved", "case.disposition_proposed", "case.approval_requested", "case.signed",
        "case.signed", "case.signed", "lot.released", "lot.released", "case.rejected", "lot.reserved", "lot.reserved",
        "case.disposition_proposed", "case.approved", "case.executing", "instruction.issued", "instruction.issued",
        "case.instructions_issued", *["lot.consumed", "instruction.confirmed", "case.instruction_confirmed"] * 2,
        "case.resolved"]
    replayer = Replayer(workflows=WORKFLOWS, data_converter=dev.client.data_converter)  # encrypted history
    await replayer.replay_workflow(await handle.fetch_history())


@pytest.mark.asyncio(loop_scope="module")
async def test_a_committee_member_may_cancel_a_case_awaiting_approval(dev: WorkflowEnvironment, stock: Engine) -> None:
    queue = str(uuid.uuid4())
    async with build_worker(dev.client, stock, queue):
        handle = await start(dev, queue, "cancel")
        assert await handle.execute_update(CaseWorkflow.propose, PROPOSALS["scrap"]) == "awaiting_approval"
        assert await handle.execute_update(CaseWorkflow.cancel, Cancel(CFO, "recall: keep for investigation")) == "cancelled"
        assert await handle.result() == "cancelled"
    assert trail(stock, handle.id) == ["case.opened", "lot.reserved", "lot.reserved", "case.disposition_proposed",
                                       "case.approval_requested", "lot.released", "lot.released", "case.cancelled"]
    assert mirror(stock, handle.id).state == "cancelled"


class CrashAfterCommit(CaseActivities):
    """The real activity, whose worker 'dies' once right after the outbox commit: Temporal retries it."""

    crashed: set[str] = set()

    @activity.defn(name="issue_instructions")
    def issue_instructions(self, request: InstructionRequest) -> list[int]:
        ids = super().issue_instructions(request)
        if request.case_id not in self.crashed:
            self.crashed.add(request.case_id)
            raise RuntimeError("worker lost after the commit")
        return ids


@pytest.mark.asyncio(loop_scope="module")
async def test_a_worker_stopped_mid_case_and_a_retried_activity_issue_no_instruction_twice(
        dev: WorkflowEnvironment, stock: Engine) -> None:
    queue = str(uuid.uuid4())
    async with build_worker(dev.client, stock, queue):
        handle = await start(dev, queue, "restart", LINES[1:])  # the plan takes all of it: carried out, resolved
        assert await handle.execute_update(CaseWorkflow.propose, PROPOSALS["scrap"]) == "awaiting_approval"
        await handle.execute_update(CaseWorkflow.sign, Sign(QA_OFFICER, "approved", authenticated_by=PIN))
    # The worker is gone with the case awaiting the committee; a new one, whose first outbox write is
    # followed by a crash, takes over.
    async with build_worker(dev.client, stock, queue, cases=CrashAfterCommit(stock)):
        await handle.execute_update(CaseWorkflow.sign, Sign(CFO, "approved", authenticated_by=PIN))
        await until_state(handle, "awaiting_confirmation", stock)
        assert handle.id in CrashAfterCommit.crashed
        first = outbox(stock, handle.id)
        assert len(first) == 2
        # The same request again (as a retry after a lost completion would send it) adds nothing.
        with stock.begin() as connection:
            from governance.outbox import issue
            again = issue(connection, InstructionRequest(
                handle.id, 1, "scrap", "HIP-1", "SH01", "Ortho Co", "", "",
                [InstructionLine("L2", "S2", "1", "12000.50"), InstructionLine("L3", "S3", "1", "12000.50")],
                [QA_OFFICER, CFO], "default v1", "2026-11-26T00:00:00+00:00"))
        assert again == [i.id for i in first]
        for instruction in first:
            assert instruction.id is not None
            await handle.execute_update(CaseWorkflow.confirm, Confirm("erp", instruction.id))
        assert await handle.result() == "resolved"
    assert len(outbox(stock, handle.id)) == 2
    assert trail(stock, handle.id).count("instruction.issued") == 2
    history = await handle.fetch_history()
    # Temporal records only the attempt that completed: the second one.
    attempts = [e.activity_task_started_event_attributes.attempt for e in history.events
                if e.HasField("activity_task_started_event_attributes")]
    assert max(attempts) == 2 and attempts.count(2) == 1
    replayer = Replayer(workflows=WORKFLOWS, data_converter=dev.client.data_converter)  # encrypted history
    await replayer.replay_workflow(history)


@pytest.mark.asyncio(loop_scope="module")
async def test_a_scanned_case_is_returned_to_its_supplier_through_the_outbox_cli(
        dev: WorkflowEnvironment, engine: Engine, database_url: str, tmp_path: Path) -> None:
    """From data to resolved: the scan's lines carry quantity and return window from the snapshot; the owner
    proposes a return; `stockwarden outbox --export` writes the ERP's file; `outbox confirm` resolves the case."""
    today = date.today()
    received = (today - timedelta(days=30)).isoformat()
    lots = LOTS.replace("2026-10-01", received)
    ingest(engine, write_export(tmp_path / "export", lots=lots, demand=DEMAND, purchase_orders=ORDERS), as_of=today)
    (tmp_path / "policy.yaml").write_text(POLICY, encoding="utf-8")
    activate(engine, tmp_path / "policy.yaml", actor="li.na")
    queue = str(uuid.uuid4())
    env = {"STOCKWARDEN_DATABASE_URL": database_url, "STOCKWARDEN_VAR_DIR": str(tmp_path / "var"),
           "STOCKWARDEN_TEMPORAL_ADDRESS": dev.client.service_client.config.target_host}

    async def cli(*args: str) -> subprocess.CompletedProcess[str]:
        """In a thread: the worker shares this event loop and must answer the command's Update meanwhile."""
        return await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "stockwarden.cli", *args],
                                       env={**os.environ, **env}, cwd=tmp_path, capture_output=True, text=True,
                                       timeout=120)

    async with build_worker(dev.client, engine, queue):
        await dev.client.execute_workflow(ScanWorkflow.run, ScanRequest(partitions=1), id=f"scan-{queue}",
                                          task_queue=queue)
        handle = dev.client.get_workflow_handle(position_key("HIP-1", "SH01", OWNER))
        await until_state(handle, "open", engine)
        row = mirror(engine, handle.id)
        by_lot = {line["lot"]: line for line in row.lines}
        window_end = (today - timedelta(days=30) + timedelta(days=90)).isoformat()
        assert {lot: (float(line["quantity"]), line["return_by"]) for lot, line in by_lot.items()} == {
            "L1": (1, "2025-02-23"), "L2": (1, window_end), "L3": (1, window_end)}
        await refused(handle, CaseWorkflow.propose, Propose(OWNER, "return_to_supplier", [ProposalLine("L1", "S1", "1")]),
                      "the supplier's return window closed on 2025-02-23")
        state = await handle.execute_update(CaseWorkflow.propose, Propose(
            OWNER, "return_to_supplier", [ProposalLine("L2", "S2", "1")], reason="退回供应商 return in window"))
        assert state == "approved"  # 12,000.50 is under the 50,000 that needs the committee
        await until_state(handle, "awaiting_confirmation", engine)

        listed = await cli("outbox", "--export", str(tmp_path / "erp"), "--by", "li.na")
        assert listed.returncode == 0, listed.stderr
        assert "1 instruction(s) not yet confirmed" in listed.stderr and "return_to_supplier" in listed.stdout
        [exported] = list((tmp_path / "erp").glob("stockwarden-instructions-*.csv"))
        with exported.open(encoding="utf-8-sig", newline="") as file:
            [record] = list(csv.DictReader(file))
        [instruction] = outbox(engine, handle.id)
        assert record == {**record, "id": str(instruction.id), "disposition": "return_to_supplier", "sku": "HIP-1",
                          "site": "SH01", "lot": "L2", "serial": "S2", "quantity": "1", "target": "Ortho Co",
                          "idempotency_key": f"{handle.id}#p1#1"}
        assert instruction.state == "exported"

        confirmed = await cli("outbox", "confirm", str(instruction.id), "--by", "erp-bot", "--note", "RMA-5531")
        assert confirmed.returncode == 0, confirmed.stderr
        # L2 went back; L1 and L3 are still the owner's to decide on: the case goes back to them.
        assert f"Instruction {instruction.id} confirmed; the case is acknowledged." in confirmed.stderr
        assert [line["lot"] for line in mirror(engine, handle.id).lines] == ["L1", "L3"]
        again = await cli("outbox", "confirm", str(instruction.id), "--by", "erp-bot")
        assert again.returncode == 1 and "Traceback" not in again.stderr
        assert "awaits no confirmation" in again.stderr, again.stderr
        unknown = await cli("outbox", "confirm", "999999")
        assert unknown.returncode == 1 and "there is no instruction 999999 in the outbox" in unknown.stderr
    [instruction] = outbox(engine, handle.id)
    assert (instruction.state, instruction.confirmed_by) == ("confirmed", "erp-bot")
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "instructions.exported")).scalar_one() == 1  # type: ignore[arg-type]
        assert verify(connection)[1] == []
    cases = json.loads((await cli("cases", "--json")).stdout)
    case = next(c for c in cases if c["workflow_id"] == handle.id)
    assert case["state"] == "acknowledged" and case["proposal"] is None


@pytest.mark.asyncio(loop_scope="module")
async def test_the_erp_reads_the_outbox_and_confirms_over_http(dev: WorkflowEnvironment, stock: Engine) -> None:
    """GET /outbox lists what the ERP must do; POST /outbox/{id}/confirm is the case's Update in the ERP's
    name; the last confirmation resolves the case; a second or unknown confirmation changes nothing."""
    import httpx

    from api.app import create_app
    from api.auth import create_token
    from core.settings import Settings
    from governance.visibility import Role

    queue = str(uuid.uuid4())
    erp = {"Authorization": f"Bearer {create_token(stock, 'erp-bot@example.com', [Role.ERP])}"}
    app = create_app(stock, dev.client, Settings(task_queue=queue))
    async with build_worker(dev.client, stock, queue), \
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
        handle = await start(dev, queue, "api-outbox", LINES[1:])
        await handle.execute_update(CaseWorkflow.acknowledge, Acknowledge(OWNER))
        await handle.execute_update(CaseWorkflow.propose, PROPOSALS["return_to_supplier"])
        await until_state(handle, "awaiting_confirmation", stock)
        listed = [i for i in (await http.get("/outbox", headers=erp)).json() if i["case"] == handle.id]
        assert [(i["disposition"], i["lot"], i["target"], i["state"]) for i in listed] == [
            ("return_to_supplier", "L2", "Ortho Co", "pending"), ("return_to_supplier", "L3", "Ortho Co", "pending")]
        first = await http.post(f"/outbox/{listed[0]['id']}/confirm", json={"note": "RMA-1"}, headers=erp)
        assert first.status_code == 200 and first.json()["state"] == "awaiting_confirmation"
        again = await http.post(f"/outbox/{listed[0]['id']}/confirm", json={}, headers=erp)
        assert again.status_code == 409
        assert (await http.post("/outbox/999999/confirm", json={}, headers=erp)).status_code == 404
        last = await http.post(f"/outbox/{listed[1]['id']}/confirm", json={"note": "RMA-2"}, headers=erp)
        assert last.json()["state"] == "resolved"
        assert await handle.result() == "resolved"
    assert {(i.state, i.confirmed_by) for i in outbox(stock, handle.id)} == {("confirmed", "erp-bot@example.com")}


@pytest.mark.asyncio(loop_scope="module")
async def test_a_po_cut_is_trimmed_to_what_the_order_still_has_open_when_it_goes_out(
        dev: WorkflowEnvironment, stock: Engine, tmp_path: Path) -> None:
    """P9/10 has 5 open; a cut of 3 waits for the committee; meanwhile the next snapshot shows 4 received
    (1 open): the instruction cuts 1."""
    queue = str(uuid.uuid4())
    order = CaseLine("", "", "60002.50", {}, quantity="5", po="P9/10", dispositions=["reduce_purchase_order"])
    case = replace(disposition_case(f"case/po-trim/{queue[:8]}"),
                   approvals={"reduce_purchase_order": Approval(committee_over_value="1")})
    async with build_worker(dev.client, stock, queue):
        handle = await dev.client.start_workflow(CaseWorkflow.run, case, id=case.case_id, task_queue=queue,
                                                 start_signal="refresh", start_signal_args=[Lines([order])])
        await handle.execute_update(CaseWorkflow.acknowledge, Acknowledge(OWNER))
        cut = Propose(OWNER, "reduce_purchase_order", [ProposalLine("", "", "3")], target="P9/10", reason="enough stock")
        assert await handle.execute_update(CaseWorkflow.propose, cut) == "awaiting_approval"
        ingest(stock, write_export(tmp_path / "received", lots=LOTS, demand=DEMAND,
                                   purchase_orders="po,line,sku,site,qty_open,received_qty\nP9,10,HIP-1,SH01,1,4\n"),
               as_of=date(2026, 11, 2))
        await handle.execute_update(CaseWorkflow.sign, Sign(CFO, "approved", authenticated_by=PIN))
        await until_state(handle, "awaiting_confirmation", stock)
        assert [(i.target, i.quantity) for i in outbox(stock, handle.id)] == [("P9/10", 1)]
        assert "case.plan_trimmed" in trail(stock, handle.id)



@pytest.mark.asyncio(loop_scope="module")
async def test_a_lot_quarantined_under_an_approved_plan_is_never_reallocated(
        dev: WorkflowEnvironment, stock: Engine) -> None:
    """Two cups are to go to BJ02, awaiting the committee; the next scan shows L2 quarantined: its line
    leaves the plan (its hold too) before anything is instructed, and L3 goes."""
    queue = str(uuid.uuid4())
    case = replace(disposition_case(f"case/guard/{queue[:8]}"),
                   approvals={"reallocate": Approval(committee_over_value="1")})
    async with build_worker(dev.client, stock, queue):
        handle = await dev.client.start_workflow(CaseWorkflow.run, case, id=case.case_id, task_queue=queue,
                                                 start_signal="refresh", start_signal_args=[Lines(LINES[1:])])
        await handle.execute_update(CaseWorkflow.acknowledge, Acknowledge(OWNER))
        assert await handle.execute_update(CaseWorkflow.propose, PROPOSALS["reallocate"]) == "awaiting_approval"
        await handle.signal(CaseWorkflow.refresh, Lines([replace(LINES[1], qc_status="quarantine"), LINES[2]]))
        for _ in range(100):
            if "case.plan_trimmed" in trail(stock, handle.id):
                break
            await asyncio.sleep(0.05)
        await handle.execute_update(CaseWorkflow.sign, Sign(CFO, "approved", authenticated_by=PIN))
        await until_state(handle, "awaiting_confirmation", stock)
        assert [(i.lot, i.disposition) for i in outbox(stock, handle.id)] == [("L3", "reallocate")]
    with stock.connect() as connection:
        holds = {(r.lot, r.state) for r in connection.execute(
            select(LotReservation).where(col(LotReservation.case_id) == handle.id))}
    assert holds == {("L2", "released"), ("L3", "held")}
    row = mirror(stock, handle.id)
    assert row.proposal is not None and [line["lot"] for line in row.proposal["lines"]] == ["L3"]
    with stock.connect() as connection:
        reasons = [e.reason for e in connection.execute(select(AuditEntry).where(
            col(AuditEntry.subject) == f"case:{handle.id}", col(AuditEntry.action) == "case.plan_trimmed"))]
    assert reasons and "lot L2 serial S2 is quarantine now: it may be returned or scrapped, never reallocate" in reasons[0]


@pytest.mark.asyncio(loop_scope="module")
async def test_two_instructions_confirmed_at_once_end_the_plan_once(dev: WorkflowEnvironment, stock: Engine) -> None:
    """The ERP confirms both cups' returns at the same moment: each confirmation is recorded, the case
    resolves once (one step, one message), and the workflow never reads the plan after it ended."""
    queue = str(uuid.uuid4())
    async with build_worker(dev.client, stock, queue):
        handle = await start(dev, queue, "twice", LINES[1:])
        await handle.execute_update(CaseWorkflow.acknowledge, Acknowledge(OWNER))
        await handle.execute_update(CaseWorkflow.propose, PROPOSALS["return_to_supplier"])
        await until_state(handle, "awaiting_confirmation", stock)
        first, second = (i.id or 0 for i in outbox(stock, handle.id))
        await asyncio.gather(handle.execute_update(CaseWorkflow.confirm, Confirm("erp", first, "RMA-1")),
                             handle.execute_update(CaseWorkflow.confirm, Confirm("erp", second, "RMA-2")))
        assert await handle.result() == "resolved"
    steps = trail(stock, handle.id)
    assert steps.count("case.instruction_confirmed") == 2 and steps.count("case.resolved") == 1
    assert [event for event, _people in notifications(stock, handle.id)].count("resolved") == 1
