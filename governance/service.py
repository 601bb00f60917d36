"""Applying case events: the mirror row (and its lots, `case_lot`), the audit entry and the step's messages
are written together, and only once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, insert, select, update
from sqlmodel import col

from audit.models import AuditEntry
from audit.trail import append
from core.case import CaseEvent, CaseLine, CaseSnapshot, to_json
from core.db import table
from governance.models import CaseLot, CaseRow
from notifications.queue import queue


def record_event(connection: Connection, event: CaseEvent) -> bool:
    """Upsert the case mirror and append the audit entry of `event`, in the caller's transaction; the
    case's case_lot rows are rewritten when the event's lots differ from those stored.

    Returns False when the event was applied before (an activity retried after its commit).
    """
    at = datetime.fromisoformat(event.at)
    seen, stored = _stored(connection, event.case_id)
    if seen is not None and seen >= event.event_no:
        if seen > event.event_no or _same_step(connection, event):
            return False
    snapshot = CaseSnapshot.of(event)
    values = {
        "rule": event.rule, "sku": event.sku, "site": event.site, "severity": event.severity,
        "state": str(event.state), "owner": event.owner, "assignees": list(event.assignees),
        "escalation_level": event.escalation_level,
        "acknowledge_due": datetime.fromisoformat(event.acknowledge_due),
        "resolve_due": datetime.fromisoformat(event.resolve_due),
        "value": snapshot.value(), "lines": to_json(event.lines), "policy_version": event.policy_version,
        "updated_at": at, "last_event": event.event_no, "proposal": to_json(event.proposal),
        "title_en": event.title_en, "title_zh": event.title_zh, "position": event.position,
        "generation": event.generation, "snapshot_id": event.snapshot_id,
    }
    if seen is None:
        connection.execute(insert(CaseRow).values(id=event.case_id, opened_at=at, **values))
    else:
        connection.execute(update(CaseRow).where(col(CaseRow.id) == event.case_id).values(**values))
    lots = case_lots(event.sku, event.site, event.lines)
    if lots != stored:
        _rewrite_lots(connection, event.case_id, lots)
    append(connection, actor=event.actor, action=event.action, subject=f"case:{event.case_id}",
           before=to_json(event.before), after=to_json(event.after), reason=event.reason,
           policy_version=event.policy_version, workflow_id=event.case_id, at=at)
    if event.notify:
        queue(connection, snapshot, event.notify.event, event.notify.recipients, at)
    return True


def _same_step(connection: Connection, event: CaseEvent) -> bool:
    """Whether the case's last recorded step is `event` (an activity retried after its commit) rather than
    another step under the same number.

    The step is recorded by a local activity, which runs before Temporal has accepted the workflow task
    it belongs to. When Temporal refuses that task (a signal landed while the run was closing or
    continuing as new), the worker replays it with the signal first, and the same number may then go to
    a different step: a refresh with other lines, the case resolving. The first one did happen as far as
    the trail and the messages are concerned, so the second is recorded too, and the mirror takes it as
    the case's state; only a step the same in action, reason, state and lines is a repeat."""
    c, a = table(CaseRow).c, table(AuditEntry).c
    row = connection.execute(select(c.state, c.lines).where(c.id == event.case_id)).one()
    last = connection.execute(select(a.action, a.reason).where(  # the case's own steps: messages sent and
        a.subject == f"case:{event.case_id}", a.action.like("case.%"))  # refused signatures share the subject
        .order_by(a.seq.desc()).limit(1)).first()
    return (last is not None and (last.action, last.reason or "") == (event.action, event.reason or "")
            and row.state == str(event.state) and row.lines == to_json(event.lines))


LotKey = tuple[str, str, str, str]
"""A case_lot row but its case: (sku, site, lot, serial)."""


def case_lots(sku: str, site: str, lines: list[CaseLine]) -> set[LotKey]:
    """The case_lot rows that `lines` make: one per lot and serial; purchase-order lines have no lot."""
    return {(sku, site, line.lot, line.serial) for line in lines if not line.po}


def _stored(connection: Connection, case_id: str) -> tuple[int | None, set[LotKey]]:
    """The case's last applied event number (None for a case not yet mirrored) and its case_lot rows, in one
    query: most events leave the lots as they are, and comparing these few rows says so without reading
    (or rewriting) the lines' JSON."""
    cases, lots = table(CaseRow), table(CaseLot)
    rows = connection.execute(
        select(cases.c.last_event, lots.c.sku, lots.c.site, lots.c.lot, lots.c.serial)
        .select_from(cases.outerjoin(lots, lots.c.case_id == cases.c.id)).where(cases.c.id == case_id)).all()
    if not rows:
        return None, set()
    return rows[0].last_event, {(r.sku, r.site, r.lot, r.serial) for r in rows if r.lot is not None}


def _rewrite_lots(connection: Connection, case_id: str, lots: set[LotKey]) -> None:
    connection.execute(delete(CaseLot).where(col(CaseLot.case_id) == case_id))
    if lots:
        connection.execute(insert(CaseLot), [{"case_id": case_id, "sku": sku, "site": site, "lot": lot,
                                              "serial": serial} for sku, site, lot, serial in sorted(lots)])
