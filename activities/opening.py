"""The activity that opens or refreshes one case per stock position of a scan, with signal-with-start.

An ended case's workflow id is never started again (REJECT_DUPLICATE): the mirror may not yet know that a
case ended, and a second run would restart its event numbers, which the mirror then drops as already seen."""

from __future__ import annotations

import asyncio
from contextlib import suppress
from dataclasses import dataclass

from sqlalchemy import Engine
from temporalio import activity
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from core.case import CASE_WORKFLOW, REFRESH
from governance.opening import CaseRequest, after_rejection, case_requests
from governance.upgrade import attach_merges

CONCURRENT_STARTS = 64
"""Bounded so thousands of cases do not exhaust the server's pollers or the client's connections."""


@dataclass
class CaseCounts:
    cases: int
    cleared: int


class CaseOpening:
    def __init__(self, engine: Engine, client: Client):
        self.engine = engine
        self.client = client

    @activity.defn
    async def open_cases(self, scan_id: int) -> CaseCounts:
        """Start each case of the scan, or refresh its lines if it runs; tell vanished cases they cleared."""
        requests = await asyncio.to_thread(self._requests, scan_id)
        queue = activity.info().task_queue
        gate = asyncio.Semaphore(CONCURRENT_STARTS)
        done = 0

        async def send(request: CaseRequest) -> None:
            nonlocal done
            async with gate:
                if request.lines and request.case is not None:
                    await self._start(request, queue)
                else:
                    with suppress(RPCError):  # the case already ended: nothing to tell it
                        await self.client.get_workflow_handle(request.case_id).signal(REFRESH, request.refresh)
                done += 1
                if done % 500 == 0:
                    activity.heartbeat(done)

        await asyncio.gather(*(send(r) for r in requests))
        cleared = sum(1 for r in requests if not r.lines)
        return CaseCounts(len(requests) - cleared, cleared)

    async def _start(self, request: CaseRequest, queue: str) -> None:
        """Start the case, or signal it if it runs. A case that ended after the scan read the mirror is
        refused by Temporal: then its position's next case starts instead, so the position is governed from
        this scan on rather than from the next snapshot's."""
        for _attempt in range(3):
            assert request.case is not None
            try:
                await self.client.start_workflow(
                    CASE_WORKFLOW, request.case, id=request.case_id, task_queue=queue,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    start_signal=REFRESH, start_signal_args=[request.refresh])
                return
            except WorkflowAlreadyStartedError:
                following = await asyncio.to_thread(self._after_rejection, request)
                if following is None:
                    return
                request = following

    def _after_rejection(self, request: CaseRequest) -> CaseRequest | None:
        with self.engine.connect() as connection:
            return after_rejection(connection, request)

    def _requests(self, scan_id: int) -> list[CaseRequest]:
        with self.engine.connect() as connection:
            requests = case_requests(connection, scan_id)
            attach_merges(connection, requests)  # the per-rule cases each new case takes over (upgrade)
            return requests
