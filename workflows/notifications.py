"""The notification dispatcher: one long-lived workflow that delivers queued messages round after round.

Cases only queue their messages (in the transaction of the step that causes them), so a channel that is
down never stalls a case; an urgent message (escalation, approval request) wakes the dispatcher at once.
Once a day, after the digest hour (UTC), people who take a digest get one message with their cases.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.notifications import NotificationActivities

DISPATCHER_ID = "notification-dispatcher"
ROUNDS_PER_RUN = 500
"""Rounds after which the dispatcher continues as new, so its history stays short."""


@workflow.defn
class NotificationDispatcher:
    def __init__(self) -> None:
        self.woken = False
        self.last_digest = ""
        """The day (ISO) whose digest went out."""

    @workflow.signal
    def wake(self) -> None:
        self.woken = True

    @workflow.run
    async def run(self, interval_seconds: float, digest_hour: int, last_digest: str = "") -> None:
        self.last_digest = last_digest
        for _ in range(ROUNDS_PER_RUN):
            self.woken = False
            await workflow.execute_activity_method(
                NotificationActivities.deliver_due, start_to_close_timeout=timedelta(minutes=10),
                retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=5)))
            now = workflow.now()
            if now.hour >= digest_hour and self.last_digest != now.date().isoformat():
                await workflow.execute_activity_method(
                    NotificationActivities.deliver_digests, start_to_close_timeout=timedelta(minutes=30),
                    retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=5)))
                self.last_digest = now.date().isoformat()
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(lambda: self.woken, timeout=timedelta(seconds=interval_seconds))
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(args=[interval_seconds, digest_hour, self.last_digest])
