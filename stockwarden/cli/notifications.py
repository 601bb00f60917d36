"""The message queue at the terminal: what is not yet delivered, and what keeps failing."""

from __future__ import annotations

from typing import Annotated

import typer

from notifications.listing import undelivered
from stockwarden.cli.common import database, say


def notifications_command(
    failing_only: Annotated[bool, typer.Option("--failing", help="Only messages that keep failing.")] = False,
) -> None:
    """Messages not yet delivered: to whom, about which case, attempts, next attempt and the last error."""
    with database().connect() as connection:
        rows = undelivered(connection, failing_only=failing_only)
    for n in rows:
        typer.echo(f"{n.id:6} {'FAILING' if n.failing else 'queued ':7} {n.event:20} {n.recipient:30} attempts {n.attempts:3} "
                   f"next {n.next_attempt_at:%Y-%m-%d %H:%M}  {n.case_id}  {n.last_error[:80]}")
    say(f"{len(rows):,} message(s) not yet delivered.")
