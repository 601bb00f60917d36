"""Scan activities: thin wrappers over rules.scan, run in a worker's thread pool (they block on the
database and on durable-rules)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from temporalio import activity


@dataclass
class ScanPlanResult:
    scan_id: int
    sku_ranges: list[tuple[str, str]]


@dataclass
class PartitionRequest:
    scan_id: int
    first_sku: str
    last_sku: str


@dataclass
class ScanSummary:
    scan_id: int
    snapshot_id: int
    policy: str
    version: int
    findings: int
    cases: int = 0
    cleared: int = 0


class ScanActivities:
    """Bound to one engine, so tests hand in theirs and the worker the configured one."""

    def __init__(self, engine: Engine):
        self.engine = engine

    @activity.defn
    def plan_scan(self, partitions: int) -> ScanPlanResult:
        from rules.scan import plan_scan

        plan = plan_scan(self.engine, partitions)
        return ScanPlanResult(plan.scan_id, plan.sku_ranges)

    @activity.defn
    def scan_partition(self, request: PartitionRequest) -> int:
        from rules.scan import scan_partition

        return scan_partition(self.engine, request.scan_id, (request.first_sku, request.last_sku))

    @activity.defn
    def complete_scan(self, scan_id: int) -> ScanSummary:
        from rules.scan import complete_scan

        result = complete_scan(self.engine, scan_id)
        return ScanSummary(result.scan_id, result.snapshot.id or 0, result.policy.policy, result.policy.version,
                           result.finding_count)

    def all(self) -> list[Callable[..., Any]]:
        return [self.plan_scan, self.scan_partition, self.complete_scan]
