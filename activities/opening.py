"""The activity that opens or refreshes one CaseWorkflow per case of a scan, with signal-with-start."""

from __future__ import annotations

import asyncio
from contextlib import suppress
from dataclasses import dataclass

from sqlalchemy import Engine
from temporalio import activity
from temporalio.client import Client
from temporalio.service import RPCError

from core.case import CASE_WORKFLOW, REFRESH, Lines
from governance.opening import CaseRequest, case_requests

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
                    await self.client.start_workflow(
                        CASE_WORKFLOW, request.case, id=request.case_id, task_queue=queue,
                        start_signal=REFRESH, start_signal_args=[Lines(list(request.lines))])
                else:
                    with suppress(RPCError):  # the case already ended: nothing to tell it
                        await self.client.get_workflow_handle(request.case_id).signal(REFRESH, Lines([]))
                done += 1
                if done % 500 == 0:
                    activity.heartbeat(done)

        await asyncio.gather(*(send(r) for r in requests))
        cleared = sum(1 for r in requests if not r.lines)
        return CaseCounts(len(requests) - cleared, cleared)

    def _requests(self, scan_id: int) -> list[CaseRequest]:
        with self.engine.connect() as connection:
            return case_requests(connection, scan_id)
