"""Benchmark: write the governance pack for 200,000 lot positions and 20,000 cases.

    python -m benchmarks.pack [--lots 200000] [--cases 20000] [--database postgresql] [--runs 3]

Prepares a scratch database (the demo company, a scan, cases in the mirror with their audit entries),
then runs `stockwarden pack` in a child process several times and prints, per run, the seconds and the
child's peak RSS (KPIs computed and stored, every sheet written), and their medians. Target (issue 7):
under 20 s and under 1 GiB.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from benchmarks.scratch import governed_demo, scratch_database
from core.case import CaseEvent, from_json
from core.db import make_engine
from governance.service import record_event
from rules.scan import scan

AS_OF = date(2026, 11, 25)


def add_cases(url: str, count: int) -> None:
    """Cases as CaseWorkflow records them (mirror row and audit entry), opened across November."""
    engine = make_engine(url)
    opened = datetime(2026, 11, 1, tzinfo=UTC)
    states = ("open", "acknowledged", "awaiting_approval", "awaiting_confirmation")
    with engine.begin() as connection:
        for n in range(count):
            at = opened + timedelta(minutes=2 * n)
            record_event(connection, from_json(CaseEvent, {
                "case_id": f"case/bench/SITE{n % 7}/SKU-{n:06d}", "event_no": 1, "action": "case.opened",
                "actor": "stockwarden", "state": states[n % 4], "before": None, "after": "open", "reason": "",
                "rule": "idle-one-year", "sku": f"SKU-{n:06d}", "site": f"SITE{n % 7}", "severity": "medium",
                "owner": f"owner{n % 40}@example.com", "assignees": [f"owner{n % 40}@example.com"],
                "escalation_level": n % 3, "acknowledge_due": (at + timedelta(days=3)).isoformat(),
                "resolve_due": (at + timedelta(days=30)).isoformat(),
                "lines": [{"lot": f"L{n}", "serial": "", "value": "1234.50", "metrics": {}, "quantity": "3"}],
                "policy_version": "default v1", "at": at.isoformat(), "title_en": "Idle a year", "title_zh": "批次一年未动"}))
            if n % 5000 == 4999:
                print(f"  {n + 1:,} cases recorded", file=sys.stderr, flush=True)
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--lots", type=int, default=200_000)
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pg-admin-url", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sw-pack-") as tmp, \
            scratch_database(args.database, Path(tmp), args.pg_admin_url) as url:
        engine = governed_demo(url, Path(tmp), args.lots, AS_OF,
                               progress=lambda m: print(f"  {m}", file=sys.stderr, flush=True))
        findings = scan(engine).finding_count
        engine.dispose()
        add_cases(url, args.cases)
        print(f"prepared {args.lots:,} lots, {findings:,} findings, {args.cases:,} cases on {args.database}", flush=True)
        seconds, peaks = [], []
        for run in range(1, args.runs + 1):
            out = Path(tmp) / f"pack-{run}.xlsx"
            started = time.perf_counter()
            child = subprocess.Popen([sys.executable, "-m", "stockwarden.cli", "pack", "--period", "2026-11",
                                      "--out", str(out)], env={**os.environ, "STOCKWARDEN_DATABASE_URL": url,
                                                               "STOCKWARDEN_VAR_DIR": tmp},
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            _, status, usage = os.wait4(child.pid, 0)
            elapsed = time.perf_counter() - started
            if status != 0:
                raise SystemExit(f"pack failed: {child.stderr.read() if child.stderr else ''}")
            seconds.append(elapsed)
            peaks.append(usage.ru_maxrss / 1024)
            print(f"run {run}: {elapsed:.1f} s, peak RSS {usage.ru_maxrss / 1024:,.0f} MiB, "
                  f"{out.stat().st_size / 1e6:.1f} MB", flush=True)
        print(f"median: {statistics.median(seconds):.1f} s (target < 20 s), peak RSS "
              f"{statistics.median(peaks):,.0f} MiB (target < 1,024 MiB)")


if __name__ == "__main__":
    main()
