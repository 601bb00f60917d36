"""Case activities: record a case event (mirror row, audit entry and queued messages, once), check a
disposition's target against the data, and issue and confirm the ERP instructions of an approved one."""

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
    quantity: str = "0"
    return_by: str = ""
    """The last day the supplier takes the lot back (ISO date); empty when it takes no returns."""
    expires_on: str = ""


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
    proposal: Any = None
    """The open disposition proposal with its signatures and instructions, as plain data."""
    notify: Any = None
    """{"event": template, "recipients": [...]}: messages queued with this step, in its transaction."""
    title_en: str = ""
    title_zh: str = ""


@dataclass
class TargetCheck:
    sku: str
    site: str
    disposition: str
    target: str
    quantity: str


@dataclass
class InstructionLine:
    lot: str
    serial: str
    quantity: str
    value: str


@dataclass
class InstructionRequest:
    """An approved proposal to turn into ERP instructions, one per line, each with an idempotency key."""

    case_id: str
    proposal_no: int
    disposition: str
    sku: str
    site: str
    supplier: str
    target: str
    postpone_to: str
    lines: list[InstructionLine]
    approved_by: list[str]
    policy_version: str
    at: str


@dataclass
class Confirmation:
    case_id: str
    instructions: list[int]
    actor: str
    note: str
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
    def check_target(self, check: TargetCheck) -> list[str]:
        """What the latest snapshot says against the proposal's target; empty when it may go there."""
        from governance.targets import target_problems

        with self.engine.connect() as connection:
            return target_problems(connection, check.sku, check.site, check.disposition, check.target,
                                   check.quantity)

    @activity.defn
    def issue_instructions(self, request: InstructionRequest) -> list[int]:
        """Write the instructions into the outbox; a retry finds them by idempotency key and adds none."""
        from governance.outbox import issue

        with self.engine.begin() as connection:
            return issue(connection, request)

    @activity.defn
    def confirm_instructions(self, confirmation: Confirmation) -> int:
        from governance.outbox import confirm

        with self.engine.begin() as connection:
            return confirm(connection, confirmation)

    def all(self) -> list[object]:
        return [self.record, self.check_target, self.issue_instructions, self.confirm_instructions]
