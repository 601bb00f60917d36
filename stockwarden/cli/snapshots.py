"""Snapshots at the terminal: the list with each one's state, and a person's word on a suspect one
(accepted: scans use it; rejected: never used), with a reason, audited (rules/snapshots.py)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from rules.snapshots import SnapshotListed, SnapshotRefused, decide, listed
from stockwarden.cli.common import AsJson, By, actor_of, database, say

snapshot_app = typer.Typer(help="Loaded snapshots; accept or reject a suspect one.", no_args_is_help=True)

Reason = Annotated[str, typer.Option("--reason", help="Why (what was checked); kept in the audit trail.")]
SnapshotId = Annotated[int, typer.Argument(help="The snapshot's id (`stockwarden snapshot list`).", min=1)]


@snapshot_app.command("list")
def snapshot_list_command(
    limit: Annotated[int, typer.Option("--limit", min=1, help="The newest this many.")] = 20,
    as_json: AsJson = False,
) -> None:
    """Snapshots, newest first: accepted (used), suspect (held until a person decides) or rejected."""
    with database().connect() as connection:
        rows = listed(connection, limit=limit)
    if as_json:
        typer.echo(json.dumps([row.as_json() for row in rows], ensure_ascii=False, indent=1))
        return
    if not rows:
        say("No snapshot loaded yet: run `stockwarden ingest PATH` or `stockwarden up`.")
        return
    for row in rows:
        counts = ", ".join(f"{name} {count:,}" for name, count in row.row_counts.items())
        typer.echo(f"{row.id:>6}  {row.as_of}  {row.state:9} {row.loaded_by:20} {counts}")
        for reason in row.held_because if row.state != "accepted" or row.decided_by else ():
            typer.echo(f"{'':8}{reason}")
        if row.decided_by:
            typer.echo(f"{'':8}{row.state} by {row.decided_by}: {row.decision_reason}")


def _decided(snapshot_id: int, *, accept: bool, by: str | None, reason: str) -> SnapshotListed:
    try:
        return decide(database(), snapshot_id, accept=accept, actor=actor_of(by), reason=reason)
    except SnapshotRefused as refused:
        say(f"refused: {refused}; nothing changed.")
        raise typer.Exit(1) from None


@snapshot_app.command("accept")
def snapshot_accept_command(snapshot_id: SnapshotId, reason: Reason, by: By = None) -> None:
    """Accept a suspect snapshot as the truth: the next scan uses it (if no newer one is accepted)."""
    row = _decided(snapshot_id, accept=True, by=by, reason=reason)
    typer.echo(f"Snapshot {row.id} (as of {row.as_of}) accepted by {row.decided_by}; the next scan uses it. "
               f"/ 快照 {row.id} 已由 {row.decided_by} 接受，下次扫描将使用它。")


@snapshot_app.command("reject")
def snapshot_reject_command(snapshot_id: SnapshotId, reason: Reason, by: By = None) -> None:
    """Reject a suspect snapshot: it stays stored and is never used."""
    row = _decided(snapshot_id, accept=False, by=by, reason=reason)
    typer.echo(f"Snapshot {row.id} (as of {row.as_of}) rejected by {row.decided_by}; it is never used. "
               f"/ 快照 {row.id} 已由 {row.decided_by} 拒绝，不会被使用。")
