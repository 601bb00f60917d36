"""The audit trail at the terminal: entries shown and filtered, the chain verified against its signed
checkpoints (and the ERP instructions against their entries), a checkpoint written and kept."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Annotated

import typer
from temporalio.service import RPCError

from activities.checkpoints import keep_in_temporal, kept_in_temporal
from audit.checkpoints import Anchor, Checkpoint, Kept
from audit.trail import entries
from core.settings import get_settings
from core.temporal import connect
from governance.verification import verify_all
from stockwarden.cli.common import AsJson, By, actor_of, database, parse_day, reported, say

audit_app = typer.Typer(help="The hash-chained audit trail.", no_args_is_help=True)


def keep_checkpoint(checkpoint: Checkpoint) -> None:
    """Say where the checkpoint went: the file always; the keeper in Temporal when Temporal answers."""
    settings = get_settings()
    where = f"audit checkpoint at entry {checkpoint.seq} written to {settings.resolved_checkpoint_file()}"

    async def keep() -> None:
        await keep_in_temporal(await asyncio.wait_for(connect(), timeout=5), settings.task_queue, checkpoint)

    try:
        asyncio.run(keep())
    except (RuntimeError, TimeoutError, RPCError) as unreachable:
        reason = "no answer" if isinstance(unreachable, TimeoutError) else str(unreachable).split(":")[0]
        say(f"The {where}; not kept in Temporal (at {settings.temporal_address}: {reason}): the next daily "
            "checkpoint, which covers every entry before it, will be.")
        return
    say(f"The {where} and kept in Temporal (workflow audit-checkpoints).")


@audit_app.command("show")
def audit_show_command(
    case: Annotated[str | None, typer.Option("--case", help="A case's workflow id.")] = None,
    actor: Annotated[str | None, typer.Option("--actor", help="Who acted.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="From this day (YYYY-MM-DD, UTC).")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Before this day (YYYY-MM-DD, UTC).")] = None,
    as_json: AsJson = False,
) -> None:
    """Audit entries, oldest first, filtered by case, actor and time."""
    def moment(value: str | None, option: str) -> datetime | None:
        day = parse_day(value, option)
        return None if day is None else datetime(day.year, day.month, day.day, tzinfo=UTC)

    with database().connect() as connection:
        rows = entries(connection, case=case, actor=actor,
                       since=moment(since, "--since"), until=moment(until, "--until"))
    if as_json:
        typer.echo(json.dumps([{"seq": r.seq, "at": r.at.isoformat(), "actor": r.actor, "action": r.action,
                                "subject": r.subject, "before": r.before, "after": r.after, "reason": r.reason,
                                "policy_version": r.policy_version, "workflow_id": r.workflow_id, "hash": r.hash}
                               for r in rows], ensure_ascii=False, indent=1, default=str))
        return
    for r in rows:
        reason = f"  ({r.reason})" if r.reason else ""
        typer.echo(f"{r.seq:6} {r.at:%Y-%m-%d %H:%M:%S} {r.actor:28} {r.action:26} {r.subject}{reason}")


@audit_app.command("verify")
def audit_verify_command(
    temporal: Annotated[bool, typer.Option("--temporal", help="Also check the checkpoints the keeper workflow "
                                           "holds in Temporal.")] = False,
) -> None:
    """Walk the audit chain and check it against the signed checkpoints (the checkpoint file, and with
    --temporal the keeper in Temporal) and every ERP instruction against its audit entry; exit 1 if any
    entry was changed, removed or truncated, a checkpoint is forged or an instruction altered."""
    settings = get_settings()
    kept = list(Anchor.from_settings(settings).store.read())
    if temporal:
        async def held() -> list[Kept]:
            return await kept_in_temporal(await connect())

        with reported("nothing was verified"):
            kept += asyncio.run(held())
    with database().connect() as connection, reported("nothing was verified"):
        verdict = verify_all(connection, kept, settings.secret_key)
    for problem in verdict.problems:
        typer.echo(problem, err=True)
    if not verdict.intact:
        say(verdict.summary())
        raise typer.Exit(1)
    typer.echo(verdict.summary())


@audit_app.command("checkpoint")
def audit_checkpoint_command(by: By = None) -> None:
    """Write a signed checkpoint of the audit trail's head now: to the checkpoint file and to the keeper
    in Temporal (the worker writes one daily, and every pack writes one)."""
    with reported("no checkpoint was written"):
        checkpoint = Anchor.from_settings(get_settings()).write(database(), f"asked by {actor_of(by)}")
    typer.echo(f"Checkpoint: entry {checkpoint.seq} of {checkpoint.count}, head {checkpoint.head_hash}, {checkpoint.at}")
    keep_checkpoint(checkpoint)
