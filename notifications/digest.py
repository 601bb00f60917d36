"""What a daily digest says: the cases it is about in one table, the most severe first and, within a
severity, the most value at risk first; at most 25 rows (the rest are counted and linked to the full list),
with totals per rule over all of them, so an owner with hundreds of cases still reads one screen.

A case is in a digest when the person got a message about it since their last digest (new or changed),
or when it is theirs and due within two days or overdue; a case that is both is one row. A row tells the
case as the mirror holds it now while it is still open, else as its last step left it (a case resolved
since still shows as resolved)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from core.case import AtAStep, CaseSnapshot, MirroredCase, deadline_of, severity_rank
from core.db import as_utc
from notifications.models import Notification

"""Most severe first: the order of a digest's rows. A severity not named here sorts after them."""
MAX_ROWS = 25
DUE_SOON = timedelta(days=2)
NEVER = datetime.max.replace(tzinfo=UTC)


class Listed(StrEnum):
    """Why a case is in the digest (the templates say it in the reader's language)."""

    NEW = "new"
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"


@dataclass(frozen=True)
class DigestAction:
    label: str
    url: str


@dataclass(frozen=True)
class DigestRow:
    case_id: str
    rule: str
    """The case's governing rule."""
    title: str
    severity: str
    sku: str
    site: str
    state: str
    deadline: datetime | None
    value: Decimal
    currency: str
    listed: tuple[Listed, ...]
    actions: tuple[DigestAction, ...]


@dataclass(frozen=True)
class RuleTotal:
    """The cases of one governing rule in the digest (all of them, shown or not), per currency."""

    rule: str
    title: str
    currency: str
    cases: int
    value: Decimal


@dataclass(frozen=True)
class Digest:
    rows: list[DigestRow]
    """The rows shown: at most MAX_ROWS, in order."""
    more: int
    """Cases in the digest beyond the rows shown."""
    totals: list[RuleTotal]
    new: int
    due_soon: int
    overdue: int

    @property
    def cases(self) -> int:
        return len(self.rows) + self.more


Actions = Callable[[str, AtAStep], list[DigestAction]]
"""The action links a person may use on a case (signed for them)."""


def order_key(row: DigestRow) -> tuple[int, Decimal, datetime, str]:
    """Severity, then value at risk (descending), then the earliest deadline; the case id keeps it total."""
    return severity_rank(row.severity), -row.value, row.deadline or NEVER, row.case_id


def digest_rows(recipient: str, language: str, queued: Iterable[Notification], open_cases: Iterable[MirroredCase],
                currencies: Callable[[str], str], now: datetime, actions: Actions) -> list[DigestRow]:
    """The cases `recipient`'s digest is about, in the order it lists them. `queued` are the messages
    waiting for their digest (oldest first), `open_cases` every case not yet final."""
    latest: dict[str, CaseSnapshot] = {}
    for notification in queued:  # the last step told wins
        latest[notification.case_id] = notification.case()
    current = {case.case_id: case for case in open_cases}
    mine = [case_id for case_id, case in current.items() if recipient in case.assignees]
    rows = []
    for case_id in dict.fromkeys([*latest, *mine]):
        listed = [Listed.NEW] if case_id in latest else []
        case = current.get(case_id)
        if case is not None and recipient in case.assignees:
            due = deadline_of(case.state, case.acknowledge_due, case.resolve_due)
            if due is not None and as_utc(due) < now:
                listed.append(Listed.OVERDUE)
            elif due is not None and as_utc(due) < now + DUE_SOON:
                listed.append(Listed.DUE_SOON)
        if not listed:
            continue
        if case is not None:
            rows.append(_row_of_case(case, language, currencies, tuple(listed), actions))
        else:
            rows.append(_row_of_step(latest[case_id], language, currencies, tuple(listed), actions))
    return sorted(rows, key=order_key)


def digest_of(rows: list[DigestRow], limit: int = MAX_ROWS) -> Digest:
    """The first `limit` rows of `rows` (already in order), the count of the rest and totals over all."""
    return Digest(rows=rows[:limit], more=max(len(rows) - limit, 0), totals=totals_per_rule(rows),
                  new=sum(Listed.NEW in r.listed for r in rows), due_soon=sum(Listed.DUE_SOON in r.listed for r in rows),
                  overdue=sum(Listed.OVERDUE in r.listed for r in rows))


def totals_per_rule(rows: list[DigestRow]) -> list[RuleTotal]:
    """Count and value per governing rule (and currency: amounts in two currencies are never added), the
    rule with the most severe case first, then the larger value."""
    groups: dict[tuple[str, str], list[DigestRow]] = {}
    for row in rows:
        groups.setdefault((row.rule, row.currency), []).append(row)
    ranked = sorted(groups.items(), key=lambda item: (min(severity_rank(r.severity) for r in item[1]),
                                                      -sum((r.value for r in item[1]), Decimal(0)), item[0]))
    return [RuleTotal(rule, group[0].title, currency, len(group), sum((r.value for r in group), Decimal(0)))
            for (rule, currency), group in ranked]


def _title(title_en: str | None, title_zh: str | None, rule: str, language: str) -> str:
    return (title_zh if language == "zh-CN" else title_en) or rule


def _row_of_case(case: MirroredCase, language: str, currencies: Callable[[str], str], listed: tuple[Listed, ...],
                 actions: Actions) -> DigestRow:
    due = deadline_of(case.state, case.acknowledge_due, case.resolve_due)
    return DigestRow(case.case_id, case.rule, _title(case.title_en, case.title_zh, case.rule, language), case.severity,
                     case.sku, case.site, str(case.state), as_utc(due) if due is not None else None, case.value,
                     currencies(case.sku), listed, tuple(actions(case.case_id, case)))


def _row_of_step(case: CaseSnapshot, language: str, currencies: Callable[[str], str], listed: tuple[Listed, ...],
                 actions: Actions) -> DigestRow:
    due = deadline_of(case.state, case.acknowledge_due, case.resolve_due)
    return DigestRow(case.case_id, case.rule, _title(case.title_en, case.title_zh, case.rule, language), case.severity,
                     case.sku, case.site, str(case.state), as_utc(datetime.fromisoformat(due)) if due else None,
                     case.value(), currencies(case.sku), listed, tuple(actions(case.case_id, case)))
