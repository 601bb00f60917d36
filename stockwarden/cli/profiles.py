"""ERP mapping profiles at the terminal: check what a profile makes of an export before loading it, list the
profiles there are, and the one way every command turns --profile NAME into a checked profile."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from inventory.profiles import (
    TEXT,
    Profile,
    ProfileInvalid,
    ProfileUnknown,
    check_export,
    load_profile,
    profile_json_schema_text,
    shipped,
)
from inventory.sources import SourceError
from stockwarden.cli.common import say

profile_app = typer.Typer(help="ERP mapping profiles (erp_profiles/): check an export against one, list them.",
                          no_args_is_help=True)

ProfileOption = Annotated[str | None, typer.Option(
    "--profile", help="The ERP's mapping profile: a name in erp_profiles/ (sap, erpnext, odoo, kingdee, yonyou_u8) "
                      "or the path of a copied .yaml.")]
Language = Annotated[str, typer.Option("--lang", help="zh-CN or en.")]


def chosen(name: str | None) -> Profile | None:
    """The profile --profile names, checked; its problems (file:line:column) and exit 1 when it is not valid."""
    if name is None:
        return None
    try:
        return load_profile(name)
    except ProfileUnknown as exc:
        say(f"error: {exc}")
    except ProfileInvalid as exc:
        for problem in exc.problems:
            say(str(problem))
        say(f"{len(exc.problems)} problem(s) in the profile; nothing was read. / 配置中有 {len(exc.problems)} 个问题；未读取任何数据。")
    raise typer.Exit(1)


@profile_app.command("check")
def profile_check_command(
    path: Annotated[Path, typer.Argument(help="The export: a folder of files, or one workbook.")],
    profile: ProfileOption = None,
    lang: Language = "zh-CN",
) -> None:
    """Which file or sheet is read as which table, which columns are mapped, which are not (ignored), and which
    required ones are missing, with "did you mean". Exit 1 when a required column or table is missing."""
    if lang not in TEXT:
        say(f"error: --lang '{lang}' is not one of {', '.join(TEXT)}")
        raise typer.Exit(1)
    if profile is None:
        say("error: --profile NAME is required / 需要 --profile 名称")
        raise typer.Exit(1)
    checked = chosen(profile)
    assert checked is not None
    try:
        report = check_export(checked, path)
    except SourceError as exc:
        say(f"error: {exc}")
        raise typer.Exit(1) from None
    for line in report.lines(lang):
        typer.echo(line)
    if report.problems:
        raise typer.Exit(1)


@profile_app.command("list")
def profile_list_command() -> None:
    """The profiles in erp_profiles/, with the ERP each is for."""
    for name in shipped():
        try:
            typer.echo(f"{name:12} {load_profile(name).erp}")
        except (ProfileInvalid, ProfileUnknown) as exc:
            typer.echo(f"{name:12} (not valid: {exc})")


@profile_app.command("schema")
def profile_schema_command(
    out: Annotated[Path, typer.Option("--out", help="Where to write it.")] = Path("erp_profiles/schema.json"),
) -> None:
    """Write the JSON Schema of profile files, for editors (autocomplete, inline errors)."""
    out.write_text(profile_json_schema_text(), encoding="utf-8")
    typer.echo(f"Wrote {out}.")
