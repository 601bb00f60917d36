"""Case activities: record a case event (mirror row and audit entry, once) and notify people."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Engine
from temporalio import activity

log = logging.getLogger(__name__)


@dataclass
class CaseLine:
    """One lot (or, for a SKU rule, the SKU-site) of a case, with the finding's numbers."""

    lot: str
    serial: str
    value: str
    metrics: dict[str, Any]


@dataclass
class CaseEvent:
    case_id: str
    event_no: int
    action: str
    actor: str
    state: str
    before: Any
    after: Any
    reason: str
    rule: str
    sku: str
    site: str
    severity: str
    owner: str
    assignees: list[str]
    escalation_level: int
    acknowledge_due: str
    resolve_due: str
    lines: list[CaseLine]
    policy_version: str
    at: str


class CaseActivities:
    def __init__(self, engine: Engine):
        self.engine = engine

    @activity.defn
    def record(self, event: CaseEvent) -> bool:
        from governance.service import record_event

        with self.engine.begin() as connection:
            return record_event(connection, asdict(event))

    @activity.defn
    def notify(self, case_id: str, template: str, recipients: list[str]) -> None:
        """Until the notifications issue lands, sending is a log line; the case's audit trail already
        records each step that notifies."""
        log.info("notify %s about %s: %s", ", ".join(recipients), case_id, template)

    def all(self) -> list[object]:
        return [self.record, self.notify]
