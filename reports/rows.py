"""A month's stored KPI values as rows, the same for the console and the API."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select
from sqlmodel import col

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
