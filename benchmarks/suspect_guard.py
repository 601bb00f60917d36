"""Benchmark: what the suspect-snapshot guard costs a load that has a previous snapshot to be compared with.

A first load is compared with nothing (one count and one sum); the next one also looks up each of the
previous snapshot's positions in the new one. This loads the demo company, then the same export with one
lot changed (accepted) and the export cut at a row boundary to 55.5 % of its lots (suspect), and prints the
guard's time inside each load (before the tables are analysed) and again after it, apart from the whole load:

    python -m benchmarks.suspect_guard --database sqlite
    python -m benchmarks.suspect_guard --database postgresql
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import inventory.ingest
from benchmarks.scratch import scratch_database
from core.db import make_engine, migrate
from inventory.ingest import ingest
from inventory.suspect import Comparison, compare, guard

IN_LOAD: list[float] = []


def _timed_guard(*args: Any, **kwargs: Any) -> Comparison:
    """inventory.suspect.guard as the load calls it, timed."""
    started = time.perf_counter()
    try:
        return guard(*args, **kwargs)
    finally:
        IN_LOAD.append(time.perf_counter() - started)

AS_OF = date(2026, 11, 25)


def _variant(source: Path, target: Path, keep_lots: int | None) -> None:
    """The export again, its first lot's quantity changed by one unit, or its lots cut after `keep_lots` rows."""
    shutil.copytree(source, target)
    with (source / "lots.csv").open(encoding="utf-8") as handle:
        lines = handle.readlines()
    if keep_lots is None:
        cells = lines[1].split(",")
        cells[4] = str(int(float(cells[4])) + 1)
        lines[1] = ",".join(cells)
    else:
        lines = lines[:1 + keep_lots]
    (target / "lots.csv").write_text("".join(lines), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--lots", type=int, default=200_000)
    parser.add_argument("--pg-admin-url", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    inventory.ingest.guard = _timed_guard

    with tempfile.TemporaryDirectory(prefix="sw-guard-") as tmp:
        folder = Path(tmp) / "export"
        subprocess.run([sys.executable, "-m", "stockwarden.cli", "demo-data", "--out", str(folder),
                        "--lots", str(args.lots), "--seed", "11", "--as-of", AS_OF.isoformat()], check=True,
                       capture_output=True)
        _variant(folder, Path(tmp) / "next", None)
        _variant(folder, Path(tmp) / "cut", args.lots * 111 // 200)
        with scratch_database(args.database, Path(tmp), args.pg_admin_url) as url:
            engine = make_engine(url)
            try:
                migrate(engine)
                print(f"database {args.database}, {args.lots:,} lots")
                for day, name in enumerate(("export", "next", "cut")):
                    started = time.perf_counter()
                    result = ingest(engine, Path(tmp) / name, as_of=AS_OF + timedelta(days=day))
                    load_s = time.perf_counter() - started
                    with engine.connect() as connection:
                        started = time.perf_counter()
                        comparison = compare(connection, result.snapshot_id)
                        guard_s = time.perf_counter() - started
                    print(f"  {name:7} {result.row_counts['lots']:>9,} lots  load {load_s:6.1f} s  guard in the load "
                          f"{IN_LOAD[-1]:5.2f} s, after it {guard_s:5.2f} s  {result.state:9} "
                          f"removed {comparison.removed_positions:,}", flush=True)
            finally:
                engine.dispose()


if __name__ == "__main__":
    main()
