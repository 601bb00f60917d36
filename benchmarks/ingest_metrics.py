"""Benchmark: generate a large demo company, ingest it and compute every fact; print rows/s and peak RSS.

Run one database per process so that the peak RSS printed belongs to that database alone:

    python -m benchmarks.ingest_metrics --database sqlite
    python -m benchmarks.ingest_metrics --database postgresql

Target (issue 2): ingest + metrics of 200,000 lots and about 1,000,000 movements in under 60 s and
under 1.5 GiB on this 2-core machine, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from benchmarks.scratch import scratch_database
from core.db import make_engine, migrate
from inventory.ingest import ingest
from inventory.metrics import iter_facts, latest_snapshot

AS_OF = date(2026, 11, 25)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _data_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for _ in handle) - 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--lots", type=int, default=200_000)
    parser.add_argument("--pg-admin-url", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sw-bench-") as tmp:
        folder = Path(tmp) / "export"
        started = time.perf_counter()
        # Generated in a child process, so the peak RSS below is the ingest's and the metrics' alone.
        subprocess.run([sys.executable, "-m", "stockwarden.cli", "demo-data", "--out", str(folder),
                        "--lots", str(args.lots), "--seed", "11", "--as-of", AS_OF.isoformat()], check=True)
        counts = {path.stem: _data_lines(path) for path in folder.glob("*.csv")}
        print(f"generated {counts['lots']:,} lots, {counts['movements']:,} movements "
              f"in {time.perf_counter() - started:.1f} s (not part of the target)", flush=True)

        with scratch_database(args.database, Path(tmp), args.pg_admin_url) as url:
            engine = make_engine(url)
            try:
                migrate(engine)
                rows = sum(counts.values())
                started = time.perf_counter()
                ingest(engine, folder, as_of=AS_OF, loaded_by="benchmark",
                       progress=lambda message: print(f"  {message}", file=sys.stderr, flush=True))
                ingest_s = time.perf_counter() - started

                started = time.perf_counter()
                lot_count = sku_site_count = 0
                with engine.connect() as connection:
                    snapshot = latest_snapshot(connection)
                    assert snapshot is not None
                    for group in iter_facts(connection, snapshot):
                        sku_site_count += 1
                        lot_count += len(group.lots)
                metrics_s = time.perf_counter() - started
            finally:
                engine.dispose()

    total = ingest_s + metrics_s
    print(f"database          {args.database}")
    print(f"ingest            {rows:,} rows in {ingest_s:.1f} s = {rows / ingest_s:,.0f} rows/s")
    print(f"metrics           {lot_count:,} lot facts + {sku_site_count:,} SKU-site facts in {metrics_s:.1f} s "
          f"= {lot_count / metrics_s:,.0f} lots/s")
    print(f"ingest + metrics  {total:.1f} s (target < 60 s)")
    print(f"peak RSS          {peak_rss_mib():,.0f} MiB (target < 1536 MiB)")


if __name__ == "__main__":
    main()
