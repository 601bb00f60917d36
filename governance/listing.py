"""Case lists from the mirror: filters, a sort order and keyset pages, shared by the API and the pages.

Pages are keyset pages (the cursor holds the last row's sort value and id), so page 500 of 100,000 cases
costs what page 1 does and a case opened meanwhile neither repeats nor skips a row.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import Connection, Select, String, cast, func, literal, or_, select, tuple_
from sqlalchemy.sql import ColumnElement
from sqlmodel import col

from core.case import FINAL_STATES, MirroredCase, deadline_of
from core.db import as_utc
from governance.models import CaseLot, CaseRow
from inventory.metrics import latest_snapshot
from inventory.models import Material

SortKey = Literal["id", "value", "opened_at", "resolve_due", "updated_at"]
"""The id, or one of governance.models.SORTED_BY (each with its index)."""


class BadCursor(ValueError):
    """A cursor that this list did not hand out (or handed out for another sort order)."""


TEXT_LIMITS = {"sku": 80, "site": 40, "lot": 80}
"""The longest SKU, site and lot a filter takes: what their columns hold (inventory/models.py)."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class BadFilter(ValueError):
    """A filter value no SKU, site or lot can have: longer than its column, or with a control character.
    `field` names the filter, `kind` ("too_long" or "control") what is wrong, for words in any language."""

    def __init__(self, field: str, kind: Literal["too_long", "control"], limit: int):
        self.field, self.kind, self.limit = field, kind, limit
        super().__init__(f"{field} takes at most {limit} characters" if kind == "too_long"
                         else f"{field} must not contain control characters (tabs, line breaks and the like)")


@dataclass(frozen=True)
class CaseFilter:
    """What a case list keeps; None keeps everything. SKU, site and lot match exactly, and for them empty
    text keeps everything too (what an empty field of a form sends)."""

    state: str | None = None
    owner: str | None = None
    rule: str | None = None
    severity: str | None = None
    site: str | None = None
    category: str | None = None
    overdue: bool | None = None
    due_before: datetime | None = None
    """Cases whose current deadline (acknowledge while open, else resolve) falls before this moment."""
    person: str | None = None
    """Only the cases this person owns or is assigned to (an owner's own list)."""
    sku: str | None = None
    lot: str | None = None
    """Cases with a line of this lot, any serial of it (through case_lot; purchase-order lines have no lot)."""

    def __post_init__(self) -> None:
        for name, limit in TEXT_LIMITS.items():
            value = getattr(self, name)
            if value is None:
                continue
            if len(value) > limit:
                raise BadFilter(name, "too_long", limit)
            if _CONTROL.search(value):
                raise BadFilter(name, "control", limit)


def _encode(sort: str, value: Any, case_id: str) -> str:
    text = as_utc(value).isoformat() if isinstance(value, datetime) else str(value)
    raw = json.dumps([sort, text, case_id])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(sort: str, cursor: str) -> tuple[Any, str]:
    try:
        kind, value, case_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if kind != sort or not isinstance(case_id, str):
            raise ValueError
        if sort == "value":
            return Decimal(value), case_id
        if sort in ("opened_at", "resolve_due", "updated_at"):
            return datetime.fromisoformat(value), case_id
        return value, case_id
    except (ValueError, TypeError, ArithmeticError, json.JSONDecodeError):
        raise BadCursor(f"cursor {cursor!r} was not handed out by this list (sort={sort})") from None


def _involves(person: str) -> ColumnElement[bool]:
    """Owner or assignee; the JSON list is matched as text (both databases), then checked exactly in Python."""
    return or_(CaseRow.owner == person, cast(CaseRow.assignees, String).contains(json.dumps(person)))  # type: ignore[arg-type]


def _is_involved(row: Any, person: str) -> bool:
    return row.owner == person or person in row.assignees


def list_cases(connection: Connection, where: CaseFilter, *, sort: SortKey = "id", descending: bool = False,
               cursor: str | None = None, limit: int = 100) -> tuple[list[Any], str | None]:
    """One page of cases and the cursor of the next page (None on the last)."""
    column = getattr(CaseRow, sort)
    identity = col(CaseRow.id)
    order = (column.desc(), identity.desc()) if descending else (column.asc(), identity.asc())
    query = _filtered(connection, select(CaseRow).order_by(*order), where)
    if cursor:
        value, after = _decode(sort, cursor)
        if sort == "id":
            query = query.where(identity < after if descending else identity > after)
        else:  # a row-value comparison: both databases walk the (column, id) index from the cursor on
            key, last = tuple_(column, identity), tuple_(literal(value, column.type), literal(after))
            query = query.where(key < last if descending else key > last)
    rows = []
    for row in _matching(connection, query.execution_options(yield_per=500), where):
        rows.append(row)
        if len(rows) == limit:
            last = rows[-1]
            return rows, _encode(sort, getattr(last, sort), last.id)
    return rows, None


def _filtered(connection: Connection, query: Select[Any], where: CaseFilter) -> Select[Any]:
    """`query` kept to the filters SQL says alike on both databases. A lot is a semi-join on case_lot (each
    case at most once, so the keyset order and its cursors stay as they are); SKU and site narrow it too,
    so the (sku, site, lot) index finds the lot's rows."""
    for name in ("state", "owner", "rule", "severity"):
        value = getattr(where, name)
        if value is not None:
            query = query.where(getattr(CaseRow, name) == value)
    if where.sku:
        query = query.where(col(CaseRow.sku) == where.sku)
    if where.site:
        query = query.where(col(CaseRow.site) == where.site)
    if where.lot:
        cases = select(col(CaseLot.case_id)).where(col(CaseLot.lot) == where.lot)
        if where.sku:
            cases = cases.where(col(CaseLot.sku) == where.sku)
        if where.site:
            cases = cases.where(col(CaseLot.site) == where.site)
        query = query.where(col(CaseRow.id).in_(cases))
    if where.category is not None:
        snapshot = latest_snapshot(connection)
        skus = select(col(Material.sku)).where(col(Material.snapshot_id) == (snapshot.id if snapshot else -1),
                                               col(Material.category) == where.category)
        query = query.where(col(CaseRow.sku).in_(skus))
    if where.person is not None:
        query = query.where(_involves(where.person))
    return query


def _matching(connection: Connection, query: Any, where: CaseFilter) -> Iterator[Any]:
    """The filters SQL cannot say on both databases alike: the state-dependent deadline, exact assignees."""
    now = datetime.now(UTC)
    for row in connection.execute(query):
        if where.person is not None and not _is_involved(row, where.person):
            continue
        if where.overdue is not None or where.due_before is not None:
            due = deadline_of(row.state, row.acknowledge_due, row.resolve_due)
            due = None if due is None else as_utc(due)
            if where.overdue is not None and (due is not None and due < now) != where.overdue:
                continue
            if where.due_before is not None and (due is None or due >= as_utc(where.due_before)):
                continue
        yield row


def cases_by_acknowledge_due(connection: Connection, where: CaseFilter | None = None) -> list[CaseRow]:
    """Every case the filter keeps (the same cases as `list_cases` with it), the one to acknowledge soonest
    first: the console's list, read whole at a terminal rather than in pages."""
    where = where or CaseFilter()
    query = _filtered(connection, select(CaseRow).order_by(col(CaseRow.acknowledge_due), col(CaseRow.id)), where)
    return [CaseRow.model_validate(row._mapping) for row in _matching(connection, query, where)]


def open_cases_by_owner(connection: Connection) -> list[tuple[str, int]]:
    """How many cases each owner has open (not resolved or cancelled), by owner."""
    query = (select(col(CaseRow.owner), func.count()).where(col(CaseRow.state).not_in(FINAL_STATES))
             .group_by(col(CaseRow.owner)).order_by(col(CaseRow.owner)))
    return [(owner, count) for owner, count in connection.execute(query)]


def open_case_count(connection: Connection) -> int:
    """Cases not resolved or cancelled: what a scan's started cases add up to once each wrote its mirror row."""
    query = select(func.count()).select_from(CaseRow).where(col(CaseRow.state).not_in(FINAL_STATES))
    return connection.execute(query).scalar_one()


def open_cases(connection: Connection) -> list[MirroredCase]:
    """Every case not yet final, as the mirror holds it now (the daily digest lists them)."""
    return [CaseRow.model_validate(row._mapping).mirrored()
            for row in connection.execute(select(CaseRow).where(col(CaseRow.state).not_in(FINAL_STATES)))]
