"""API tokens at the terminal: made (printed once), listed (never the secret), revoked; each audited."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer

from api.auth import TokenInfo, UnknownToken, issue_token, list_tokens, revoke_token, revoke_tokens_of
from core.settings import get_settings
from governance.visibility import Role
from stockwarden.cli.common import AsJson, By, actor_of, database, say

token_app = typer.Typer(help="API tokens.", no_args_is_help=True)


@token_app.command("create")
def token_create_command(
    person: Annotated[str, typer.Option("--person", help="Whose token (email).")],
    roles: Annotated[list[Role], typer.Option("--role", help="A role; repeat for several.")],
    days: Annotated[int | None, typer.Option("--days", min=1, max=3650,
                                             help="How long it works (default: STOCKWARDEN_TOKEN_DAYS, 90).")] = None,
    by: By = None,
) -> None:
    """Create an API token; it is printed once and only its hash is kept. Audited in the name of --by."""
    try:
        issued = issue_token(database(), person, list(roles), by=actor_of(by), days=days or get_settings().token_days)
    except ValueError as bad:
        say(f"error: {bad}; no token was made.")
        raise typer.Exit(1) from None
    typer.echo(issued.token)
    say(f"Token {issued.info.id} for {person} with roles {', '.join(r.value for r in roles)}, until "
        f"{issued.info.expires_at:%Y-%m-%d %H:%M} UTC; keep it: it is not shown again.")


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else f"{moment:%Y-%m-%d %H:%M}"


def _token_line(t: TokenInfo) -> str:
    return (f"{t.id:5} {t.state():8} {t.person:30} {','.join(t.roles):20} {_when(t.created_at):16}  "
            f"{_when(t.expires_at):16}  {t.created_by:20} {_when(t.revoked_at)}")


@token_app.command("list")
def token_list_command(
    person: Annotated[str | None, typer.Option("--person", help="Only this person's tokens.")] = None,
    as_json: AsJson = False,
) -> None:
    """Every token: id, state, person, roles, created, expires, created by, revoked (UTC); never the secret."""
    with database().connect() as connection:
        rows = list_tokens(connection, person)
    if as_json:
        typer.echo(json.dumps([{"id": t.id, "state": t.state(), "person": t.person, "roles": t.roles,
                                "created_at": t.created_at.isoformat(), "expires_at": t.expires_at.isoformat(),
                                "created_by": t.created_by, "revoked_at": t.revoked_at and t.revoked_at.isoformat()}
                               for t in rows], ensure_ascii=False, indent=1))
        return
    typer.echo(f"{'id':>5} {'state':8} {'person':30} {'roles':20} {'created':16}  {'expires':16}  {'created by':20} revoked")
    for t in rows:
        typer.echo(_token_line(t))
    say(f"{len(rows):,} token(s), {sum(t.state() == 'live' for t in rows):,} live.")


@token_app.command("revoke")
def token_revoke_command(
    token_id: Annotated[int | None, typer.Argument(metavar="ID", help="The token's id (see `token list`).")] = None,
    person: Annotated[str | None, typer.Option("--person", help="Revoke every token of this person instead.")] = None,
    by: By = None,
) -> None:
    """Revoke a token (or all of one person's); the page sessions begun with it end. Audited."""
    if (token_id is None) == (person is None):
        raise typer.BadParameter("give a token's ID or --person EMAIL (one of them)", param_hint="ID / --person")
    engine = database()
    if person is not None:
        revoked = revoke_tokens_of(engine, person, by=actor_of(by))
        if not revoked:
            say(f"error: {person} has no token that is not revoked already; nothing was revoked.")
            raise typer.Exit(1)
    else:
        assert token_id is not None  # exactly one of the two was given
        asked = datetime.now(UTC)
        try:
            revoked = [revoke_token(engine, token_id, by=actor_of(by))]
        except UnknownToken as missing:
            say(f"error: {missing}; nothing was revoked.")
            raise typer.Exit(1) from None
        already = revoked[0].revoked_at
        if already is not None and already < asked:
            say(f"Token {token_id} was already revoked at {_when(already)} UTC; nothing changed.")
            return
    for t in revoked:
        typer.echo(_token_line(t))
    say(f"{len(revoked):,} token(s) revoked; a request or page session with them is refused from now on.")
