"""The audit checkpoint activity: take a signed checkpoint of the trail, append it to the checkpoint file
and hand it to the keeper workflow, whose Temporal history is the second store outside the database."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import Engine
from temporalio import activity
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from audit.checkpoints import Anchor, Checkpoint, Kept

KEEPER_WORKFLOW = "CheckpointKeeper"
"""The keeper's workflow type name (workflows/checkpoints.py); started here by name, not by class."""
KEEPER_ID = "audit-checkpoints"
KEEP, KEPT = "record", "checkpoints"
"""The keeper's signal that hands it a checkpoint, and its query of what it holds."""
SIGNALS_PER_RUN = 500
"""Checkpoints received after which the keeper continues as new (carrying the list), so a run's history
stays short: at a checkpoint a day and one per pack, about a year."""


@dataclass
class KeeperInput:
    kept: list[Checkpoint] = field(default_factory=list)
    """What the previous run held (continue-as-new carries the whole list)."""
    per_run: int = SIGNALS_PER_RUN


class CheckpointActivities:
    def __init__(self, engine: Engine, client: Client, anchor: Anchor | None = None):
        self.engine = engine
        self.client = client
        self.anchor = anchor
        """None: the configured file and secret, read when a checkpoint is written."""

    @activity.defn
    async def write_checkpoint(self, reason: str) -> Checkpoint:
        anchor = self.anchor
        if anchor is None:
            from core.settings import get_settings

            anchor = Anchor.from_settings(get_settings())
        checkpoint = await asyncio.to_thread(anchor.write, self.engine, reason)
        await keep_in_temporal(self.client, activity.info().task_queue, checkpoint)
        return checkpoint


async def keep_in_temporal(client: Client, task_queue: str, checkpoint: Checkpoint) -> None:
    """Signal the checkpoint to the keeper, starting it if it does not run (signal-with-start)."""
    await client.start_workflow(KEEPER_WORKFLOW, KeeperInput(), id=KEEPER_ID, task_queue=task_queue,
                                start_signal=KEEP, start_signal_args=[checkpoint])


async def kept_in_temporal(client: Client) -> list[Kept]:
    """The checkpoints the keeper holds (none when it never ran)."""
    try:  # bounded: a query of a keeper whose worker does not answer must not hang its caller
        held = await client.get_workflow_handle(KEEPER_ID).query(KEPT, result_type=list[Checkpoint],
                                                                  rpc_timeout=timedelta(seconds=10))
    except RPCError as missing:
        if missing.status != RPCStatusCode.NOT_FOUND:
            raise
        return []
    return [Kept(checkpoint, f"Temporal workflow {KEEPER_ID}, checkpoint {n}") for n, checkpoint in enumerate(held, 1)]
