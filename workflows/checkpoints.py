"""Audit checkpoints in Temporal: a keeper that holds every signed checkpoint it is signalled (its
history is a store outside the database, which a database administrator cannot rewrite), and the short
workflow the daily Schedule starts to write one. All I/O is in activities/checkpoints.py."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.checkpoints import KEEP, KEEPER_WORKFLOW, KEPT, CheckpointActivities, KeeperInput
    from audit.checkpoints import Checkpoint


@workflow.defn(name=KEEPER_WORKFLOW)
class CheckpointKeeper:
    @workflow.init
    def __init__(self, given: KeeperInput) -> None:
        self.kept = list(given.kept)
        self.received = 0

    @workflow.signal(name=KEEP)
    def record(self, checkpoint: Checkpoint) -> None:
        self.received += 1
        if all(k.signature != checkpoint.signature for k in self.kept):  # a retried activity sends it twice
            self.kept.append(checkpoint)

    @workflow.query(name=KEPT)
    def checkpoints(self) -> list[Checkpoint]:
        return self.kept

    @workflow.run
    async def run(self, given: KeeperInput) -> None:
        await workflow.wait_condition(
            lambda: self.received >= given.per_run or workflow.info().is_continue_as_new_suggested())
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(KeeperInput(self.kept, given.per_run))


@workflow.defn
class DailyCheckpoint:
    """Started by the Schedule stockwarden-audit-checkpoint (stockwarden/temporal.py)."""

    @workflow.run
    async def run(self) -> Checkpoint:
        return await workflow.execute_activity_method(
            CheckpointActivities.write_checkpoint, "daily", start_to_close_timeout=timedelta(minutes=5),
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=5), maximum_attempts=20))
