"""Signing PINs at the terminal: the person types theirs, twice and unseen; only its hash is kept."""

from __future__ import annotations

from typing import Annotated

import typer

from api.pins import PinProblem, set_pin
from stockwarden.cli.common import By, actor_of, database, say

pin_app = typer.Typer(help="Signing PINs: the second component every signature needs (21 CFR 11.200(a)).",
                      no_args_is_help=True)


@pin_app.command("set")
def pin_set_command(
    person: Annotated[str, typer.Option("--person", help="Whose PIN (email), who should type it in.")],
    by: By = None,
) -> None:
    """Set or replace a person's signing PIN, typed twice without echo (the person at the terminal).
    Only its scrypt hash is kept; the change is audited with who made it, never the PIN."""
    pin = typer.prompt(f"Signing PIN for {person}", hide_input=True, confirmation_prompt=True)
    try:
        set_pin(database(), person.strip(), pin, by=actor_of(by))
    except PinProblem as problem:
        say(f"error: {problem}; no PIN was set")
        raise typer.Exit(1) from None
    say(f"Signing PIN set for {person.strip()}; their next signature asks for it.")
