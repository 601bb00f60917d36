"""ScanWorkflow: plan a scan, evaluate its SKU ranges in parallel on any workers, complete it, then open
or refresh one case per stock position (SKU, site, owner), merge cases of the per-rule model into them,
and tell cases whose findings cleared.

More worker processes or machines make a scan faster; each activity holds one range's facts and no
more. A failed range is retried by Temporal and replaces its own findings, so nothing counts twice.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.opening import CaseCounts, CaseOpening
    from activities.scan import PartitionRequest, ScanActivities, ScanPlanResult, ScanSummary
    from activities.upgrade import PerRuleMerging


@dataclass
class ScanRequest:
    partitions: int = 4


@workflow.defn
class ScanWorkflow:
    @workflow.run
    async def run(self, request: ScanRequest) -> ScanSummary:
        retry = RetryPolicy(maximum_attempts=5, initial_interval=timedelta(seconds=2))
        plan: ScanPlanResult = await workflow.execute_activity_method(
            ScanActivities.plan_scan, request.partitions, start_to_close_timeout=timedelta(minutes=5),
            retry_policy=retry)
        await asyncio.gather(*(
            workflow.execute_activity_method(
                ScanActivities.scan_partition, PartitionRequest(plan.scan_id, first, last),
                start_to_close_timeout=timedelta(minutes=30), retry_policy=retry)
            for first, last in plan.sku_ranges
        ))
        summary: ScanSummary = await workflow.execute_activity_method(
            ScanActivities.complete_scan, plan.scan_id, start_to_close_timeout=timedelta(minutes=5),
            retry_policy=retry)
        counts: CaseCounts = await workflow.execute_activity_method(
            CaseOpening.open_cases, plan.scan_id, start_to_close_timeout=timedelta(minutes=30),
            heartbeat_timeout=timedelta(minutes=2), retry_policy=retry)
        summary.cases, summary.cleared = counts.cases, counts.cleared
        # After the opening, so each new case holds the per-rule cases it takes over before they end (and a
        # scan already past open_cases when the worker was upgraded replays unchanged).
        await workflow.execute_activity_method(
            PerRuleMerging.merge_per_rule_cases, plan.scan_id, start_to_close_timeout=timedelta(minutes=30),
            heartbeat_timeout=timedelta(minutes=2), retry_policy=retry)
        return summary
