"""Benchmark: latency of the case list and case detail over HTTP with 100,000 cases.

    python -m benchmarks.api_latency [--cases 100000] [--database postgresql] [--requests 300] [--runs 3]

Prepares a scratch database (a small demo company and its scan, then cases in the mirror as
CaseWorkflow records them, each with its audit entry), serves the app with uvicorn in a child process
and sends requests one at a time from this process over loopback: the first page of the list, filtered
pages, pages deep in a sorted list (following cursors), an owner's own list, and case details. Prints
p50/p95 per kind for each run and the medians over the runs. Target (issue 6): p95 under 50 ms.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from api.auth import create_token
from benchmarks.pack import AS_OF, add_cases
from benchmarks.scratch import governed_demo, scratch_database
from core.db import make_engine
from governance.visibility import Role
from rules.scan import scan
from stockwarden.temporal import free_port


def app() -> object:
    """The uvicorn factory of the child process: the real app on the scratch database, no Temporal (the
    list and the detail read the mirror and the audit trail only)."""
    from api.app import create_app
    from core.settings import get_settings

    return create_app(make_engine(os.environ["STOCKWARDEN_DATABASE_URL"]), None, get_settings())  # type: ignore[arg-type]


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _timed(client: httpx.Client, count: int, request: Callable[[int], httpx.Response]) -> list[float]:
    for n in range(10):  # warm up connections and caches
        request(n)
    out = []
    for n in range(count):
        started = time.perf_counter()
        answer = request(n)
        out.append((time.perf_counter() - started) * 1000)
        if answer.status_code != 200:
            raise SystemExit(f"{answer.request.url}: {answer.status_code} {answer.text[:300]}")
    return out


def measure(base: str, admin: str, owner: str, cases: int, count: int) -> dict[str, list[float]]:
    rng = random.Random(7)
    headers = {"Authorization": f"Bearer {admin}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        deep: list[str] = []  # cursors of a walk through the list sorted by value, to revisit at random
        cursor = None
        for _ in range(100):
            page = client.get("/cases", params={"sort": "value", "descending": True, "limit": 100,
                                                **({"cursor": cursor} if cursor else {})}).json()
            cursor = page["next_cursor"]
            deep.append(cursor)
        kinds: dict[str, Callable[[int], httpx.Response]] = {
            "list: first page (100)": lambda n: client.get("/cases"),
            "list: state + site filter": lambda n: client.get("/cases", params={"state": "open", "site": f"SITE{n % 7}"}),
            "list: by value, deep page (cursor)": lambda n: client.get(
                "/cases", params={"sort": "value", "descending": True, "cursor": deep[rng.randrange(len(deep))]}),
            "list: overdue": lambda n: client.get("/cases", params={"overdue": True, "limit": 50}),
            "list: an owner's own": lambda n: client.get("/cases", headers={"Authorization": f"Bearer {owner}"}),
            "detail (with audit)": lambda n: client.get(f"/cases/case/bench/SITE{(k := rng.randrange(cases)) % 7}/SKU-{k:06d}"),
        }
        return {kind: _timed(client, count, request) for kind, request in kinds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=300, help="per kind and run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pg-admin-url", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sw-api-") as tmp, \
            scratch_database(args.database, Path(tmp), args.pg_admin_url) as url:
        engine = governed_demo(url, Path(tmp), 2_000, AS_OF,
                               progress=lambda m: print(f"  {m}", file=sys.stderr, flush=True))
        scan(engine)
        started = time.perf_counter()
        add_cases(url, args.cases)
        print(f"prepared {args.cases:,} cases on {args.database} in {time.perf_counter() - started:.0f} s", flush=True)
        admin = create_token(engine, "admin@example.com", [Role.ADMIN])
        owner = create_token(engine, "owner7@example.com", [Role.OWNER])
        engine.dispose()
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "uvicorn", "benchmarks.api_latency:app", "--factory",
                                   "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                                  env={**os.environ, "STOCKWARDEN_DATABASE_URL": url, "STOCKWARDEN_VAR_DIR": tmp})
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(200):
                try:
                    httpx.get(f"{base}/health", timeout=1)
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            p50s: dict[str, list[float]] = {}
            p95s: dict[str, list[float]] = {}
            for run in range(1, args.runs + 1):
                print(f"run {run}:", flush=True)
                for kind, times in measure(base, admin, owner, args.cases, args.requests).items():
                    p50, p95 = statistics.median(times), _percentile(times, 0.95)
                    p50s.setdefault(kind, []).append(p50)
                    p95s.setdefault(kind, []).append(p95)
                    print(f"  {kind:36} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms", flush=True)
            print(f"median of {args.runs} runs, {args.cases:,} cases, {args.database}:")
            for kind in p50s:
                p95 = statistics.median(p95s[kind])
                print(f"  {kind:36} p50 {statistics.median(p50s[kind]):6.1f} ms  p95 {p95:6.1f} ms"
                      f"  {'ok' if p95 < 50 else 'OVER the 50 ms target'}")
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
