"""Queueing a case step's messages, one per recipient, in the step's own transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert

from core.case import CaseSnapshot, to_json
from notifications.models import QUEUED, URGENT_EVENTS, Notification


def queue(connection: Connection, snapshot: CaseSnapshot, template: str, recipients: list[str], at: datetime) -> int:
    """One message per recipient of the step `snapshot` tells; its key makes a retried step queue none twice."""
    stored = to_json(snapshot)
    rows = [dict(key=f"{snapshot.case_id}#{snapshot.event_no}#{recipient}", case_id=snapshot.case_id, event=template,
                 recipient=recipient, urgent=template in URGENT_EVENTS, state=QUEUED, attempts=0, failing=False,
                 next_attempt_at=at, last_error="", snapshot=stored, created_at=at)
            for recipient in dict.fromkeys(recipients)]
    if rows:
        connection.execute(insert(Notification), rows)
    return len(rows)
