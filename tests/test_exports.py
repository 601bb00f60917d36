"""Exports carry no formulas: hostile text loaded through the real paths (ingest, a scan and a case on real
Temporal, a rejection, an approval that reaches the outbox) comes out of the governance pack as string
cells and out of the outbox CSV neutralised, in every cell and every field."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import subprocess
import sys
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from audit.checkpoints import Anchor, CheckpointFile
from core.case import ProposalLine, Propose, Sign, position_key
from core.cells import FORMULA_STARTS, csv_field
from inventory.ingest import ingest
from reports.pack import write_pack
from rules.versions import activate
from stockwarden.temporal import build_worker
from tests.support.cases import until_state
from tests.support.data import QA_OFFICER, TEST_SECRET
from workflows.case import CaseWorkflow
from workflows.scan import ScanRequest, ScanWorkflow

SKU = "=cmd|' /C calc'!A0"
NAME = '=HYPERLINK("http://x","y")'
SUPPLIER = "@SUM(A1)"
SITE = "+1+1"
LOTS = ("-2+3", "\t=1", "\r=1")
REASON = '=HYPERLINK("http://x","y")'
HOSTILE = (SKU, NAME, SUPPLIER, SITE, *LOTS)
OWNER = "zhang.wei@example.com"
POLICY = """\
policy: hostile
version: 1
owners:
  - scope: {}
    owner: zhang.wei@example.com
committee: [cfo@example.com]
qa: [qa.officer@example.com]
rules:
  - id: held
    title: {en: Held stock, zh-CN: 积压}
    level: lot
    scope: {category: [implant]}
    when:
      qty: {gt: 0}
    severity: high
    sla: {acknowledge: 3d, resolve: 30d}
    dispositions: [return_to_supplier, scrap]
approvals:
  scrap: {qa_signoff: true}
"""


def _csv(header: str, *rows: tuple[object, ...]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(header.split(","))
    writer.writerows(rows)
    return out.getvalue()


def _hostile_export(folder: Path, today: date) -> Path:
    folder.mkdir(parents=True)
    received = date.fromordinal(today.toordinal() - 30).isoformat()
    files = {
        "materials": _csv("sku,name,category,base_uom,unit_cost,currency,risk_class,supplier,return_window_days",
                          (SKU, NAME, "implant", "ea", "1000", "CNY", "III", SUPPLIER, "90")),
        "lots": _csv("sku,site,lot,serial,qty,uom,received_on,manufactured_on,expires_on,last_movement_on,qc_status,udi",
                     *[(SKU, SITE, lot, f"@S{n}", "1", "", received, "", "2031-01-01", "", "released", "")
                       for n, lot in enumerate(LOTS)]),
    }
    for name, text in files.items():
        (folder / f"{name}.csv").write_text(text, encoding="utf-8")
    return folder


@pytest.mark.asyncio(loop_scope="module")
async def test_hostile_text_leaves_the_pack_and_the_outbox_as_text(dev: WorkflowEnvironment, engine: Engine,
                                                                   database_url: str, tmp_path: Path) -> None:
    today = date.today()
    ingest(engine, _hostile_export(tmp_path / "export", today), as_of=today)
    (tmp_path / "policy.yaml").write_text(POLICY, encoding="utf-8")
    activate(engine, tmp_path / "policy.yaml", actor="li.na")
    queue = str(uuid.uuid4())
    async with build_worker(dev.client, engine, queue):
        await dev.client.execute_workflow(ScanWorkflow.run, ScanRequest(partitions=1), id=f"scan-{queue}", task_queue=queue)
        handle = dev.client.get_workflow_handle(position_key(SKU, SITE, OWNER))
        await until_state(handle, "open", engine)
        lines = [ProposalLine(lot.strip(), f"@S{n}", "1") for n, lot in enumerate(LOTS)]
        scrap = Propose(OWNER, "scrap", lines, reason="-1+1 damaged")
        assert await handle.execute_update(CaseWorkflow.propose, scrap) == "awaiting_approval"
        assert await handle.execute_update(CaseWorkflow.sign, Sign(QA_OFFICER, "rejected", REASON, authenticated_by="pin")) == "acknowledged"
        back = Propose(OWNER, "return_to_supplier", lines, reason="@SUM(A1) in the window")
        assert await handle.execute_update(CaseWorkflow.propose, back) == "approved"
        await until_state(handle, "awaiting_confirmation", engine)
        exported = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "stockwarden.cli", "outbox", "--export",
                                                            str(tmp_path / "erp"), "--by", "li.na"],
                                           env={**os.environ, "STOCKWARDEN_DATABASE_URL": database_url,
                                                "STOCKWARDEN_VAR_DIR": str(tmp_path / "var"),
                                                "STOCKWARDEN_TEMPORAL_ADDRESS": dev.client.service_client.config.target_host},
                                           capture_output=True, text=True, timeout=120)
        assert exported.returncode == 0, exported.stderr
        await handle.terminate("the test is over")  # the same case id runs again on the other database

    [path] = list((tmp_path / "erp").glob("stockwarden-instructions-*.csv"))
    with path.open(encoding="utf-8-sig", newline="") as file:
        records = list(csv.DictReader(file))
    assert len(records) == 3
    numeric = {"id", "quantity", "value"}
    for record in records:
        for column, field in record.items():
            if column in numeric:
                Decimal(field)  # a number, written as one
            else:
                assert not field.startswith(FORMULA_STARTS), (column, field)
    assert {(r["sku"], r["site"], r["target"]) for r in records} == {("'" + SKU, "'" + SITE, "'" + SUPPLIER)}
    assert sorted(r["lot"] for r in records) == sorted("'" + lot.strip() for lot in LOTS)
    assert {r["serial"] for r in records} == {"'@S0", "'@S1", "'@S2"}

    anchor = Anchor(CheckpointFile(tmp_path / "checkpoints.jsonl"), TEST_SECRET)
    pack = write_pack(engine, today.strftime("%Y-%m"), "en", tmp_path / "pack.xlsx", anchor=anchor).path
    book = load_workbook(pack)
    hostile_cells = 0
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str) and cell.value.startswith(FORMULA_STARTS):
                    assert cell.data_type in ("s", "inlineStr"), (sheet.title, cell.coordinate, cell.value)
                    hostile_cells += 1
    assert hostile_cells >= 15  # the SKU, site, lots, serials and the rejection reason, as text
    reasons = [row[7] for row in book["Decisions"].iter_rows(min_row=2, values_only=True)]
    assert REASON in reasons  # the rejection's reason, word for word


def test_the_one_csv_rule() -> None:
    assert [csv_field(v) for v in ("=1", "+1", "-2+3", "@x", "\t=1", "\r=1", "a=1", "", None)] == [
        "'=1", "'+1", "'-2+3", "'@x", "'\t=1", "'\r=1", "a=1", "", ""]
    assert [csv_field(v) for v in (Decimal(-5), Decimal("1E+1"), -3, 2.5, date(2026, 11, 1))] == [
        "-5", "10", "-3", "2.5", "2026-11-01"]
    assert csv_field("-5") == "'-5"  # text that looks like a number is still text
