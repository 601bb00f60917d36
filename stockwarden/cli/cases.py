"""Cases at the terminal: the list from the case mirror, and the ERP instructions their approved
dispositions put in the outbox (list, export for the ERP, confirm, which acts on the case)."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer

from api.outbox import confirm_carried_out, plain
from api.texts import refusal_words
from core.temporal import connect
from governance.listing import BadFilter, CaseFilter, cases_by_acknowledge_due
from governance.models import CaseRow
from governance.outbox import export, unconfirmed
from governance.views import lines_json
from notifications.listing import cases_with_failing_delivery
from stockwarden.cli.common import AsJson, By, actor_of, database, reported, say


def cases_command(
    state: Annotated[str | None, typer.Option("--state", help="Only cases in this state.")] = None,
    owner: Annotated[str | None, typer.Option("--owner", help="Only cases of this owner (email).")] = None,
    sku: Annotated[str | None, typer.Option("--sku", help="Only cases of this SKU.")] = None,
    site: Annotated[str | None, typer.Option("--site", help="Only cases at this site.")] = None,
    lot: Annotated[str | None, typer.Option("--lot", help="Only the case(s) with a line of this lot (any serial).")] = None,
    as_json: AsJson = False,
) -> None:
    """List cases from the case mirror: rule, SKU, site, lines, state, owner, due dates, value, workflow id.
    The filters are those of GET /cases, so both list the same cases."""
    try:
        where = CaseFilter(state=state or None, owner=owner or None, sku=sku, site=site, lot=lot)
    except BadFilter as bad:
        raise typer.BadParameter(str(bad), param_hint=f"--{bad.field}") from None
    with database().connect() as connection:
        rows = cases_by_acknowledge_due(connection, where)
        failing = cases_with_failing_delivery(connection)
    if as_json:
        typer.echo(json.dumps([_case_json(r, r.id in failing) for r in rows], ensure_ascii=False, indent=1))
        return
    for r in rows:
        typer.echo(("! " if r.id in failing else "  ") + f"{r.state:21} {r.rule:24} {r.sku:12} {r.site:6} {len(r.lines):3} line(s)  value {r.value:14,.2f}  "
                   f"{r.owner:28} acknowledge by {r.acknowledge_due:%Y-%m-%d}  {r.id}")
    typer.echo(f"{len(rows):,} case(s)." + (f" {len(failing):,} marked ! have a message that keeps failing "
                                            "(stockwarden notifications --failing)." if failing else ""))


def _case_json(r: CaseRow, delivery_failing: bool) -> dict[str, object]:
    """The console's case JSON (`cases --json`): the mirror row as stored, and whether a message keeps failing;
    its lines as the API shows them (governance/views.py). Unlike the API's, its times are as the database
    hands them back and it leaves out severity and escalation level (scripts read it as it is)."""
    return {"workflow_id": r.id, "rule": r.rule, "sku": r.sku, "site": r.site, "state": r.state, "owner": r.owner,
            "assignees": r.assignees, "acknowledge_due": r.acknowledge_due.isoformat(),
            "resolve_due": r.resolve_due.isoformat(), "value": float(r.value),
            "lines": lines_json(r.lines),
            "proposal": r.proposal, "delivery_failing": delivery_failing}


outbox_app = typer.Typer(help="ERP instructions of approved dispositions: list, export, confirm.")


@outbox_app.callback(invoke_without_command=True)
def outbox_command(
    ctx: typer.Context,
    export_to: Annotated[Path | None, typer.Option("--export", help="Write the unconfirmed instructions as a CSV "
                                                   "file for the ERP's import into this folder.")] = None,
    by: Annotated[str | None, typer.Option("--by", help="Who exports (default: login name).")] = None,
) -> None:
    """List the ERP instructions not yet confirmed; with --export, also write them as CSV."""
    if ctx.invoked_subcommand is not None:
        return
    engine = database()
    with engine.begin() as connection:
        rows = unconfirmed(connection)
        for row in rows:
            typer.echo(f"{row.id:6} {row.state:8} {row.disposition:22} {row.sku:12} {row.site:6} "
                       f"{row.lot or '-':10} {row.serial or '-':10} qty {row.quantity.normalize():>8f} "
                       f"value {row.value:12,.2f}  {row.target or '-':14} {row.case_id}")
        say(f"{len(rows):,} instruction(s) not yet confirmed.")
        if export_to is not None and rows:
            with reported("nothing was exported"):
                path = export(connection, rows, export_to, actor=actor_of(by))
            say(f"Wrote {path} for the ERP's import.")


@outbox_app.command("confirm")
def outbox_confirm_command(
    instruction_id: Annotated[int, typer.Argument(metavar="ID", help="The instruction's id.")],
    by: By = None,
    note: Annotated[str, typer.Option("--note", help="What the ERP reported, e.g. its document number.")] = "",
    quantity: Annotated[str | None, typer.Option(
        "--quantity", help="What the ERP carried out, when less than instructed (the rest stays on the case's "
                           "line, still governed); at most what is still open. Default: all of it.")] = None,
) -> None:
    """Confirm that the ERP carried out one instruction, or part of it (the case resolves when its last one is
    confirmed and nothing of its lines is left)."""
    done = None if quantity is None else _carried_out(quantity)
    engine = database()

    async def send() -> str:
        return (await confirm_carried_out(await connect(), engine, instruction_id, actor_of(by), note, done,
                                          None)).state

    with reported("nothing was confirmed"):
        state = asyncio.run(send())
    said = "confirmed" if done is None else f"confirmed for {plain(done)} carried out"
    say(f"Instruction {instruction_id} {said}; the case is {state}.")


def _carried_out(quantity: str) -> Decimal:
    """--quantity as a decimal greater than 0; exit 2 in English and Chinese otherwise (the console knows no
    reader's language)."""
    try:
        done = Decimal(quantity.strip())
    except ArithmeticError:
        done = Decimal("NaN")
    if not done.is_finite() or done <= 0:
        raise typer.BadParameter(refusal_words(None, "confirm_quantity", asked=quantity), param_hint="--quantity")
    return done
