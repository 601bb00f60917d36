"""The committee's month: its KPIs computed, stored and printed, and its Excel governance pack."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from audit.checkpoints import Anchor
from core.settings import get_settings
from reports.kpis import store
from reports.labels import LABELS
from reports.pack import write_pack
from reports.rows import kpi_rows
from stockwarden.cli.audit import keep_checkpoint
from stockwarden.cli.common import AsJson, Month, database, month_of, reported, say


def kpis_command(period: Month = "", as_json: AsJson = False) -> None:
    """Compute and store the committee's KPIs for a month (docs/metrics.md), and print the company's."""
    period = month_of(period)
    engine = database()
    with reported("nothing was stored"):
        count = store(engine, period)
    with engine.connect() as connection:
        rows = kpi_rows(connection, period)
    if as_json:
        typer.echo(json.dumps([row.json() for row in rows], ensure_ascii=False, indent=1))
        return
    for row in rows:
        if row.scope == "company":
            typer.echo(f"{row.name:32} {'-' if row.value is None else f'{row.value.normalize():,f}':>20}")
    say(f"{count:,} KPI values stored for {period} (company, sites, categories).")


def pack_command(
    out: Annotated[Path, typer.Option("--out", help="The .xlsx file to write.")],
    period: Month = "",
    lang: Annotated[str, typer.Option("--lang", help="zh-CN or en.")] = "zh-CN",
) -> None:
    """Write the committee's Excel governance pack for a month (its KPIs are computed and stored too)."""
    period = month_of(period)
    if lang not in LABELS:
        say(f"error: --lang '{lang}' is not one of {', '.join(LABELS)}")
        raise typer.Exit(1)
    with reported("no pack was written"):
        summary = write_pack(database(), period, lang, out, anchor=Anchor.from_settings(get_settings()))
    say(f"Wrote {summary.path}: " + ", ".join(f"{name} {rows:,}" for name, rows in summary.rows.items()) + " rows.")
    keep_checkpoint(summary.checkpoint)
