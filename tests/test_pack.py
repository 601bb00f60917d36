"""The governance pack read back: every sheet and chart, KPIs equal to the hand-computed ones, both
languages; and opened by a real office suite (LibreOffice, headless, to PDF) where one is installed."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine

from audit.checkpoints import Anchor, CheckpointFile
from core.case import CaseLine, Condition, LineFinding, position_key
from reports.pack import write_pack
from tests.support.cases import position_event, record
from tests.support.data import PACK_NOW as NOW


def anchor_in(folder: Path) -> Anchor:
    return Anchor(CheckpointFile(folder / "audit-checkpoints.jsonl"), "a-test-secret-of-forty-characters-or-so")


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_the_pack_has_every_sheet_chart_and_kpi(governed: Engine, tmp_path: Path, language: str) -> None:
    summary = write_pack(governed, "2026-11", language, tmp_path / "pack.xlsx", now=NOW, anchor=anchor_in(tmp_path))
    book = load_workbook(summary.path)
    expected = {"zh-CN": ["摘要", "库龄", "重点风险", "效期展望", "未结案件", "案件明细", "处置决定", "采购调整", "审计摘录",
                          "策略"],
                "en": ["Summary", "Aging", "Top risks", "Expiry outlook", "Open cases", "Case lines", "Decisions",
                       "Purchase adjustments", "Audit extract", "Policy"]}[language]
    assert book.sheetnames == expected == summary.sheets
    with zipfile.ZipFile(summary.path) as package:
        charts = [name for name in package.namelist() if name.startswith("xl/charts/chart")]
    assert len(charts) == 3  # aging bars, obsolete ratio trend, expiry outlook
    kpis = {row[0]: row[1] for row in book[expected[0]].iter_rows(min_row=2, max_row=18, values_only=True)}
    label = {"zh-CN": ("库存周转天数", "呆滞料占比", "预测误差（WAPE，近6个月）"),
             "en": ("Inventory turnover days", "Obsolete-stock ratio", "Forecast error (WAPE, 6 months)")}[language]
    assert (kpis[label[0]], kpis[label[1]], kpis[label[2]]) == (608.3, 0.7778, 0.25)
    assert (book[expected[0]]["B3"].number_format, book[expected[0]]["B4"].number_format) == ("0.0", "0.00%")
    cases = book[expected[4]]
    assert cases.freeze_panes == "A2" and cases.auto_filter.ref == "A1:J3"
    rows = list(cases.iter_rows(min_row=2, values_only=True))
    assert [r[0] for r in rows] == ["case/idle/SH01/HIP-1", "case/idle/SH01/CAT-1"]
    assert rows[0][7] == 21 and rows[1][7] == 0  # days past the acknowledge deadline on 26 November
    assert cases["A2"].fill.start_color.rgb == "FFF4CCCC" and cases["A3"].fill.start_color.rgb != "FFF4CCCC"
    assert cases["G2"].number_format == "yyyy-mm-dd hh:mm" and cases["J2"].number_format == "#,##0.00"
    risks = list(book[expected[2]].iter_rows(min_row=2, values_only=True))
    assert risks[0][6] >= risks[-1][6] and len(risks) <= 100
    policy = list(book[expected[9]].iter_rows(min_row=2, values_only=True))
    assert policy[0][0] == "kpi v1" and [r[0] for r in policy[1:]] == ["idle", "phase-out", "slow"]
    assert "days_since_movement gte 365" in policy[1][4]


EXPIRED = LineFinding("expired", "critical", "lot", [Condition("days_to_expiry", "lte", 0, -55)], "Expired stock", "已过期库存")
IDLE = LineFinding("idle", "medium", "lot", [Condition("days_since_movement", "gte", 180, 663)], "Lot idle for half a year",
                   "批次半年未动")
SLOW = LineFinding("slow", "low", "sku", [Condition("turnover_days", "gte", 365, 812.5), Condition("cover_days", "gt", 180, 400)],
                   "Slow turnover", "周转缓慢")
LINES = [CaseLine("E1", "", "24001.00", {}, quantity="2", findings=[IDLE, EXPIRED, SLOW], rule="expired"),
         CaseLine("R1", "", "504021.00", {}, quantity="42", findings=[IDLE, SLOW], rule="idle"),
         CaseLine("", "", "60002.50", {}, quantity="5", findings=[SLOW], rule="slow", po="P9/10")]
"""An expired and idle lot, an idle lot, an open PO line, on a slow SKU-site: a case of three lines."""


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_the_case_lines_show_every_finding_and_add_up_to_their_case(governed: Engine, tmp_path: Path,
                                                                    language: str) -> None:
    """Each open case's lines: lot, quantity, value, every rule that fired with its reasons, the governing
    rule first and marked; a line is one row however many rules fired on it, and a PO line (on order) has no
    value, so a case's rows add up to its value on the case sheet."""
    record(governed, position_event("HIP-1", "BJ02", [], lines=LINES, acknowledge_due="2026-11-30T00:00:00+00:00"))
    summary = write_pack(governed, "2026-11", language, tmp_path / "pack.xlsx", now=NOW, anchor=anchor_in(tmp_path))
    book = load_workbook(summary.path)
    cases, lines = book[summary.sheets[4]], book[summary.sheets[5]]
    assert summary.rows["case_lines"] == 5 and lines.freeze_panes == "A2" and lines.auto_filter.ref == "A1:J6"
    header = [cell.value for cell in lines[1]]
    assert header[6:9] == {"en": ["Quantity", "Value", "Governing rule"], "zh-CN": ["数量", "金额", "主导规则"]}[language]
    case = position_key("HIP-1", "BJ02", "zhang.wei@example.com")
    rows = [row for row in lines.iter_rows(min_row=2, values_only=True) if row[0] == case]
    assert [row[1:9] for row in rows] == [("HIP-1", "BJ02", "E1", None, None, 2, 24001, "expired"),
                                          ("HIP-1", "BJ02", "R1", None, None, 42, 504021, "idle"),
                                          ("HIP-1", "BJ02", None, None, "P9/10", 5, None, "slow")]
    said = {"en": ["★ expired (critical, governs) Expired stock: days_to_expiry = -55 (lte 0)\n"
                   "idle (medium) Lot idle for half a year: days_since_movement = 663 (gte 180)\n"
                   "slow (low, on the SKU-site) Slow turnover: turnover_days = 812.5 (gte 365); cover_days = 400 (gt 180)",
                   "★ idle (medium, governs) Lot idle for half a year: days_since_movement = 663 (gte 180)\n"
                   "slow (low, on the SKU-site) Slow turnover: turnover_days = 812.5 (gte 365); cover_days = 400 (gt 180)"],
            "zh-CN": ["★ expired (critical, 主导) 已过期库存: days_to_expiry = -55 (lte 0)\n"
                      "idle (medium) 批次半年未动: days_since_movement = 663 (gte 180)\n"
                      "slow (low, 料号-地点层面) 周转缓慢: turnover_days = 812.5 (gte 365); cover_days = 400 (gt 180)",
                      "★ idle (medium, 主导) 批次半年未动: days_since_movement = 663 (gte 180)\n"
                      "slow (low, 料号-地点层面) 周转缓慢: turnover_days = 812.5 (gte 365); cover_days = 400 (gt 180)"]}[language]
    assert [row[9] for row in rows[:2]] == said and rows[2][9].startswith("★ slow (low, ")
    assert lines["J2"].alignment.wrap_text and lines["H2"].number_format == "#,##0.00"
    case_values = {row[0]: row[9] for row in cases.iter_rows(min_row=2, values_only=True)}
    line_values: dict[str, float] = {}
    for row in lines.iter_rows(min_row=2, values_only=True):
        line_values[row[0]] = line_values.get(row[0], 0) + (row[7] or 0)
    assert line_values == case_values and case_values[case] == 528022  # the PO line's 60,002.50 is on order


@pytest.mark.skipif(shutil.which("soffice") is None and shutil.which("libreoffice") is None,
                    reason="LibreOffice is not installed (.ci/run installs it)")
def test_libreoffice_opens_the_pack(governed: Engine, tmp_path: Path) -> None:
    pack = write_pack(governed, "2026-11", "zh-CN", tmp_path / "pack.xlsx", now=NOW, anchor=anchor_in(tmp_path)).path
    office = shutil.which("soffice") or shutil.which("libreoffice")
    result = subprocess.run([office, "--headless", f"-env:UserInstallation=file://{tmp_path / 'lo-profile'}",  # type: ignore[list-item]
                             "--convert-to", "pdf", "--outdir", str(tmp_path), str(pack)],
                            capture_output=True, text=True, timeout=180)
    pdf = tmp_path / "pack.pdf"
    assert result.returncode == 0 and pdf.exists(), result.stderr
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 5_000
