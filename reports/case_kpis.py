"""Case handling KPIs for a month, by company and site, from the case mirror, the audit trail and the
ERP outbox (the stock KPIs are in reports/stock_kpis.py).

- opened: cases whose first step falls in the month;
- resolved, resolved by itself, cancelled: cases that reached that state in the month (audit trail);
- median days to acknowledge / to resolve: over cases acknowledged / resolved (either way) in the month,
  from the case's opening;
- share within SLA: of the cases resolved in the month, those resolved by their resolve deadline;
- overdue now: open cases past their current deadline (acknowledge while open, else resolve);
- escalations: escalation steps in the month;
- value recovered by disposition: value of ERP instructions confirmed in the month, by disposition.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import Connection, select

from audit.models import AuditEntry
from core.db import as_utc, table
from core.period import month_bounds
from governance.models import CaseRow, ErpInstruction
from governance.opening import deadline_of
from reports.stock_kpis import COMPANY, Scope

DAY = 86_400


@dataclass
class CaseHandling:
    opened: int = 0
    resolved: int = 0
    resolved_by_itself: int = 0
    cancelled: int = 0
    escalations: int = 0
    overdue_now: int = 0
    within_sla: int = 0
    days_to_acknowledge: list[float] = field(default_factory=list)
    days_to_resolve: list[float] = field(default_factory=list)
    recovered: dict[str, Decimal] = field(default_factory=dict)

    @staticmethod
    def _median(values: list[float]) -> Decimal | None:
        return Decimal(repr(statistics.median(values))).quantize(Decimal("0.1"), ROUND_HALF_UP) if values else None

    @property
    def median_days_to_acknowledge(self) -> Decimal | None:
        return self._median(self.days_to_acknowledge)

    @property
    def median_days_to_resolve(self) -> Decimal | None:
        return self._median(self.days_to_resolve)

    @property
    def share_within_sla(self) -> Decimal | None:
        closed = self.resolved + self.resolved_by_itself
        return (Decimal(self.within_sla) / closed).quantize(Decimal("0.0001"), ROUND_HALF_UP) if closed else None



def case_handling(connection: Connection, period: str, now: datetime | None = None) -> dict[Scope, CaseHandling]:
    first, last = month_bounds(period)
    start = datetime.combine(first, time.min, tzinfo=UTC)
    end = datetime.combine(last, time.max, tzinfo=UTC)
    now = now or datetime.now(UTC)
    c = table(CaseRow).c
    # Plain rows, not models: a month's KPIs read every case, and validating 20,000 models costs seconds.
    cases = {row.id: row for row in connection.execute(
        select(c.id, c.site, c.state, c.opened_at, c.acknowledge_due, c.resolve_due))}
    out: dict[Scope, CaseHandling] = defaultdict(CaseHandling)

    def scopes(case_id: str) -> tuple[Scope, ...]:
        case = cases.get(case_id)
        return (COMPANY,) if case is None else (COMPANY, ("site", case.site))

    for case in cases.values():
        opened = as_utc(case.opened_at)
        if start <= opened <= end:
            for scope in scopes(case.id):
                out[scope].opened += 1
        deadline = deadline_of(case.state, case.acknowledge_due, case.resolve_due)
        if deadline is not None and as_utc(deadline) < now:
            for scope in scopes(case.id):
                out[scope].overdue_now += 1
    a = table(AuditEntry).c
    steps = connection.execute(select(a.workflow_id, a.action, a.at).where(
        a.at >= start, a.at <= end, a.action.in_(("case.acknowledged", "case.resolved", "case.resolved_by_itself",
                                                  "case.cancelled", "case.escalated"))).order_by(a.seq))
    for step in steps:
        stepped = cases.get(step.workflow_id)
        at = as_utc(step.at)
        for scope in scopes(step.workflow_id):
            k = out[scope]
            if step.action == "case.escalated":
                k.escalations += 1
            elif step.action == "case.cancelled":
                k.cancelled += 1
            elif step.action == "case.acknowledged" and stepped is not None:
                k.days_to_acknowledge.append((at - as_utc(stepped.opened_at)).total_seconds() / DAY)
            elif stepped is not None:
                if step.action == "case.resolved":
                    k.resolved += 1
                else:
                    k.resolved_by_itself += 1
                k.days_to_resolve.append((at - as_utc(stepped.opened_at)).total_seconds() / DAY)
                k.within_sla += at <= as_utc(stepped.resolve_due)
    e = table(ErpInstruction).c
    for row in connection.execute(select(e.case_id, e.disposition, e.value).where(
            e.state == "confirmed", e.confirmed_at >= start, e.confirmed_at <= end)):
        for scope in scopes(row.case_id):
            recovered = out[scope].recovered
            recovered[row.disposition] = recovered.get(row.disposition, Decimal(0)) + row.value
    return dict(out)
