"""Applying case events: the mirror row, the audit entry and the step's messages are written together,
and only once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert, select, update
from sqlmodel import col

from audit.trail import append
from core.case import CaseEvent, CaseSnapshot, to_json
from governance.models import CaseRow
from notifications.queue import queue


def record_event(connection: Connection, event: CaseEvent) -> bool:
    """Upsert the case mirror and append the audit entry of `event`, in the caller's transaction.

    Returns False when the event was applied before (an activity retried after its commit).
    """
    at = datetime.fromisoformat(event.at)
    seen = connection.execute(select(col(CaseRow.last_event)).where(col(CaseRow.id) == event.case_id)).scalar()
    if seen is not None and seen >= event.event_no:
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
    append(connection, actor=event.actor, action=event.action, subject=f"case:{event.case_id}",
           before=to_json(event.before), after=to_json(event.after), reason=event.reason,
           policy_version=event.policy_version, workflow_id=event.case_id, at=at)
    if event.notify:
        queue(connection, snapshot, event.notify.event, event.notify.recipients, at)
    return True
