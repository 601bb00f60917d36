"""The committee's KPI summary for a month: each KPI against the prior month, and the series behind the
charts (aging, twelve months of obsolete ratio, twelve months of expiry outlook). The pack's summary
sheet and the KPI page show the same numbers from here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import Connection, select
from sqlmodel import col

from core.period import months_back
from reports.kpis import snapshot_for, trend
from reports.models import KpiValue
from reports.stock_kpis import AGING_BUCKETS, COMPANY

SUMMARY_KPIS = ("on_hand_value", "turnover_days", "obsolete_ratio", "obsolete_value", "projected_expiry_value",
                "forecast_wape", "forecast_bias", "delivery_mean_days_late", "delivery_share_late", "cases_opened",
                "cases_resolved", "cases_resolved_by_itself", "median_days_to_acknowledge", "median_days_to_resolve",
                "share_within_sla", "cases_overdue_now", "escalations")
RATIOS = {"obsolete_ratio", "forecast_wape", "forecast_bias", "delivery_share_late", "share_within_sla"}
DAY_COUNTS = {"turnover_days", "delivery_mean_days_late", "median_days_to_acknowledge", "median_days_to_resolve"}
COUNTS = {"cases_opened", "cases_resolved", "cases_resolved_by_itself", "cases_overdue_now", "escalations"}

Series = list[tuple[str, Decimal | None]]


@dataclass(frozen=True)
class SummaryRow:
    name: str
    value: Decimal | None
    prior: Decimal | None

    @property
    def kind(self) -> str:
        """money, ratio, days or count: how to show the number."""
        return "ratio" if self.name in RATIOS else "days" if self.name in DAY_COUNTS else "count" if self.name in COUNTS else "money"

    @property
    def trend(self) -> str:
        if self.value is None or self.prior is None:
            return ""
        return "▲" if self.value > self.prior else "▼" if self.value < self.prior else "="


@dataclass(frozen=True)
class KpiSummary:
    period: str
    as_of: date
    rows: list[SummaryRow]
    aging: Series
    obsolete_trend: Series
    expiry: Series


def stored_kpis(connection: Connection, period: str) -> dict[tuple[str, str, str], Decimal | None]:
    return {(r.scope_kind, r.scope_key, r.name): r.value for r in connection.execute(
        select(KpiValue).where(col(KpiValue.period) == period))}


def months_after(as_of: date, count: int) -> list[str]:
    year, month = as_of.year, as_of.month
    out = []
    for _ in range(count):
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        out.append(f"{year:04d}-{month:02d}")
    return out


def kpi_summary(connection: Connection, period: str) -> KpiSummary:
    """From the stored KPIs (reports.kpis.store computes them first)."""
    as_of = snapshot_for(connection, period).as_of
    values, prior = stored_kpis(connection, period), stored_kpis(connection, months_back(period, 2)[0])
    return KpiSummary(
        period=period, as_of=as_of,
        rows=[SummaryRow(name, values.get((*COMPANY, name)), prior.get((*COMPANY, name))) for name in SUMMARY_KPIS],
        aging=[(bucket, values.get((*COMPANY, f"aging_{bucket}"))) for bucket in AGING_BUCKETS],
        obsolete_trend=list(trend(connection, period, "obsolete_ratio")),
        expiry=[(month, values.get((*COMPANY, f"expiring_m{offset:02d}")))
                for offset, month in enumerate(months_after(as_of, 12), start=1)],
    )
