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
from reports.pack import write_pack
from tests.support.data import PACK_NOW as NOW


def anchor_in(folder: Path) -> Anchor:
    return Anchor(CheckpointFile(folder / "audit-checkpoints.jsonl"), "a-test-secret-of-forty-characters-or-so")


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_the_pack_has_every_sheet_chart_and_kpi(governed: Engine, tmp_path: Path, language: str) -> None:
    summary = write_pack(governed, "2026-11", language, tmp_path / "pack.xlsx", now=NOW, anchor=anchor_in(tmp_path))
    book = load_workbook(summary.path)
    expected = {"zh-CN": ["摘要", "库龄", "重点风险", "效期展望", "未结案件", "处置决定", "采购调整", "审计摘录", "策略"],
                "en": ["Summary", "Aging", "Top risks", "Expiry outlook", "Open cases", "Decisions",
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
    policy = list(book[expected[8]].iter_rows(min_row=2, values_only=True))
    assert policy[0][0] == "kpi v1" and [r[0] for r in policy[1:]] == ["idle", "phase-out", "slow"]
    assert "days_since_movement gte 365" in policy[1][4]


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
