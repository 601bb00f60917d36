"""Rows the reports share: a month's stored KPI values (the same for the console and the API), and the open
cases' lines with every finding on them (the pack's case lines)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select
from sqlmodel import col

from core.case import FINAL_STATES, CaseLine, LineFinding, from_json
from governance.models import CaseRow
from reports.models import KpiValue


@dataclass(frozen=True)
class KpiRow:
    scope: str
    """company, site or category."""
    key: str
    """The site's or category's code; empty for the company."""
    name: str
    value: Decimal | None
    """None where the KPI has no value (turnover days when nothing was issued)."""

    def json(self) -> dict[str, Any]:
        return {"scope": self.scope, "key": self.key, "name": self.name,
                "value": None if self.value is None else float(self.value)}


def kpi_rows(connection: Connection, period: str) -> list[KpiRow]:
    """The KPI values stored for `period` (YYYY-MM), by scope, key and name."""
    query = (select(KpiValue).where(col(KpiValue.period) == period)
             .order_by(col(KpiValue.scope_kind), col(KpiValue.scope_key), col(KpiValue.name)))
    return [KpiRow(row.scope_kind, row.scope_key, row.name, row.value) for row in connection.execute(query)]


@dataclass(frozen=True)
class CaseLineRow:
    """One line of an open case as the committee reads it: the lot (or PO line), how much, its value, and
    every finding on it with the governing one first."""

    case_id: str
    sku: str
    site: str
    line: CaseLine

    @property
    def value(self) -> Decimal | None:
        """The line's stock value; None for a purchase-order line (on order, not stock), so the lines of a case
        add up to the case's value and nothing is counted twice."""
        return None if self.line.po else Decimal(self.line.value)

    def findings(self) -> list[LineFinding]:
        """The governing rule's finding first, then the others in the order the case holds them."""
        return sorted(self.line.findings, key=lambda finding: finding.rule != self.line.rule)


def open_case_lines(connection: Connection) -> Iterator[CaseLineRow]:
    """The lines of every open case, case by case in the order of the pack's case sheet (acknowledge due,
    then id), streamed: the mirror holds each case's lines with their findings (governance/models.py)."""
    query = (select(col(CaseRow.id), col(CaseRow.sku), col(CaseRow.site), col(CaseRow.lines))
             .where(col(CaseRow.state).not_in(FINAL_STATES))
             .order_by(col(CaseRow.acknowledge_due), col(CaseRow.id)).execution_options(yield_per=2000))
    for row in connection.execute(query):
        for line in from_json(list[CaseLine], row.lines or []):
            yield CaseLineRow(row.id, row.sku, row.site, line)
