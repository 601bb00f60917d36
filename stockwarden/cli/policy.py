"""Policies at the terminal: check files (and people.yaml), activate one (a second signature where it moves
duties), approve or reject what waits, compare versions, preview a draft, write the JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from notifications.people import PEOPLE_FILE, parse_people
from rules.loader import load_policy, read_document
from rules.overlaps import policy_warnings
from rules.scan import preview, preview_json
from rules.schema import policy_json_schema_text
from rules.versions import (
    Pending,
    activate,
    approve_pending,
    diff_versions,
    history,
    known_values,
    pending_activations,
    reject_pending,
)
from stockwarden.cli.common import AsJson, By, actor_of, database, reported, say

policy_app = typer.Typer(help="Policies: check, activate, compare and preview policy files.", no_args_is_help=True)


@policy_app.command("check")
def policy_check_command(paths: Annotated[list[Path], typer.Argument(help="Policy files (and people.yaml).")]) -> None:
    """Check policy files and the people directory (people.yaml); every problem is printed as
    file:line:column: path: message. Exit 1 if any. Warnings (file:line:column: warning: ...) leave a
    policy valid."""
    engine = database()
    with engine.connect() as connection:
        known = known_values(connection)
    failed = False
    for path in paths:
        try:
            with reported(f"{path} is not valid"):
                if path.name == PEOPLE_FILE:
                    directory = parse_people(read_document(path), str(path))
                else:
                    policy, text = load_policy(path, known=known)
        except typer.Exit:
            failed = True  # go on: every file's problems are wanted in one run
        else:
            if path.name == PEOPLE_FILE:
                typer.echo(f"{path}: the directory of {len(directory.people)} people is valid.")
            else:
                warnings = policy_warnings(policy, text, str(path))
                for warning in warnings:
                    say(str(warning))
                noted = f"; {len(warnings)} warning(s), it can still be activated" if warnings else ""
                typer.echo(f"{path}: policy '{policy.policy}' version {policy.version} is valid "
                           f"({len(policy.rules)} rules{noted}).")
    if failed:
        raise typer.Exit(1)


@policy_app.command("activate")
def policy_activate_command(path: Annotated[Path, typer.Argument(help="The policy file.")], by: By = None) -> None:
    """Make a checked policy file the active version (audited). A bad file changes nothing."""
    with reported("not activated, the active policy stays"):
        result = activate(database(), path, actor=actor_of(by))
    if isinstance(result, Pending):
        pending = result.row
        typer.echo(f"{pending.name} v{pending.version} changes duties, so it waits for a second signature "
                   f"(pending activation {pending.id}); the active policy stays:")
        for change in result.changes:
            typer.echo(f"  {change}")
        say(f"An admin or another compliance officer signs it with `stockwarden policy approve {pending.id} "
            f"--by NAME` (or rejects it with `policy reject {pending.id} --by NAME --reason TEXT`).")
        return
    version = result.version
    state = "activated" if result.changed else "is already the active version"
    typer.echo(f"{version.name} v{version.version} {state} (sha256 {version.text_hash[:12]}).")


@policy_app.command("pending")
def policy_pending_command(
    everything: Annotated[bool, typer.Option("--all", help="Also the signed and rejected ones.")] = False,
) -> None:
    """Policy activations that change owners, signers or approvals and wait for a second signature."""
    with database().connect() as connection:
        rows = pending_activations(connection, everything=everything)
    if not rows:
        typer.echo("No policy activation waits for a second signature.")
    for row in rows:
        signed = f"  {row.state} by {row.signed_by} {row.signed_at:%Y-%m-%d %H:%M} UTC" if row.signed_at else ""
        typer.echo(f"{row.id:4} {row.name}@{row.version}  proposed {row.proposed_at:%Y-%m-%d %H:%M} UTC by "
                   f"{row.proposed_by}  sha256 {row.text_hash[:12]}{signed}")
        for change in row.changes:
            typer.echo(f"       {change}")


@policy_app.command("approve")
def policy_approve_command(pending_id: Annotated[int, typer.Argument(help="The pending activation's number.", min=1)],
                           by: By = None,
                           reason: Annotated[str, typer.Option("--reason", help="Why (recorded).")] = "") -> None:
    """Sign a pending activation as the second person: it becomes the active version. Nobody signs what
    they proposed."""
    with reported("not activated, the active policy stays"):
        result = approve_pending(database(), pending_id, signer=actor_of(by), reason=reason)
    version = result.version
    typer.echo(f"{version.name} v{version.version} activated, signed by {version.activated_by} "
               f"(sha256 {version.text_hash[:12]}).")


@policy_app.command("reject")
def policy_reject_command(pending_id: Annotated[int, typer.Argument(help="The pending activation's number.", min=1)],
                          reason: Annotated[str, typer.Option("--reason", help="Why (recorded).")],
                          by: By = None) -> None:
    """Reject a pending activation, with a reason; the active policy stays."""
    with reported("nothing changed"):
        row = reject_pending(database(), pending_id, signer=actor_of(by), reason=reason)
    typer.echo(f"Pending activation {row.id} ({row.name} v{row.version}) rejected; the active policy stays.")


@policy_app.command("history")
def policy_history_command() -> None:
    """Every activated version, oldest first; * marks the active one."""
    with database().connect() as connection:
        rows = history(connection)
    if not rows:
        typer.echo("No policy has been activated yet.")
    for row in rows:
        mark = "*" if row.active else " "
        typer.echo(f"{mark} {row.name}@{row.version}  {row.activated_at:%Y-%m-%d %H:%M} UTC  {row.activated_by}  "
                   f"sha256 {row.text_hash[:12]}  {row.path}")


@policy_app.command("diff")
def policy_diff_command(
    a: Annotated[str, typer.Argument(help="A version (3 or default@3) or a policy file.")],
    b: Annotated[str, typer.Argument(help="A version (3 or default@3) or a policy file.")],
) -> None:
    """Compare two policy versions or files: rules added, removed, changed, then a unified diff."""
    with reported("nothing to compare"), database().connect() as connection:
        typer.echo(diff_versions(connection, a, b))


@policy_app.command("preview")
def policy_preview_command(
    draft: Annotated[Path, typer.Argument(help="The draft policy file.")],
    as_json: AsJson = False,
) -> None:
    """What a draft would change against the active policy on the latest snapshot."""
    engine = database()
    with reported("nothing to preview"):
        with engine.connect() as connection:
            policy, _ = load_policy(draft, known=known_values(connection))
        result = preview(engine, policy)
    if as_json:
        typer.echo(json.dumps(preview_json(result), ensure_ascii=False, indent=2))
        return
    groups = {"added": result.added, "removed": result.removed, "kept": result.kept}
    against = "nothing active" if result.active is None else f"{result.active.policy} v{result.active.version}"
    typer.echo(f"Draft {policy.policy} v{policy.version} against {against}:")
    for name, group in groups.items():
        rules = ", ".join(f"{rule} {count}" for rule, count in sorted(group.by_rule.items())) or "-"
        typer.echo(f"  {name:8} {group.count:7,} findings  value {group.value:,.2f}  ({rules})")


@policy_app.command("schema")
def policy_schema_command(
    out: Annotated[Path, typer.Option("--out", help="Where to write it.")] = Path("policies/schema.json"),
) -> None:
    """Write the JSON Schema of policy files (editors use it to autocomplete and check)."""
    out.write_text(policy_json_schema_text(), encoding="utf-8")
    typer.echo(f"Wrote {out}.")
