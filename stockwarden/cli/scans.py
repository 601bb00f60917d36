"""Scans at the terminal: the latest snapshot evaluated here (or as a ScanWorkflow on the workers), its
findings stored and printed per rule or as JSON."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

import typer

from activities.scan import ScanSummary
from core.settings import get_settings
from core.temporal import connect
from rules.loader import load_policy
from rules.models import FindingRow
from rules.scan import ScanResult, finding_json, scan, stored_findings
from rules.versions import known_values
from stockwarden.cli.common import database, reported
from workflows.scan import ScanRequest, ScanWorkflow


def _scan_via_temporal(partitions: int) -> ScanSummary:
    settings = get_settings()

    async def start() -> ScanSummary:
        client = await connect()
        return await client.execute_workflow(ScanWorkflow.run, ScanRequest(partitions), id=f"scan-{uuid.uuid4()}",
                                             task_queue=settings.task_queue)

    with reported("nothing was scanned"):
        return asyncio.run(start())


def scan_command(
    policy_file: Annotated[Path | None, typer.Option("--policy", help="Use this file, not the active policy.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the findings as JSON.")] = False,
    via_temporal: Annotated[bool, typer.Option("--via-temporal", help="Run as a ScanWorkflow on the workers.")] = False,
) -> None:
    """Evaluate the latest snapshot against the active policy (or --policy FILE) and store the findings."""
    engine = database()
    if via_temporal:
        if policy_file is not None:
            raise typer.BadParameter("a scan through Temporal uses the active policy", param_hint="--policy")
        summary = _scan_via_temporal(get_settings().scan_partitions)
        typer.echo(f"Scan {summary.scan_id} through Temporal: snapshot {summary.snapshot_id} against "
                   f"{summary.policy} v{summary.version}: {summary.findings:,} findings")
        return
    with reported("nothing was scanned"):
        policy = None
        if policy_file is not None:
            with engine.connect() as connection:
                policy, _ = load_policy(policy_file, known=known_values(connection))
        result = scan(engine, policy=policy, processes=get_settings().scan_processes)
    with engine.connect() as connection:
        findings = stored_findings(connection, result.scan_id)
        if as_json:
            _write_json(result, findings)
            return
        by_rule: Counter[tuple[str, str]] = Counter((f.rule, f.severity) for f in findings)
    typer.echo(f"Scan {result.scan_id}: snapshot {result.snapshot.id} (as of {result.snapshot.as_of}) against "
               f"{result.policy.policy} v{result.policy.version}: {result.finding_count:,} findings")
    for (rule, severity), count in sorted(by_rule.items()):
        typer.echo(f"  {rule:28} {severity:9} {count:7,}")


def _write_json(result: ScanResult, findings: Iterable[FindingRow]) -> None:
    """The scan and its findings as one JSON object, one finding a line, written as they are read."""
    out = sys.stdout
    out.write(json.dumps({"policy": result.policy.policy, "version": result.policy.version,
                          "snapshot": result.snapshot.id, "scan": result.scan_id})[:-1] + ', "findings": [')
    out.write(",".join("\n" + json.dumps(finding_json(f), ensure_ascii=False) for f in findings))
    out.write("\n]}\n")
