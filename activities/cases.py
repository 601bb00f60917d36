"""Case activities: record a case event (mirror row, audit entry and queued messages, once), check a
disposition's target against the data, hold a plan's stock against every other plan and let it go, read
what the stock holds now, and issue and confirm the ERP instructions of an approved plan."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine
from temporalio import activity

from core.case import (
    REDUCE_PURCHASE_ORDER,
    CaseEvent,
    Confirmation,
    HoldRequest,
    InstructionRequest,
    StockCheck,
    TargetCheck,
)


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
    def hold_stock(self, request: HoldRequest) -> list[str]:
        """Hold the plan's lots against every other open plan in the company, all or nothing; the problems
        (a lot asked beyond what is neither held elsewhere nor gone) when it cannot. A retry holds nothing twice."""
        from governance.reservations import Hold, reserve

        holds = [Hold(line.line_no or n, request.sku, request.site, line.lot, line.serial, Decimal(line.quantity))
                 for n, line in enumerate(request.lines, start=1) if line.disposition != REDUCE_PURCHASE_ORDER]
        with self.engine.begin() as connection:
            return reserve(connection, request.case_id, request.plan_no, holds, datetime.fromisoformat(request.at))

    @activity.defn
    def release_stock(self, request: HoldRequest) -> int:
        """Let go of a plan's holds (rejected, cancelled, trimmed), or of some of its lines."""
        from governance.reservations import release

        with self.engine.begin() as connection:
            return release(connection, request.case_id, request.plan_no, request.reason,
                           datetime.fromisoformat(request.at), request.line_nos or None)

    @activity.defn
    def trim_stock(self, request: HoldRequest) -> int:
        """Cut the holds of the plan lines a trim left smaller to what each keeps (`request.lines`)."""
        from governance.reservations import shrink

        with self.engine.begin() as connection:
            return shrink(connection, request.case_id, request.plan_no,
                          {line.line_no: Decimal(line.quantity) for line in request.lines}, request.reason,
                          datetime.fromisoformat(request.at))

    @activity.defn
    def stock_now(self, check: StockCheck) -> list[str]:
        """What the latest snapshot (with the movements applied since) holds of each plan line's lot, so
        nothing approved is sent for stock that is gone; for a purchase-order line, what is still open on it."""
        from governance.reservations import held_by_others, on_hand
        from governance.targets import open_on_order

        with self.engine.connect() as connection:  # what other plans hold is not this plan's to take
            return [str(open_on_order(connection, check.sku, check.site, line.target))
                    if line.disposition == REDUCE_PURCHASE_ORDER
                    else str(max(on_hand(connection, check.sku, check.site, line.lot, line.serial)
                                 - held_by_others(connection, check.case_id, check.sku, check.site, line.lot,
                                                  line.serial), Decimal(0)))
                    for line in check.lines]

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
        return [self.record, self.check_target, self.hold_stock, self.release_stock, self.trim_stock, self.stock_now,
                self.issue_instructions, self.confirm_instructions]
