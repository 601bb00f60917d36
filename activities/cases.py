"""Case activities: record a case event (mirror row, audit entry and queued messages, once), check a
disposition's target against the data, and issue and confirm the ERP instructions of an approved one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine
from temporalio import activity

from core.case import CaseEvent, Confirmation, InstructionRequest, TargetCheck


class CaseActivities:
    def __init__(self, engine: Engine):
        self.engine = engine

    @activity.defn
    def record(self, event: CaseEvent) -> bool:
        from governance.service import record_event  # here, not above: the workflow imports this module

        with self.engine.begin() as connection:
            return record_event(connection, event)

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

    def all(self) -> list[Callable[..., Any]]:
        return [self.record, self.check_target, self.issue_instructions, self.confirm_instructions]
