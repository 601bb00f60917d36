"""Applying case events: the mirror row, the audit entry and the step's messages are written together,
and only once."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, insert, select, update

from audit.trail import append
from governance.models import CaseRow
from notifications.queue import queue


def record_event(connection: Connection, event: dict[str, Any]) -> bool:
    """Upsert the case mirror and append the audit entry of `event`, in the caller's transaction.

    Returns False when the event was applied before (an activity retried after its commit).
    """
    at = datetime.fromisoformat(event["at"])
    seen = connection.execute(select(CaseRow.last_event).where(CaseRow.id == event["case_id"])).scalar()  # type: ignore[arg-type]
    if seen is not None and seen >= event["event_no"]:
        return False
    values = {
        "rule": event["rule"], "sku": event["sku"], "site": event["site"], "severity": event["severity"],
        "state": event["state"], "owner": event["owner"], "assignees": event["assignees"],
        "escalation_level": event["escalation_level"],
        "acknowledge_due": datetime.fromisoformat(event["acknowledge_due"]),
        "resolve_due": datetime.fromisoformat(event["resolve_due"]),
        "value": sum((Decimal(line["value"]) for line in event["lines"]), Decimal(0)),
        "lines": event["lines"], "policy_version": event["policy_version"], "updated_at": at,
        "last_event": event["event_no"], "proposal": event.get("proposal"),
        "title_en": event.get("title_en", ""), "title_zh": event.get("title_zh", ""),
    }
    if seen is None:
        connection.execute(insert(CaseRow).values(id=event["case_id"], opened_at=at, **values))
    else:
        connection.execute(update(CaseRow).where(CaseRow.id == event["case_id"]).values(**values))  # type: ignore[arg-type]
    append(connection, actor=event["actor"], action=event["action"], subject=f"case:{event['case_id']}",
           before=event["before"], after=event["after"], reason=event["reason"],
           policy_version=event["policy_version"], workflow_id=event["case_id"], at=at)
    if event.get("notify"):
        queue(connection, event, event["notify"]["event"], event["notify"]["recipients"], at)
    return True
