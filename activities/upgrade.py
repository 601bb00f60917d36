"""The activity that ends the per-rule cases of the previous release once the position cases that take
them over have started (governance/upgrade.py): each old workflow is terminated naming its new case, and
its mirror row is cancelled with a `case.merged` audit entry.

It runs after `open_cases` in the same scan: the new cases carry the old ones' timelines and plans in their
input, so an old case is ended only once that input is with the server. Once no per-rule case is open it
costs one query."""

from __future__ import annotations

import asyncio
from contextlib import suppress
from datetime import UTC, datetime

from sqlalchemy import Engine
from temporalio import activity
from temporalio.client import Client
from temporalio.service import RPCError

from governance.opening import case_requests
from governance.upgrade import Merge, open_per_rule_cases, per_rule_merges, record_merge


class PerRuleMerging:
    def __init__(self, engine: Engine, client: Client):
        self.engine = engine
        self.client = client

    @activity.defn
    async def merge_per_rule_cases(self, scan_id: int) -> int:
        """End every open per-rule case, naming the position case that took it over; returns how many."""
        merges = await asyncio.to_thread(self._merges, scan_id)
        for merge in merges:
            reason = f"merged into {merge.new_case_id}" if merge.new_case_id else "resolved at upgrade"
            with suppress(RPCError):  # not found, or already ended: there is nothing left to end
                await self.client.get_workflow_handle(merge.old_case_id).terminate(reason=reason)
            await asyncio.to_thread(self._record, merge)
            activity.heartbeat(merge.old_case_id)
        return len(merges)

    def _merges(self, scan_id: int) -> list[Merge]:
        with self.engine.connect() as connection:
            if not open_per_rule_cases(connection):
                return []
            return per_rule_merges(connection, case_requests(connection, scan_id))

    def _record(self, merge: Merge) -> None:
        with self.engine.begin() as connection:
            record_merge(connection, merge, datetime.now(UTC))
