"""Benchmark: scan a large snapshot under the default policy; durable-rules' own share; incremental latency.

    python -m benchmarks.rules_scan --lots 200000            # SQLite
    python -m benchmarks.rules_scan --lots 50000             # to see that memory does not grow with lots
    python -m benchmarks.rules_scan --database postgresql
    python -m benchmarks.rules_scan --workers 2          # the scan as a ScanWorkflow on 2 worker processes

Prints: scan seconds end to end (facts from the database, evaluation, findings stored); the seconds
durable-rules alone takes to assert the same facts into the same compiled ruleset; their ratio; the
peak RSS of this process (the export is generated and ingested in child processes, so it is the
scan's); and p50/p99 of re-evaluating after one movement. Targets (issue 3): ratio <= 1.5, peak RSS
< 1 GiB and flat in lot count, p99 < 20 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from durable.engine import MessageNotHandledException

from benchmarks.scratch import scratch_database
from benchmarks.tree_memory import TreeMemory
from core.db import make_engine
from inventory.metrics import iter_facts, latest_snapshot
from rules.engine import Evaluator, engine_facts
from rules.incremental import reevaluate
from rules.loader import load_policy
from rules.processes import cores
from rules.scan import latest_scan, scan
from rules.versions import activate
from stockwarden.temporal import dev_server, free_port
from workflows.scan import ScanRequest, ScanWorkflow

AS_OF = date(2026, 11, 25)
ROOT = Path(__file__).resolve().parents[1]


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cli(*args: str, url: str) -> None:
    subprocess.run([sys.executable, "-m", "stockwarden.cli", *args], check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "STOCKWARDEN_DATABASE_URL": url})


def engine_alone(url: str) -> tuple[float, int]:
    """Seconds spent in durable-rules' assert_fact for every fact of the snapshot, same ruleset, same chunks."""
    policy, _ = load_policy(ROOT / "policies" / "default.yaml")
    evaluator = Evaluator(policy)
    host, name = evaluator.host, evaluator.compiled.name
    engine = make_engine(url)
    asserting, count = 0.0, 0
    with engine.connect() as connection:
        snapshot = latest_snapshot(connection)
        assert snapshot is not None
        chunk: list[dict] = []

        def run(facts: list[dict], sid: str) -> float:
            """The same loop as Evaluator.fire, timed without the session's deletion."""
            started = time.perf_counter()
            for fact in facts:
                fact["sid"] = sid
                try:  # noqa: SIM105 - as in Evaluator.fire: no context manager per fact
                    host.assert_fact(name, fact)
                except MessageNotHandledException:
                    pass
            spent = time.perf_counter() - started
            host.delete_state(name, sid)
            return spent

        for group in iter_facts(connection, snapshot):
            for fact_id, fact, _subject in engine_facts(group, evaluator.projections):
                fact["id"] = fact_id
                chunk.append(fact)
                count += 1
            if len(chunk) >= 2_000:
                asserting += run(chunk, f"alone-{count}")
                chunk = []
        asserting += run(chunk, "alone-last")
    engine.dispose()
    return asserting, count


def incremental_latencies(url: str, folder: Path, samples: int) -> list[float]:
    """Re-evaluate after one issue movement of one unit from a random lot with stock, `samples` times."""
    engine = make_engine(url)
    rng = random.Random(5)
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT sku, site, lot, serial FROM lot_position WHERE qty >= 1 AND qc_status = 'released'").all()
    picks = rng.sample(rows, samples + 1)
    del rows  # 200,000 tuples of the benchmark's own would make every full garbage collection slow
    gc.collect()
    latencies = []
    for n, (sku, site, lot, serial) in enumerate(picks):
        path = folder / f"movement-{n}.csv"
        path.write_text(f"sku,site,lot,serial,type,qty,moved_on,reference\n{sku},{site},{lot},{serial},issue,1,"
                        f"{AS_OF},BENCH-{n}\n", encoding="utf-8")
        started = time.perf_counter()
        reevaluate(engine, path, actor="benchmark")
        if n:  # the first call warms caches (policy parsed, ruleset registered), as a running service has
            latencies.append((time.perf_counter() - started) * 1000)
    engine.dispose()
    return latencies


def _peak_rss_of(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def scan_via_temporal(url: str, workers: int, partitions: int, folder: Path) -> tuple[float, int, float]:
    """Seconds until a ScanWorkflow on a dev server and `workers` worker processes has completed its scan;
    findings; the workers' peak RSS."""
    port = free_port()
    env = {**os.environ, "STOCKWARDEN_DATABASE_URL": url, "STOCKWARDEN_TEMPORAL_ADDRESS": f"127.0.0.1:{port}",
           "STOCKWARDEN_TASK_QUEUE": "bench", "STOCKWARDEN_SCAN_PARTITIONS": str(partitions)}

    async def run() -> tuple[float, int, float]:
        async with dev_server(port) as client:
            pool = [subprocess.Popen([sys.executable, "-m", "stockwarden.cli", "worker"], env=env,
                                     stderr=subprocess.DEVNULL) for _ in range(workers)]
            try:
                await asyncio.sleep(3)  # let the workers connect and poll
                started = time.perf_counter()
                handle = await client.start_workflow(ScanWorkflow.run, ScanRequest(partitions), id="bench-scan",
                                                     task_queue="bench")
                # The workflow goes on to open cases (benchmarks.cases_open measures that): the scan is done
                # when its Scan row is completed.
                engine = make_engine(url)
                while True:
                    with engine.connect() as connection:
                        latest = latest_scan(connection)
                    if latest is not None:
                        break
                    await asyncio.sleep(0.05)
                seconds = time.perf_counter() - started
                engine.dispose()
                await handle.result()
                return seconds, latest.finding_count, max(_peak_rss_of(p.pid) for p in pool)
            finally:
                for process in pool:
                    process.terminate()
                    process.wait(timeout=30)

    seconds, findings, rss = asyncio.run(run())
    return seconds, findings, rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--lots", type=int, default=200_000)
    parser.add_argument("--samples", type=int, default=100, help="single-movement re-evaluations to time")
    parser.add_argument("--workers", type=int, default=0, help="scan through Temporal on this many worker processes")
    parser.add_argument("--partitions", type=int, default=8, help="SKU ranges of a scan through Temporal")
    parser.add_argument("--processes", type=int, default=0,
                        help="processes of the scan in one command, as STOCKWARDEN_SCAN_PROCESSES (0: one per core)")
    parser.add_argument("--pg-admin-url", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sw-rules-") as tmp:
        folder = Path(tmp)
        with scratch_database(args.database, folder, args.pg_admin_url) as url:
            print(f"preparing {args.lots:,} lots on {args.database} (child processes) ...", flush=True)
            cli("demo-data", "--out", str(folder / "export"), "--lots", str(args.lots), "--seed", "11",
                "--as-of", AS_OF.isoformat(), url=url)
            cli("ingest", str(folder / "export"), "--as-of", AS_OF.isoformat(), url=url)
            engine = make_engine(url)
            activate(engine, ROOT / "policies" / "default.yaml", actor="benchmark")
            if args.workers:
                scan_s, finding_count, scan_rss = scan_via_temporal(url, args.workers, args.partitions, folder)
            else:
                with TreeMemory(folder) as memory:
                    started = time.perf_counter()
                    finding_count = scan(engine, processes=args.processes).finding_count
                    scan_s = time.perf_counter() - started
                scan_rss = max(peak_rss_mib(), memory.peak_mib)
            print(f"scan: {finding_count:,} findings in {scan_s:.1f} s", flush=True)

            alone_s, facts = engine_alone(url)
            latencies = incremental_latencies(url, folder, args.samples)
            engine.dispose()

    quantiles = statistics.quantiles(latencies, n=100)
    print(f"database              {args.database}")
    print(f"lots                  {args.lots:,} ({facts:,} facts with their SKU-sites)")
    how = (f"ScanWorkflow, {args.workers} worker processes, {args.partitions} partitions" if args.workers
           else f"stockwarden scan, {cores(args.processes)} process(es)")
    print(f"scan end to end       {scan_s:.2f} s ({facts / scan_s:,.0f} facts/s; {how})")
    print(f"durable-rules alone   {alone_s:.2f} s asserting the same facts into the same ruleset")
    print(f"ratio                 {scan_s / alone_s:.2f} (target <= 1.5)")
    print(f"peak RSS of the scan  {scan_rss:,.0f} MiB{' (largest worker)' if args.workers else ' (with its children)'} "
          "(target < 1024 MiB, flat in lot count)")
    print(f"one movement          p50 {statistics.median(latencies):.1f} ms, p99 {quantiles[98]:.1f} ms "
          f"over {len(latencies)} re-evaluations (target p99 < 20 ms)")


if __name__ == "__main__":
    main()
