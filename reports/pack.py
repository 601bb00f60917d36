"""The committee's Excel governance pack for a month, in zh-CN or en (openpyxl, write-only mode: rows
stream to the file, so 200,000 positions and 20,000 cases do not sit in memory as cells).

Sheets: summary (KPIs with the prior month and trend, charts of aging, obsolete ratio over twelve months
and expiry outlook), aging by site and category, top risks, expiry outlook, cases, their lines (each lot
or PO line with every finding on it and why; a line's value once, so a case's lines add up to its value),
decisions, purchase adjustments, audit extract, policy. Headers frozen, filters on, number and date formats set, overdue
rows highlighted. Every cell is made by _Sheet._cell, so every text is a string cell, never a formula
(core/cells.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from sqlalchemy import Connection, Engine, Row, select, tuple_
from sqlmodel import col

from audit.checkpoints import Anchor, Checkpoint
from audit.models import AuditEntry
from core.case import FINAL_STATES, LineFinding, deadline_of
from core.cells import string_cell
from core.db import as_utc, table
from core.period import month_bounds
from governance.models import CaseRow, ErpInstruction
from reports.kpis import scan_of, snapshot_for, store
from reports.labels import LABELS, kpi_label
from reports.rows import open_case_lines
from reports.stock_kpis import AGING_BUCKETS, COMPANY
from reports.summary import KpiSummary, kpi_summary, stored_kpis
from rules.models import FindingRow, PolicyVersion, Scan
from rules.versions import stored_policy

MONEY = '#,##0.00'
RATIO = '0.00%'
DAYS = '0.0'
DAY = 'yyyy-mm-dd'
MOMENT = 'yyyy-mm-dd hh:mm'
HEADER = Font(bold=True)
OVERDUE = PatternFill("solid", start_color="FFF4CCCC", end_color="FFF4CCCC")
FORMATS = {"money": MONEY, "ratio": RATIO, "days": DAYS, "count": "0"}
WRAPPED = Alignment(wrap_text=True, vertical="top")


@dataclass(frozen=True)
class PackSummary:
    path: Path
    sheets: list[str]
    rows: dict[str, int]
    checkpoint: Checkpoint
    """The signed audit checkpoint written with the pack and printed on its summary sheet."""


class _Sheet:
    """A write-only sheet with a styled header row, frozen below it, filtered, sized."""

    def __init__(self, workbook: Workbook, title: str, headers: list[str], widths: list[int], formats: list[str | None]):
        self.ws: WriteOnlyWorksheet = workbook.create_sheet(title[:31])
        self.formats = formats
        for index, width in enumerate(widths, start=1):
            self.ws.column_dimensions[get_column_letter(index)].width = width
        self.ws.freeze_panes = "A2"
        self.columns = len(headers)
        self.rows = 0
        self.ws.append([self._cell(h, font=HEADER) for h in headers])

    def _cell(self, value: Any, *, number_format: str | None = None, font: Font | None = None,
              fill: PatternFill | None = None, alignment: Alignment | None = None) -> WriteOnlyCell:
        cell = string_cell(WriteOnlyCell(self.ws, value=float(value) if isinstance(value, Decimal) else value))
        if number_format:
            cell.number_format = number_format
        if font:
            cell.font = font
        if fill:
            cell.fill = fill
        if alignment:
            cell.alignment = alignment
        return cell

    def append(self, values: list[Any], *, highlight: bool = False, wrapped: frozenset[int] = frozenset()) -> None:
        """`wrapped`: the columns (from 0) whose text runs over several lines."""
        fill = OVERDUE if highlight else None
        self.ws.append([self._cell(v, number_format=f, fill=fill, alignment=WRAPPED if i in wrapped else None)
                        for i, (v, f) in enumerate(zip(values, self.formats, strict=True))])
        self.rows += 1

    def close(self) -> None:
        self.ws.auto_filter.ref = f"A1:{get_column_letter(self.columns)}{self.rows + 1}"


def _naive(moment: datetime | None) -> datetime | None:
    """Excel has no time zones: UTC, written without one (the headers say UTC)."""
    if moment is None:
        return None
    return (moment if moment.tzinfo is None else moment.astimezone(UTC)).replace(tzinfo=None)


def write_pack(engine: Engine, period: str, language: str, out: Path, now: datetime | None = None, *,
               anchor: Anchor) -> PackSummary:
    """Every pack writes an audit checkpoint to `anchor` first and prints it on the summary sheet, so the
    trail the committee was shown is pinned outside the database."""
    now = now or datetime.now(UTC)
    store(engine, period, now)
    checkpoint = anchor.write(engine, f"pack {period}", now)
    labels = LABELS[language]
    workbook = Workbook(write_only=True)
    counts: dict[str, int] = {}
    with engine.connect() as connection:
        snapshot = snapshot_for(connection, period)
        scan_id = scan_of(connection, snapshot)
        values = stored_kpis(connection, period)
        _summary(workbook, labels, language, kpi_summary(connection, period), checkpoint)
        sheets = [
            ("aging", _aging(workbook, labels, values)),
            ("top_risks", _top_risks(workbook, labels, connection, scan_id)),
            ("expiry", _expiry(workbook, labels, values)),
            ("cases", _cases(workbook, labels, connection, now)),
            ("case_lines", _case_lines(workbook, labels, language, connection)),
            ("decisions", _decisions(workbook, labels, connection)),
            ("purchase", _purchase(workbook, labels, connection)),
            ("audit", _audit(workbook, labels, connection, period)),
            ("policy", _policy(workbook, labels, language, connection, scan_id)),
        ]
        counts = dict(sheets)
    out.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(out)
    return PackSummary(out, [labels["sheet_summary"]] + [labels[f"sheet_{name}"] for name, _ in sheets], counts,
                       checkpoint)


def _summary(workbook: Workbook, labels: dict[str, str], language: str, summary: KpiSummary,
             checkpoint: Checkpoint) -> None:
    sheet = _Sheet(workbook, labels["sheet_summary"], [labels["kpi"], summary.period, labels["prior_month"], labels["trend"]],
                   [38, 18, 18, 8], [None, None, None, None])
    for row in summary.rows:
        fmt = FORMATS[row.kind]
        sheet.ws.append([sheet._cell(kpi_label(row.name, language)), sheet._cell(row.value, number_format=fmt),
                         sheet._cell(row.prior, number_format=fmt), sheet._cell(row.trend)])
        sheet.rows += 1
    sheet.ws.append([sheet._cell(labels["audit_checkpoint"], font=HEADER), sheet._cell(labels["checkpoint_line"].format(
        seq=checkpoint.seq, count=checkpoint.count, head=checkpoint.head_hash, at=checkpoint.at))])
    sheet.rows += 1
    # The charts' data, below the KPIs: aging, the obsolete ratio over twelve months, the expiry outlook.
    sheet.ws.append([])
    first_data = sheet.rows + 3
    sheet.ws.append([sheet._cell(labels["aging"], font=HEADER), sheet._cell(labels["value"], font=HEADER)])
    for bucket, value in summary.aging:
        sheet.ws.append([sheet._cell(bucket), sheet._cell(value, number_format=MONEY)])
    trend_row = first_data + len(summary.aging) + 1
    sheet.ws.append([sheet._cell(labels["month"], font=HEADER), sheet._cell(kpi_label("obsolete_ratio", language), font=HEADER)])
    for month, value in summary.obsolete_trend:
        sheet.ws.append([sheet._cell(month), sheet._cell(value, number_format=RATIO)])
    expiry_row = trend_row + len(summary.obsolete_trend) + 1
    sheet.ws.append([sheet._cell(labels["month"], font=HEADER), sheet._cell(labels["expiring_value"], font=HEADER)])
    for month, value in summary.expiry:
        sheet.ws.append([sheet._cell(month), sheet._cell(value, number_format=MONEY)])
    ws = sheet.ws
    aging = BarChart()
    aging.title, aging.y_axis.title = labels["aging"], labels["value"]
    aging.add_data(Reference(ws, min_col=2, min_row=first_data, max_row=first_data + len(summary.aging)), titles_from_data=True)
    aging.set_categories(Reference(ws, min_col=1, min_row=first_data + 1, max_row=first_data + len(summary.aging)))
    ws.add_chart(aging, "F2")
    obsolete = LineChart()
    obsolete.title = kpi_label("obsolete_ratio", language)
    obsolete.add_data(Reference(ws, min_col=2, min_row=trend_row, max_row=trend_row + 12), titles_from_data=True)
    obsolete.set_categories(Reference(ws, min_col=1, min_row=trend_row + 1, max_row=trend_row + 12))
    ws.add_chart(obsolete, "F18")
    expiry = BarChart()
    expiry.title = labels["expiry_outlook"]
    expiry.add_data(Reference(ws, min_col=2, min_row=expiry_row, max_row=expiry_row + 12), titles_from_data=True)
    expiry.set_categories(Reference(ws, min_col=1, min_row=expiry_row + 1, max_row=expiry_row + 12))
    ws.add_chart(expiry, "F34")


def _aging(workbook: Workbook, labels: dict[str, str], values: dict) -> int:
    sheet = _Sheet(workbook, labels["sheet_aging"], [labels["scope"], labels["key"], *AGING_BUCKETS, labels["on_hand_value"]],
                   [12, 20, 16, 16, 16, 16, 18], [None, None, MONEY, MONEY, MONEY, MONEY, MONEY])
    scopes = sorted({(kind, key) for kind, key, _ in values if kind in ("site", "category")})
    for kind, key in scopes:
        sheet.append([labels[kind], key, *[values.get((kind, key, f"aging_{b}")) for b in AGING_BUCKETS],
                      values.get((kind, key, "on_hand_value"))])
    sheet.close()
    return sheet.rows


def _expiry(workbook: Workbook, labels: dict[str, str], values: dict) -> int:
    months = [f"M+{n}" for n in range(1, 13)]
    sheet = _Sheet(workbook, labels["sheet_expiry"], [labels["scope"], labels["key"], *months, labels["projected_expiry"]],
                   [12, 20, *[13] * 12, 18], [None, None, *[MONEY] * 13])
    scopes = [COMPANY] + sorted({(kind, key) for kind, key, _ in values if kind in ("site", "category")})
    for kind, key in scopes:
        sheet.append([labels[kind], key, *[values.get((kind, key, f"expiring_m{n:02d}")) for n in range(1, 13)],
                      values.get((kind, key, "projected_expiry_value"))])
    sheet.close()
    return sheet.rows


def _top_risks(workbook: Workbook, labels: dict[str, str], connection: Connection, scan_id: int | None) -> int:
    sheet = _Sheet(workbook, labels["sheet_top_risks"],
                   [labels["rule"], labels["severity"], "SKU", labels["site"], labels["lot"], labels["serial"],
                    labels["value"], labels["owner"], labels["state"]],
                   [24, 10, 16, 10, 14, 14, 16, 30, 20], [None, None, None, None, None, None, MONEY, None, None])
    if scan_id is not None:
        f = table(FindingRow).c
        top = list(connection.execute(select(f.rule, f.severity, f.sku, f.site, f.lot, f.serial, f.value)
                                      .where(f.scan_id == scan_id).order_by(f.value.desc(), f.rule).limit(100)))
        governing = _cases_of_lots(connection, {(row.sku, row.site) for row in top})
        for row in top:
            case = governing.get((row.sku, row.site, row.lot, row.serial)) or governing.get((row.sku, row.site, "*", ""))
            sheet.append([row.rule, row.severity, row.sku, row.site, row.lot, row.serial, row.value,
                          case.owner if case else "", case.state if case else ""])
    sheet.close()
    return sheet.rows


def _cases_of_lots(connection: Connection, sku_sites: set[tuple[str, str]]) -> dict[tuple[str, str, str, str], Row[Any]]:
    """The case that governs each lot of these SKU-sites (its position's latest generation), and under lot "*"
    one case of each SKU-site for findings on the SKU-site as a whole."""
    found: dict[tuple[str, str, str, str], Row[Any]] = {}
    if not sku_sites:
        return found
    rows = connection.execute(select(col(CaseRow.sku), col(CaseRow.site), col(CaseRow.owner), col(CaseRow.state),
                                     col(CaseRow.lines), col(CaseRow.generation))
                              .where(tuple_(col(CaseRow.sku), col(CaseRow.site)).in_(sorted(sku_sites)))
                              .order_by(col(CaseRow.generation)))
    for row in rows:  # a later generation overwrites an earlier one
        found[(row.sku, row.site, "*", "")] = row
        for line in row.lines or []:
            if isinstance(line, dict) and not line.get("po"):
                found[(row.sku, row.site, str(line.get("lot", "")), str(line.get("serial", "")))] = row
    return found


def _cases(workbook: Workbook, labels: dict[str, str], connection: Connection, now: datetime) -> int:
    sheet = _Sheet(workbook, labels["sheet_cases"],
                   [labels["case"], labels["rule"], "SKU", labels["site"], labels["owner"], labels["state"],
                    labels["due"], labels["overdue_days"], labels["escalation_level"], labels["value"]],
                   [44, 22, 16, 10, 30, 20, 18, 12, 10, 16], [None, None, None, None, None, None, MOMENT, "0", "0", MONEY])
    rows = connection.execute(select(CaseRow).where(col(CaseRow.state).not_in(FINAL_STATES))
                              .order_by(col(CaseRow.acknowledge_due), col(CaseRow.id)).execution_options(yield_per=2000))
    for row in rows:
        due = deadline_of(row.state, row.acknowledge_due, row.resolve_due)
        assert due is not None  # the case is not final
        overdue = max(0, (now - as_utc(due)).days)
        sheet.append([row.id, row.rule, row.sku, row.site, row.owner, row.state, _naive(due), overdue,
                      row.escalation_level, row.value], highlight=overdue > 0)
    sheet.close()
    return sheet.rows


def _case_lines(workbook: Workbook, labels: dict[str, str], language: str, connection: Connection) -> int:
    """One row per line of every open case, in the order of the case sheet: its lot (or PO line), quantity and
    value, its governing rule, and every rule that fired on it with its reasons (one per text line, the
    governing one first and marked). A line is one row whatever its findings, and a PO line has no value (it
    is on order, not stock), so the values of a case's rows add up to the case's value on the case sheet."""
    sheet = _Sheet(workbook, labels["sheet_case_lines"],
                   [labels["case"], "SKU", labels["site"], labels["lot"], labels["serial"], labels["po_line"],
                    labels["quantity"], labels["value"], labels["governing_rule"], labels["findings"]],
                   [44, 16, 10, 14, 14, 14, 12, 16, 22, 90], [None, None, None, None, None, None, "0.######", MONEY, None, None])
    for row in open_case_lines(connection):
        line = row.line
        reasons = "\n".join(_finding_text(finding, finding.rule == line.rule, labels, language) for finding in row.findings())
        sheet.append([row.case_id, row.sku, row.site, line.lot, line.serial, line.po, Decimal(line.quantity or 0), row.value,
                      line.rule, reasons], wrapped=frozenset({9}))
    sheet.close()
    return sheet.rows


def _finding_text(finding: LineFinding, governs: bool, labels: dict[str, str], language: str) -> str:
    """A rule that fired on a line and why: `★ expired (critical, governs) Expired stock: days_to_expiry = -55
    (lte 0)`; a finding on the SKU-site as a whole says so."""
    title = finding.title_zh if language == "zh-CN" else finding.title_en
    notes = [finding.severity] + [labels["governs"]] * governs + [labels["sku_level"]] * (finding.level == "sku")
    reasons = "; ".join(f"{c.metric} = {c.value} ({c.operator} {c.threshold})" for c in finding.conditions)
    return (f"{'★ ' if governs else ''}{finding.rule} ({', '.join(notes)})" + (f" {title}" if title else "")
            + (f": {reasons}" if reasons else ""))


def _decisions(workbook: Workbook, labels: dict[str, str], connection: Connection) -> int:
    """Every signature (approved, rejected, reviewed) with signer, UTC time and meaning; pending proposals."""
    sheet = _Sheet(workbook, labels["sheet_decisions"],
                   [labels["case"], labels["disposition"], labels["value"], labels["signer"], labels["meaning"],
                    labels["role"], labels["signed_at"], labels["reason"]],
                   [44, 22, 16, 30, 12, 12, 18, 40], [None, None, MONEY, None, None, None, MOMENT, None])
    proposals = {row.id: row.proposal or {} for row in connection.execute(select(col(CaseRow.id), col(CaseRow.proposal)))}
    for entry in connection.execute(select(AuditEntry).where(col(AuditEntry.action) == "case.signed").order_by(col(AuditEntry.seq))):
        proposal = proposals.get(entry.workflow_id, {})
        sheet.append([entry.workflow_id, proposal.get("disposition", ""), Decimal(proposal.get("value") or 0), entry.actor,
                      entry.after.get("meaning", ""), entry.after.get("role", ""), _naive(entry.at), entry.reason])
    for case, proposal in proposals.items():
        if proposal and proposal.get("requires"):
            sheet.append([case, proposal["disposition"], Decimal(proposal.get("value") or 0), "", labels["pending"],
                          ", ".join(proposal["requires"]), None, proposal.get("reason", "")])
    sheet.close()
    return sheet.rows


def _purchase(workbook: Workbook, labels: dict[str, str], connection: Connection) -> int:
    sheet = _Sheet(workbook, labels["sheet_purchase"],
                   [labels["case"], labels["po_line"], "SKU", labels["site"], labels["cut_qty"], labels["postpone_to"],
                    labels["value"], labels["state"], labels["issued_at"]],
                   [44, 14, 16, 10, 12, 14, 16, 12, 18], [None, None, None, None, "0.######", DAY, MONEY, None, MOMENT])
    for row in connection.execute(select(ErpInstruction).where(col(ErpInstruction.disposition) == "reduce_purchase_order")
                                  .order_by(col(ErpInstruction.id))):
        sheet.append([row.case_id, row.target, row.sku, row.site, row.quantity, row.postpone_to, row.value, row.state,
                      _naive(row.issued_at)])
    sheet.close()
    return sheet.rows


def _audit(workbook: Workbook, labels: dict[str, str], connection: Connection, period: str) -> int:
    first, last = month_bounds(period)
    sheet = _Sheet(workbook, labels["sheet_audit"],
                   ["#", labels["at"], labels["actor"], labels["action"], labels["subject"], labels["reason"], "hash"],
                   [10, 18, 28, 28, 48, 40, 20], ["0", MOMENT, None, None, None, None, None])
    rows = connection.execute(select(AuditEntry).where(
        col(AuditEntry.at) >= datetime.combine(first, time.min, tzinfo=UTC),
        col(AuditEntry.at) <= datetime.combine(last, time.max, tzinfo=UTC)).order_by(col(AuditEntry.seq))
        .execution_options(yield_per=5000))
    for entry in rows:
        sheet.append([entry.seq, _naive(entry.at), entry.actor, entry.action, entry.subject, entry.reason, entry.hash[:16]])
    sheet.close()
    return sheet.rows


def _policy(workbook: Workbook, labels: dict[str, str], language: str, connection: Connection, scan_id: int | None) -> int:
    sheet = _Sheet(workbook, labels["sheet_policy"],
                   [labels["rule"], labels["title"], labels["level"], labels["severity"], labels["conditions"],
                    labels["dispositions"]],
                   [24, 30, 8, 10, 70, 50], [None] * 6)
    version = None
    if scan_id is not None:
        version = connection.execute(select(PolicyVersion).join(Scan, col(Scan.policy_version_id) == col(PolicyVersion.id))
                                     .where(col(Scan.id) == scan_id)).first()
    if version is not None:
        policy = stored_policy(version.text, f"policy_version {version.id}")
        sheet.append([f"{policy.policy} v{policy.version}", version.policy_hash, "", "", labels["activated_by"] + f" {version.activated_by}", ""])
        for rule in policy.rules:
            title = rule.title.zh_cn if language == "zh-CN" else rule.title.en
            sheet.append([rule.id, title, rule.level.value, rule.severity.value, "; ".join(_conditions(rule)),
                          ", ".join(d.value for d in rule.dispositions)])
    sheet.close()
    return sheet.rows


def _conditions(rule: Any) -> Iterator[str]:
    groups: Iterable[tuple[str, Any]] = [("", rule.when)] + [(f"any[{i}] ", g) for i, g in enumerate(rule.any or [])]
    for prefix, conditions in groups:
        for metric, condition in (conditions or {}).items():
            for operator, threshold in condition.operators().items():
                yield f"{prefix}{metric} {operator} {threshold}"
