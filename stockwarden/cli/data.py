"""Stock data in and out: load an ERP export as a snapshot, apply movements to it, print its facts, write a
demo company, bring the schema up to date."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from core.settings import get_settings
from inventory.demo import write_company
from inventory.facts_output import write_json, write_table
from inventory.ingest import ingest
from inventory.metrics import iter_facts, latest_snapshot
from inventory.models import SnapshotState
from rules.incremental import reevaluate
from rules.scan import finding_json
from rules.snapshots import suspect_drop_of
from stockwarden.cli.common import AsOf, By, actor_of, database, parse_day, reported, say
from stockwarden.cli.profiles import ProfileOption, chosen


def ingest_command(
    path: Annotated[Path, typer.Argument(help="A folder of CSV files or one .xlsx workbook.")],
    as_of: AsOf = None,
    loaded_by: Annotated[str | None, typer.Option("--by", help="Who loads it (default: login name).")] = None,
    profile: ProfileOption = None,
) -> None:
    """Load an ERP export as a new snapshot; every bad row is reported and nothing is stored. With --profile
    the export is read as the ERP wrote it (its files, column names and codes)."""
    day = parse_day(as_of, "--as-of")
    mapping = chosen(profile)
    engine = database()
    with reported("nothing was stored"):
        result = ingest(engine, path, as_of=day, loaded_by=loaded_by,
                        default_currency=get_settings().default_currency, progress=say, profile=mapping,
                        suspect_drop=suspect_drop_of(engine))
    if result.already_loaded:
        state = "" if result.state == SnapshotState.ACCEPTED else f"; it is {result.state}"
        typer.echo(f"Already loaded as snapshot {result.snapshot_id} (as of {result.as_of}){state}; nothing new stored.")
    else:
        counts = ", ".join(f"{name} {count:,}" for name, count in result.row_counts.items())
        typer.echo(f"Snapshot {result.snapshot_id} as of {result.as_of} stored: {counts}.")
    if result.state == SnapshotState.SUSPECT:
        for reason in result.held_because:
            typer.echo(f"  {reason}")
        typer.echo(f"Held as suspect: no scan, case or KPI uses it until a person runs `stockwarden snapshot accept "
                   f"{result.snapshot_id} --reason ...` (or `reject`). / 已列为可疑快照：经人工接受后才会用于扫描、"
                   "案件和指标。")


def facts_command(
    as_json: Annotated[bool, typer.Option("--json", help="JSON with 'lots' and 'skus' arrays.")] = False,
) -> None:
    """Print every lot and SKU-site fact of the latest snapshot."""
    engine = database()
    with engine.connect() as connection:
        snapshot = latest_snapshot(connection)
        if snapshot is None:
            say("No snapshot loaded yet: run `stockwarden ingest PATH` or `stockwarden up`.")
            raise typer.Exit(1)
        facts = iter_facts(connection, snapshot)
        if as_json:
            write_json(sys.stdout, snapshot, facts)
        else:
            write_table(sys.stdout, facts)


def demo_data_command(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the CSV files into.")],
    lots: Annotated[int, typer.Option("--lots", min=1, help="Number of lot positions.")] = 2_000,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same company.")] = 7,
    as_of: AsOf = None,
    with_errors: Annotated[bool, typer.Option("--with-errors", help="Add bad rows to show error reports.")] = False,
) -> None:
    """Write a realistic, deterministic demo company in the ingest format."""
    day = parse_day(as_of, "--as-of") or datetime.now(UTC).date()
    write_company(out, lots=lots, seed=seed, as_of=day, with_errors=with_errors, progress=say)


def migrate_command() -> None:
    """Create or upgrade the database schema (every other command does this too)."""
    database()
    typer.echo("Schema is up to date.")


def movements_command(
    path: Annotated[Path, typer.Argument(help="A movements CSV (or a workbook with a movements sheet).")],
    by: By = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print opened and cleared findings as JSON.")] = False,
) -> None:
    """Apply movements to the latest snapshot and re-evaluate only the SKU-sites they touch."""
    with reported("nothing was applied"):
        result = reevaluate(database(), path, actor=actor_of(by))
    if as_json:
        typer.echo(json.dumps({"movements": result.movements, "skipped": result.skipped, "sku_sites": result.sku_sites,
                               "opened": [finding_json(f) for f in result.opened],
                               "cleared": [finding_json(f) for f in result.cleared]}, ensure_ascii=False, indent=1))
        return
    skipped = f" ({result.skipped:,} applied before, left out)" if result.skipped else ""
    typer.echo(f"{result.movements:,} movements applied{skipped} at {result.sku_sites:,} SKU-sites: "
               f"{len(result.opened)} findings opened, {len(result.cleared)} cleared, {result.refreshed} refreshed.")
    for label, findings in (("opened", result.opened), ("cleared", result.cleared)):
        for finding in findings:
            subject = " ".join(filter(None, (finding.sku, finding.site, finding.lot, finding.serial)))
            typer.echo(f"  {label:8} {finding.rule:28} {subject}")
