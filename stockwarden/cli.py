"""The `stockwarden` command: thin wrappers that read settings, call the domain code and report plainly.

No traceback should reach a person for anything they can fix: bad input is reported with file, line
and column, and the exit code says whether the command did what was asked.
"""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Engine

from inventory.db import make_engine, migrate
from inventory.demo import write_company
from inventory.facts_output import write_json, write_table
from inventory.ingest import IngestFailed, ingest
from inventory.metrics import iter_facts, latest_snapshot
from inventory.sources import SourceError
from inventory.summary import render_summary, summarise
from stockwarden.settings import get_settings

app = typer.Typer(help="Stockwarden: find and govern slow-moving, idle and expiring stock (呆滞料).",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)


def _say(message: str) -> None:
    typer.echo(message, err=True)


def _engine() -> Engine:
    """The configured database with its schema brought up to date, so every command finds its tables."""
    engine = make_engine(get_settings().resolved_database_url())
    migrate(engine)
    return engine


def _parse_day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"'{value}' is not a date (expected YYYY-MM-DD)", param_hint=option) from None


AsOf = Annotated[str | None, typer.Option("--as-of", help="Snapshot date YYYY-MM-DD (default: today, UTC).")]


@app.command("ingest")
def ingest_command(
    path: Annotated[Path, typer.Argument(help="A folder of CSV files or one .xlsx workbook.")],
    as_of: AsOf = None,
    loaded_by: Annotated[str | None, typer.Option("--by", help="Who loads it (default: login name).")] = None,
) -> None:
    """Load an ERP export as a new snapshot; every bad row is reported and nothing is stored."""
    day = _parse_day(as_of, "--as-of")
    engine = _engine()
    try:
        result = ingest(engine, path, as_of=day, loaded_by=loaded_by, progress=_say)
    except SourceError as exc:
        _say(f"error: {exc}")
        raise typer.Exit(1) from None
    except IngestFailed as exc:
        for error in exc.errors:
            typer.echo(str(error), err=True)
        _say(f"{len(exc.errors):,} problem(s); nothing was stored.")
        raise typer.Exit(1) from None
    if result.already_loaded:
        typer.echo(f"Already loaded as snapshot {result.snapshot_id} (as of {result.as_of}); nothing new stored.")
    else:
        counts = ", ".join(f"{name} {count:,}" for name, count in result.row_counts.items())
        typer.echo(f"Snapshot {result.snapshot_id} as of {result.as_of} stored: {counts}.")


@app.command("facts")
def facts_command(
    as_json: Annotated[bool, typer.Option("--json", help="JSON with 'lots' and 'skus' arrays.")] = False,
) -> None:
    """Print every lot and SKU-site fact of the latest snapshot."""
    engine = _engine()
    with engine.connect() as connection:
        snapshot = latest_snapshot(connection)
        if snapshot is None:
            _say("No snapshot loaded yet: run `stockwarden ingest PATH` or `stockwarden up`.")
            raise typer.Exit(1)
        facts = iter_facts(connection, snapshot)
        if as_json:
            write_json(sys.stdout, snapshot, facts)
        else:
            write_table(sys.stdout, facts)


@app.command("demo-data")
def demo_data_command(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the CSV files into.")],
    lots: Annotated[int, typer.Option("--lots", min=1, help="Number of lot positions.")] = 2_000,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same company.")] = 7,
    as_of: AsOf = None,
    with_errors: Annotated[bool, typer.Option("--with-errors", help="Add bad rows to show error reports.")] = False,
) -> None:
    """Write a realistic, deterministic demo company in the ingest format."""
    day = _parse_day(as_of, "--as-of") or datetime.now(UTC).date()
    write_company(out, lots=lots, seed=seed, as_of=day, with_errors=with_errors, progress=_say)


@app.command("migrate")
def migrate_command() -> None:
    """Create or upgrade the database schema (every other command does this too)."""
    _engine()
    typer.echo("Schema is up to date.")


@app.command("up")
def up_command(
    lots: Annotated[int, typer.Option("--lots", min=1, help="Lot positions of the demo company.")] = 2_000,
) -> None:
    """Run the main job on the embedded default: demo company into ./var, ingest, and a summary."""
    settings = get_settings()
    engine = _engine()
    with engine.connect() as connection:
        snapshot = latest_snapshot(connection)
    if snapshot is None:
        today = datetime.now(UTC).date()
        demo = settings.var_dir / "demo"
        _say(f"Empty database: writing the demo company into {demo}")
        write_company(demo, lots=lots, as_of=today, progress=_say)
        ingest(engine, demo, as_of=today, loaded_by="stockwarden up", progress=_say)
    with engine.connect() as connection:
        snapshot = latest_snapshot(connection)
        assert snapshot is not None
        typer.echo(render_summary(summarise(iter_facts(connection, snapshot), snapshot.as_of)))


if __name__ == "__main__":
    app()
