"""Queueing a case step's messages, one per recipient, in the step's own transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert

from notifications.models import QUEUED, URGENT_EVENTS, Notification

SNAPSHOT_FIELDS = ("case_id", "event_no", "rule", "sku", "site", "severity", "state", "owner", "assignees",
                   "escalation_level", "acknowledge_due", "resolve_due", "lines", "policy_version", "proposal",
                   "title_en", "title_zh", "reason", "actor", "failed_delivery")


def queue(connection: Connection, event: dict[str, Any], template: str, recipients: list[str], at: datetime) -> int:
    snapshot = {name: event.get(name) for name in SNAPSHOT_FIELDS}
    rows = [dict(key=f"{event['case_id']}#{event['event_no']}#{recipient}", case_id=event["case_id"], event=template,
                 recipient=recipient, urgent=template in URGENT_EVENTS, state=QUEUED, attempts=0, failing=False,
                 next_attempt_at=at, last_error="", snapshot=snapshot, created_at=at)
            for recipient in dict.fromkeys(recipients)]
    if rows:
        connection.execute(insert(Notification), rows)
    return len(rows)
