"""Audit checkpoints in Temporal: a keeper that holds every signed checkpoint it is signalled (its
history is a store outside the database, which a database administrator cannot rewrite), and the short
workflow the daily Schedule starts to write one. All I/O is in activities/checkpoints.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.checkpoints import CheckpointActivities
    from audit.checkpoints import Checkpoint

KEEPER_ID = "audit-checkpoints"
SIGNALS_PER_RUN = 500
"""Checkpoints received after which the keeper continues as new (carrying the list), so a run's history
stays short: at a checkpoint a day and one per pack, about a year."""


@dataclass
class KeeperInput:
    kept: list[Checkpoint] = field(default_factory=list)
    """What the previous run held (continue-as-new carries the whole list)."""
    per_run: int = SIGNALS_PER_RUN


@workflow.defn
class CheckpointKeeper:
    @workflow.init
    def __init__(self, given: KeeperInput) -> None:
        self.kept = list(given.kept)
        self.received = 0

    @workflow.signal
    def record(self, checkpoint: Checkpoint) -> None:
        self.received += 1
        if all(k.signature != checkpoint.signature for k in self.kept):  # a retried activity sends it twice
            self.kept.append(checkpoint)

    @workflow.query
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
