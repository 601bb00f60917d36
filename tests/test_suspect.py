"""A broken export is not the truth (issue 16): a load with no lots, or one that removes more than the policy's
share of the last accepted snapshot's positions or value, is held as suspect: stored, used by no scan, case or
KPI until a person accepts it (audited); a declared row count that the rows do not match refuses the load.
On both databases, and through a real scan on the dev server for the cases and instructions."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from openpyxl import Workbook
from sqlalchemy import Engine, func, inspect, select
from sqlmodel import col
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.auth import create_token
from audit.models import AuditEntry
from audit.trail import verify
from core.case import Acknowledge, ProposalLine, Propose, Sign, position_key
from core.settings import Settings
from governance.models import CaseRow, ErpInstruction
from governance.visibility import Role
from inventory.ingest import IngestFailed, ingest
from inventory.metrics import latest_snapshot, latest_snapshot_id, snapshot_used_at
from inventory.models import LotPosition, Snapshot, SnapshotState
from inventory.row_count import trailer_count
from reports.kpis import snapshot_for
from rules.scan import latest_scan, scan
from rules.snapshots import SnapshotRefused, decide, listed, suspect_drop, suspect_drop_of
from rules.versions import activate
from stockwarden.temporal import build_worker
from tests.support.cases import mirror, until, until_state
from tests.support.cli import run
from tests.support.data import AS_OF, LOT_HEADER, write_export
from workflows.case import CaseWorkflow
from workflows.scan import ScanRequest, ScanWorkflow

NEXT_DAY = AS_OF + timedelta(days=1)


def lots(count: int, *, qty: int = 3, first: int = 0) -> str:
    """`count` lots of CAT-1 (800 CNY a unit) at SH01, numbered from `first`."""
    rows = [f"CAT-1,SH01,L{n:03},,{qty},,2026-01-01,,2028-01-01,,released,\n" for n in range(first, first + count)]
    return LOT_HEADER + "".join(rows)


def state_of(engine: Engine, snapshot_id: int) -> Snapshot:
    with engine.connect() as connection:
        return Snapshot.model_validate(connection.execute(
            select(Snapshot).where(col(Snapshot.id) == snapshot_id)).one()._mapping)


def used(engine: Engine) -> int | None:
    with engine.connect() as connection:
        snapshot = latest_snapshot(connection)
        assert (None if snapshot is None else snapshot.id) == latest_snapshot_id(connection)
        return None if snapshot is None else snapshot.id


POLICY = """\
policy: guard
version: {version}
owners: [{{scope: {{}}, owner: zhang.wei@example.com}}]
rules:
  - id: idle
    title: {{en: Lot idle, zh-CN: 批次呆滞}}
    when: {{days_since_movement: {{gte: 30d}}}}
    severity: medium
    sla: {{acknowledge: 5d, resolve: 45d}}
    dispositions: [scrap]
{extra}"""


def test_a_header_only_lots_file_is_held_and_the_scan_keeps_the_last_accepted_snapshot(engine: Engine, tmp_path: Path) -> None:
    first = ingest(engine, write_export(tmp_path / "a", lots=lots(200)), as_of=AS_OF)
    assert first.state == SnapshotState.ACCEPTED and state_of(engine, first.snapshot_id).accepted_at is not None
    empty = ingest(engine, write_export(tmp_path / "b", lots=LOT_HEADER), as_of=NEXT_DAY)
    assert empty.row_counts["lots"] == 0 and empty.state == SnapshotState.SUSPECT
    codes = [r.code for r in empty.held_because]
    assert codes == ["no_lots", "positions", "value"]  # 200 of 200 positions gone, all of the value
    assert "200 of the 200 positions" in empty.held_because[1].en and "有 200 个在此没有库存" in empty.held_because[1].zh_cn
    stored = state_of(engine, empty.snapshot_id)
    assert stored.state == "suspect" and stored.accepted_at is None
    assert stored.guard["previous"] == first.snapshot_id and stored.guard["removed_positions"] == 200
    assert {k: Decimal(v) for k, v in stored.guard["previous_value"].items()} == {"CNY": Decimal(200 * 3 * 800)}
    assert used(engine) == first.snapshot_id
    (tmp_path / "p.yaml").write_text(POLICY.format(version=1, extra=""), encoding="utf-8")
    activate(engine, tmp_path / "p.yaml", actor="li.na")
    assert scan(engine).snapshot.id == first.snapshot_id  # the scan reads the last accepted snapshot
    with engine.connect() as connection:  # the month's KPIs stand on an accepted snapshot too
        assert snapshot_for(connection, NEXT_DAY.strftime("%Y-%m")).id == first.snapshot_id
    # Loading the same files again says what it is, still suspect.
    again = ingest(engine, tmp_path / "b", as_of=NEXT_DAY)
    assert again.already_loaded and again.state == "suspect" and [r.code for r in again.held_because] == codes


def test_a_first_load_without_lots_is_suspect_too(engine: Engine, tmp_path: Path) -> None:
    empty = ingest(engine, write_export(tmp_path / "a", lots=LOT_HEADER), as_of=AS_OF)
    assert empty.state == "suspect" and [r.code for r in empty.held_because] == ["no_lots"]
    assert used(engine) is None


def test_a_file_cut_at_a_row_boundary_is_suspect_and_an_ordinary_day_is_not(engine: Engine, tmp_path: Path) -> None:
    first = ingest(engine, write_export(tmp_path / "a", lots=lots(200)), as_of=AS_OF)
    full = lots(200).splitlines(keepends=True)
    cut = ingest(engine, write_export(tmp_path / "b", lots="".join(full[:112])), as_of=NEXT_DAY)  # header + 111
    assert cut.row_counts["lots"] == 111 and cut.state == "suspect"
    assert [r.code for r in cut.held_because] == ["positions", "value"]
    assert "89 of the 200 positions" in cut.held_because[0].en and "44.5 %" in cut.held_because[0].en
    assert used(engine) == first.snapshot_id
    # An ordinary day: 30 lots sold out (15 %), 10 received; compared with the last accepted one, not the cut file.
    day = ingest(engine, write_export(tmp_path / "c", lots=lots(170, first=30) + lots(10, first=500)[len(LOT_HEADER):]),
                 as_of=NEXT_DAY)
    assert day.state == "accepted" and day.held_because == ()
    assert state_of(engine, day.snapshot_id).guard["removed_positions"] == 30
    assert used(engine) == day.snapshot_id


def test_a_value_that_falls_by_more_than_the_share_is_suspect_with_every_position_still_there(
        engine: Engine, tmp_path: Path) -> None:
    ingest(engine, write_export(tmp_path / "a", lots=lots(50, qty=10)), as_of=AS_OF)
    tenth = ingest(engine, write_export(tmp_path / "b", lots=lots(50, qty=1)), as_of=NEXT_DAY)  # a wrong unit?
    assert [r.code for r in tenth.held_because] == ["value"]
    assert "400,000.00" in tenth.held_because[0].en and "40,000.00" in tenth.held_because[0].en
    assert "90.0 %" in tenth.held_because[0].en and "减少 90.0%" in tenth.held_because[0].zh_cn


def test_the_share_is_the_active_policys_setting(engine: Engine, tmp_path: Path) -> None:
    with engine.connect() as connection:
        assert suspect_drop(connection) == 20  # no policy yet: the default
    (tmp_path / "p.yaml").write_text(POLICY.format(version=1, extra="snapshots: {suspect_drop: 50%}\n"), encoding="utf-8")
    activate(engine, tmp_path / "p.yaml", actor="li.na")
    assert suspect_drop_of(engine) == 50
    ingest(engine, write_export(tmp_path / "a", lots=lots(200)), as_of=AS_OF)
    full = lots(200).splitlines(keepends=True)
    cut = ingest(engine, write_export(tmp_path / "b", lots="".join(full[:112])), as_of=NEXT_DAY,
                 suspect_drop=suspect_drop_of(engine))
    assert cut.state == "accepted"  # 44.5 % is within 50 %
    worse = ingest(engine, write_export(tmp_path / "c", lots="".join(full[:40])), as_of=NEXT_DAY,
                   suspect_drop=suspect_drop_of(engine))
    assert worse.state == "suspect" and "more than 50 %" in worse.held_because[0].en


def test_accepting_a_suspect_snapshot_is_audited_and_makes_it_the_one_scans_use(engine: Engine, tmp_path: Path) -> None:
    first = ingest(engine, write_export(tmp_path / "a", lots=lots(20)), as_of=AS_OF)
    held = ingest(engine, write_export(tmp_path / "b", lots=lots(5)), as_of=NEXT_DAY)
    before = datetime.now(UTC)
    with pytest.raises(SnapshotRefused) as blank:
        decide(engine, held.snapshot_id, accept=True, actor="li.na", reason="  ")
    assert blank.value.status == 422 and "必须填写理由" in str(blank.value)
    with pytest.raises(SnapshotRefused) as control:
        decide(engine, held.snapshot_id, accept=True, actor="li.na", reason="checked\x00")
    assert control.value.status == 422 and "control characters" in str(control.value)
    with pytest.raises(SnapshotRefused) as missing:
        decide(engine, 999, accept=True, actor="li.na", reason="checked")
    assert missing.value.status == 404
    with pytest.raises(SnapshotRefused) as accepted_already:
        decide(engine, first.snapshot_id, accept=False, actor="li.na", reason="checked")
    assert accepted_already.value.status == 409 and "is accepted, not suspect" in str(accepted_already.value)
    with engine.connect() as connection:
        assert snapshot_used_at(connection, datetime.now(UTC)) == first.snapshot_id

    done = decide(engine, held.snapshot_id, accept=True, actor="li.na", reason="SH01 sent 15 lots back to the supplier")
    assert (done.state, done.decided_by) == ("accepted", "li.na") and used(engine) == held.snapshot_id
    with engine.connect() as connection:
        assert snapshot_used_at(connection, before) == first.snapshot_id  # what was used before the acceptance
        assert snapshot_used_at(connection, datetime.now(UTC)) == held.snapshot_id
        entry = connection.execute(select(AuditEntry).where(col(AuditEntry.action) == "snapshot.accepted")).one()
        assert (entry.actor, entry.subject, entry.reason) == ("li.na", f"snapshot:{held.snapshot_id}",
                                                             "SH01 sent 15 lots back to the supplier")
        assert entry.before["state"] == "suspect" and entry.before["guard"]["removed_positions"] == 15
        assert entry.after["state"] == "accepted"
        assert verify(connection)[1] == []  # the chain holds
        shown = {row.id: row for row in listed(connection)}
    assert shown[held.snapshot_id].state == "accepted" and [r.code for r in shown[held.snapshot_id].held_because] == [
        "positions", "value"]
    with pytest.raises(SnapshotRefused) as twice:
        decide(engine, held.snapshot_id, accept=True, actor="wang.fang", reason="again")
    assert twice.value.status == 409

    third = ingest(engine, write_export(tmp_path / "c", lots=LOT_HEADER), as_of=NEXT_DAY)
    rejected = decide(engine, third.snapshot_id, accept=False, actor="li.na", reason="the ERP job failed half-way")
    assert rejected.state == "rejected" and rejected.accepted_at is None and used(engine) == held.snapshot_id
    # A later load is measured against the last accepted snapshot, never against a rejected or suspect one.
    fourth = ingest(engine, write_export(tmp_path / "d", lots=lots(5, qty=4)), as_of=NEXT_DAY)
    assert fourth.state == "accepted" and state_of(engine, fourth.snapshot_id).guard["previous"] == held.snapshot_id


# --- declared row counts -------------------------------------------------------------------------


@pytest.mark.parametrize(("row", "count"), [
    (["total: 200"], 200), (["合计 200 行"], 200), (["Total", "200"], 200), (["合计", 200.0, None], 200),
    (["共 1,234 条"], 1234), (["行数：２００"], 200), (["CAT-1", "SH01", "200"], None), (["total"], None), ([None, ""], None),
])
def test_a_trailer_row_says_how_many_rows_came_before_it(row: list[object], count: int | None) -> None:
    assert trailer_count(row) == count


def test_a_trailer_or_sidecar_count_that_matches_loads_and_one_that_does_not_is_refused(engine: Engine, tmp_path: Path) -> None:
    whole = ingest(engine, write_export(tmp_path / "a", lots=lots(200) + "total: 200,,,,,,,,,,,\n"), as_of=AS_OF)
    assert whole.row_counts["lots"] == 200 and whole.state == "accepted"  # the trailer is no lot row
    full = lots(200).splitlines(keepends=True)
    cut = "".join(full[:112]) + "合计 200 行\n"  # cut at a row boundary, with the trailer written before the cut
    with pytest.raises(IngestFailed) as refused:
        ingest(engine, write_export(tmp_path / "b", lots=cut), as_of=NEXT_DAY)
    assert [str(e) for e in refused.value.errors] == [
        "lots.csv:113: its last row says lots.csv has 200 data rows, but it has 111: the export was cut short or "
        "rows were lost (or added); send the whole export again / 末行声明 lots.csv 有 200 行数据，实际为 111 行："
        "导出不完整或行数有误，请重新导出完整文件"]
    folder = write_export(tmp_path / "c", lots="".join(full[:112]))
    (folder / "lots.csv.count").write_text("200\n", encoding="utf-8")
    with pytest.raises(IngestFailed) as by_sidecar:
        ingest(engine, folder, as_of=NEXT_DAY)
    assert len(by_sidecar.value.errors) == 1
    assert str(by_sidecar.value.errors[0]).startswith("lots.csv.count:1: lots.csv.count says lots.csv has 200 data rows, but it has 111")
    (folder / "lots.csv.count").write_text("two hundred", encoding="utf-8")
    with pytest.raises(IngestFailed) as unreadable:
        ingest(engine, folder, as_of=NEXT_DAY)
    assert "'two hundred' is not a row count" in str(unreadable.value.errors[0])
    (folder / "lots.csv.count").write_text("111", encoding="utf-8")
    assert ingest(engine, folder, as_of=NEXT_DAY).state == "suspect"  # complete as declared, and still a drop
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(Snapshot)).scalar_one() == 2  # nothing of the refused


def test_a_workbooks_trailer_is_counted_too(engine: Engine, tmp_path: Path) -> None:
    from tests.support.data import MATERIALS

    book = Workbook()
    sheets = {"materials": MATERIALS, "lots": lots(3)}
    book.remove(book.active)
    for name, text in sheets.items():
        sheet = book.create_sheet(name)
        for line in text.splitlines():
            sheet.append(line.split(","))
    book["lots"].append(["合计", 4])
    book.save(tmp_path / "export.xlsx")
    with pytest.raises(IngestFailed) as refused:
        ingest(engine, tmp_path / "export.xlsx", as_of=AS_OF)
    assert str(refused.value.errors[0]).startswith("export.xlsx[lots]:5: its last row says export.xlsx[lots] has 4 data rows, but it has 3")


# --- the doors: console and API --------------------------------------------------------------------


def test_the_console_holds_lists_and_accepts(database_url: str, engine: Engine, tmp_path: Path) -> None:
    env = {"STOCKWARDEN_DATABASE_URL": database_url, "STOCKWARDEN_VAR_DIR": str(tmp_path / "var")}
    first_held = run("ingest", str(write_export(tmp_path / "z", lots="sku,site,qty,received_on\n")), "--as-of", str(AS_OF),
                     env=env, cwd=tmp_path)
    assert "Held as suspect" in first_held.stdout
    up = run("up", "--once", env=env, cwd=tmp_path)  # a database with only a suspect snapshot is not empty
    assert up.returncode == 1 and "No accepted snapshot: snapshot 1 is suspect" in up.stderr, up.stderr
    assert "demo" not in up.stderr and run("snapshot", "reject", "1", "--reason", "empty", env=env, cwd=tmp_path).returncode == 0
    again = run("ingest", str(tmp_path / "z"), env=env, cwd=tmp_path)
    assert "Already loaded as snapshot 1" in again.stdout and "it is rejected" in again.stdout
    assert run("ingest", str(write_export(tmp_path / "a", lots=lots(20))), "--as-of", str(AS_OF), env=env,
               cwd=tmp_path).returncode == 0
    held = run("ingest", str(write_export(tmp_path / "b", lots=LOT_HEADER)), "--as-of", str(NEXT_DAY), env=env, cwd=tmp_path)
    assert held.returncode == 0, held.stderr
    assert "Held as suspect" in held.stdout and "stockwarden snapshot accept 3 --reason" in held.stdout
    assert "the export has no lots" in held.stdout and "导出没有任何批次库存" in held.stdout
    listing = run("snapshot", "list", env=env, cwd=tmp_path)
    assert listing.returncode == 0 and "suspect" in listing.stdout.splitlines()[0]
    refused = run("snapshot", "accept", "3", "--reason", "", env=env, cwd=tmp_path)
    assert refused.returncode == 1 and "a reason is required" in refused.stderr and "Traceback" not in refused.stderr
    accepted = run("snapshot", "accept", "3", "--reason", "the warehouse is really empty", "--by", "li.na", env=env, cwd=tmp_path)
    assert accepted.returncode == 0 and "accepted by li.na" in accepted.stdout
    as_json = json.loads(run("snapshot", "list", "--json", env=env, cwd=tmp_path).stdout)
    assert [(s["id"], s["state"]) for s in as_json] == [(3, "accepted"), (2, "accepted"), (1, "rejected")]
    assert as_json[0]["decided_by"] == "li.na" and as_json[1]["decided_by"] == ""
    assert used(engine) == 3


@pytest.mark.asyncio
async def test_the_api_shows_the_state_and_accepts_or_rejects_for_admin_and_compliance(engine: Engine, tmp_path: Path) -> None:
    from tests.support.data import MATERIALS

    erp = {"Authorization": f"Bearer {create_token(engine, 'erp@example.com', [Role.ERP])}"}
    officer = {"Authorization": f"Bearer {create_token(engine, 'li.na@example.com', [Role.COMPLIANCE])}"}
    app = create_app(engine, None, Settings(var_dir=tmp_path / "var"))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        first = await client.post("/snapshots", headers=erp, data={"as_of": str(AS_OF)}, files=[
            ("files", ("materials.csv", MATERIALS.encode())), ("files", ("lots.csv", lots(10).encode()))])
        assert first.status_code == 200 and first.json()["state"] == "accepted"
        held = await client.post("/snapshots", headers=erp, data={"as_of": str(NEXT_DAY)}, files=[
            ("files", ("materials.csv", MATERIALS.encode())), ("files", ("lots.csv", LOT_HEADER.encode()))])
        assert held.status_code == 200 and held.json()["state"] == "suspect"
        assert [r["code"] for r in held.json()["held_because"]] == ["no_lots", "positions", "value"]
        cut = await client.post("/snapshots", headers=erp, data={"as_of": str(NEXT_DAY)}, files=[
            ("files", ("materials.csv", MATERIALS.encode())), ("files", ("lots.csv", (lots(3) + "total: 10\n").encode()))])
        assert cut.status_code == 422 and cut.json()["errors"][0]["file"] == "lots.csv"
        assert "has 10 data rows, but it has 3" in cut.json()["errors"][0]["message"]
        snapshot_id = held.json()["snapshot_id"]
        listing = (await client.get("/snapshots", headers=erp)).json()
        assert [(s["id"], s["state"]) for s in listing] == [(snapshot_id, "suspect"), (first.json()["snapshot_id"], "accepted")]
        assert listing[0]["held_because"][0]["zh-CN"].startswith("导出没有任何批次库存")
        path = f"/snapshots/{snapshot_id}/accept"
        assert (await client.post(path, headers=erp, json={"reason": "x"})).status_code == 403  # the ERP is no person
        assert (await client.post(path, headers=officer, json={"reason": ""})).status_code == 422
        assert (await client.post("/snapshots/99/accept", headers=officer, json={"reason": "x"})).status_code == 404
        done = await client.post(f"/snapshots/{snapshot_id}/reject", headers=officer, json={"reason": "the job failed"})
        assert done.status_code == 200 and done.json()["state"] == "rejected" and done.json()["decided_by"] == "li.na@example.com"
        again = await client.post(path, headers=officer, json={"reason": "changed my mind"})
        assert again.status_code == 409 and "is rejected, not suspect" in again.json()["detail"]
    assert used(engine) == first.json()["snapshot_id"]


# --- through a real scan: nothing resolves, nothing is confirmed, until a person accepts ----------------

CASES_POLICY = """\
policy: guarded
version: 1
owners: [{scope: {}, owner: zhang.wei@example.com, escalation: [li.na@example.com, committee]}]
committee: [cfo@example.com, qa.director@example.com]
qa: [qa.director@example.com]
rules:
  - id: idle
    title: {en: Lot idle for half a year, zh-CN: 批次半年未动}
    level: lot
    when:
      days_since_movement: {gte: 180d}
    severity: medium
    sla: {acknowledge: 5d, resolve: 45d}
    dispositions: [return_to_supplier, scrap]
approvals:
  scrap: {qa_signoff: true}
"""
CASE_LOTS = """\
sku,site,lot,serial,qty,uom,received_on,manufactured_on,expires_on,last_movement_on,qc_status,udi
HIP-1,SH01,R1,,42,,2025-01-10,2024-12-01,2030-01-01,2025-02-01,released,
CAT-1,GZ03,C1,,7,,2025-01-10,2024-12-01,2030-01-01,2025-02-01,released,
"""


def _instruction(engine: Engine, case_id: str) -> ErpInstruction:
    with engine.connect() as connection:
        return ErpInstruction.model_validate(connection.execute(
            select(ErpInstruction).where(col(ErpInstruction.case_id) == case_id)).one()._mapping)


def _scanned_snapshot(engine: Engine) -> int:
    with engine.connect() as connection:
        found = latest_scan(connection)
        assert found is not None
        return found.snapshot_id


@pytest.mark.asyncio(loop_scope="module")
async def test_a_scan_after_a_suspect_snapshot_resolves_nothing_and_confirms_nothing_until_it_is_accepted(
        dev: WorkflowEnvironment, engine: Engine, tmp_path: Path) -> None:
    first = ingest(engine, write_export(tmp_path / "first", lots=CASE_LOTS), as_of=AS_OF)
    (tmp_path / "policy.yaml").write_text(CASES_POLICY, encoding="utf-8")
    activate(engine, tmp_path / "policy.yaml", actor="li.na")
    queue = str(uuid.uuid4())
    scrapping, other = position_key("HIP-1", "SH01", "zhang.wei@example.com"), position_key("CAT-1", "GZ03", "zhang.wei@example.com")
    async with build_worker(dev.client, engine, queue):
        opened = await dev.client.execute_workflow(ScanWorkflow.run, ScanRequest(partitions=1), id=f"scan-1-{queue}",
                                                   task_queue=queue)
        assert opened.cases == 2
        case = dev.client.get_workflow_handle(scrapping)
        await until(lambda: _in_mirror(engine, scrapping) and _in_mirror(engine, other), "both cases in the mirror")
        await dev.client.get_workflow_handle(other).execute_update(CaseWorkflow.acknowledge, Acknowledge("zhang.wei@example.com"))
        await case.execute_update(CaseWorkflow.propose, Propose("zhang.wei@example.com", "scrap", [ProposalLine("R1", "", "42")]))
        await case.execute_update(CaseWorkflow.sign, Sign("qa.director@example.com", "approved", authenticated_by="pin"))
        await until_state(case, "awaiting_confirmation", engine)
        assert _instruction(engine, scrapping).state != "confirmed"

        # The next export is broken: a lots file with its header only, and the scrap of R1 among the movements.
        today = date.today()
        moves = f"sku,site,lot,serial,type,qty,moved_on\nHIP-1,SH01,R1,,scrap,42,{today}\n"
        broken = ingest(engine, write_export(tmp_path / "broken", lots=LOT_HEADER, movements=moves), as_of=today)
        assert broken.state == "suspect"
        states = {scrapping: mirror(engine, scrapping).state, other: mirror(engine, other).state}
        events = {scrapping: mirror(engine, scrapping).last_event, other: mirror(engine, other).last_event}
        held = await dev.client.execute_workflow(ScanWorkflow.run, ScanRequest(partitions=1), id=f"scan-2-{queue}",
                                                 task_queue=queue)
        assert held.snapshot_id == first.snapshot_id and held.cleared == 0 and held.cases == 2
        for handle in (case, dev.client.get_workflow_handle(other)):  # each has handled the scan when its view answers
            await handle.query(CaseWorkflow.view)
        await asyncio.sleep(1)
        assert {c: mirror(engine, c).state for c in states} == states == {scrapping: "awaiting_confirmation",
                                                                           other: "acknowledged"}
        assert {c: mirror(engine, c).last_event for c in events} == events  # no case recorded a step
        assert _instruction(engine, scrapping).state != "confirmed"  # the scrap movement of a suspect snapshot shows nothing

        # A person accepts it: the next scan uses it, the scrap is confirmed by it, the emptied position resolves.
        decide(engine, broken.snapshot_id, accept=True, actor="li.na", reason="both sites were emptied at the stocktake")
        after = await dev.client.execute_workflow(ScanWorkflow.run, ScanRequest(partitions=1), id=f"scan-3-{queue}",
                                                  task_queue=queue)
        assert after.snapshot_id == broken.snapshot_id == _scanned_snapshot(engine) and after.findings == 0
        await until(lambda: _instruction(engine, scrapping).state == "confirmed", "the scrap confirmed by the accepted snapshot")
        assert (_instruction(engine, scrapping).confirmed_by, _instruction(engine, scrapping).done) == ("snapshot", 42)
        await until(lambda: mirror(engine, other).state == "resolved_by_itself", "the emptied position resolved by itself")


def _in_mirror(engine: Engine, case_id: str) -> bool:
    with engine.connect() as connection:
        return connection.execute(select(col(CaseRow.id)).where(col(CaseRow.id) == case_id)).first() is not None


def test_nothing_of_a_suspect_snapshot_is_read_as_the_latest(engine: Engine, tmp_path: Path) -> None:
    """The positions of a suspect snapshot stay stored (it can be accepted later) but nothing reads them."""
    first = ingest(engine, write_export(tmp_path / "a", lots=lots(10)), as_of=AS_OF)
    held = ingest(engine, write_export(tmp_path / "b", lots=lots(2)), as_of=NEXT_DAY)
    with engine.connect() as connection:
        kept = connection.execute(select(func.count()).select_from(LotPosition)
                                  .where(col(LotPosition.snapshot_id) == held.snapshot_id)).scalar_one()
    assert kept == 2 and used(engine) == first.snapshot_id


def test_a_database_from_before_0020_has_every_snapshot_accepted_as_it_was_loaded(engine: Engine, tmp_path: Path) -> None:
    from alembic import command
    from sqlalchemy import text

    from core.db import alembic_config

    first = ingest(engine, write_export(tmp_path / "a", lots=lots(3)), as_of=AS_OF)
    command.downgrade(alembic_config(engine), "0019")
    with engine.connect() as connection:
        assert "state" not in {c["name"] for c in inspect(connection).get_columns("snapshot")}
    with engine.begin() as connection:  # a load from before: nothing but LOT_HEADER, and used as loaded then
        connection.execute(text("INSERT INTO snapshot (as_of, source, checksum, row_counts, loaded_by, loaded_at) "
                                "VALUES ('2026-11-26', 'old', 'old-checksum', '{}', 'erp', '2026-11-26 06:00:00')"))
    command.upgrade(alembic_config(engine), "head")
    rows = {row.id: row for row in (state_of(engine, first.snapshot_id), state_of(engine, first.snapshot_id + 1))}
    assert {row.state for row in rows.values()} == {"accepted"}
    assert all(row.accepted_at == row.loaded_at for row in rows.values()) and used(engine) == first.snapshot_id + 1
