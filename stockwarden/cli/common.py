"""What every command shares: the Typer app, the options several commands take, saying things on stderr,
turning errors a person can fix into their message and exit code, and the database they work on."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Annotated

import typer
from sqlalchemy import Engine
from temporalio.service import RPCError, RPCStatusCode

from audit.checkpoints import CheckpointKeyMissing
from core.db import database_fault, make_engine, migrate
from core.period import Period, PeriodInvalid
from core.secret import SecretRefused, check, make_stored
from core.settings import get_settings
from core.temporal import TLSSettingsInvalid
from governance.outbox import InstructionsAltered
from governance.visibility import CaseRefused
from inventory.ingest import IngestFailed, current_user
from inventory.movements import AlreadyApplied
from inventory.sources import SourceError
from reports.kpis import NoSnapshotForPeriod
from rules.loader import PolicyInvalid
from rules.scan import NothingToScan
from rules.versions import PolicyConflict, SecondSignatureRefused

app = typer.Typer(help="Stockwarden: find and govern slow-moving, idle and expiring stock (呆滞料).",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)

AsOf = Annotated[str | None, typer.Option("--as-of", help="Snapshot date YYYY-MM-DD (default: today, UTC).")]
By = Annotated[str | None, typer.Option("--by", help="Who does it (default: login name).")]
Month = Annotated[str, typer.Option("--period", help="The month, YYYY-MM (default: this month).")]
AsJson = Annotated[bool, typer.Option("--json")]


def say(message: str) -> None:
    """Progress and summaries go to stderr, so stdout carries only what a script reads (rows, JSON)."""
    typer.echo(message, err=True)


@contextmanager
def reported(nothing_changed: str) -> Iterator[None]:
    """Errors a person can fix become their messages and exit code 1; `nothing_changed` says what that
    means (say, "nothing was stored"). The database failing (a terminated connection, the database
    down) is one line too: a person restarts it or tries again, and the transaction rolled back.
    Anything else is a bug and keeps its traceback."""
    try:
        yield
    except SecretRefused as exc:  # a command that talks to Temporal derives its payload key from the secret
        say(f"error: {exc}")
        raise typer.Exit(2) from None
    except Exception as exc:
        told = _told(exc, nothing_changed)
        if told is None:
            raise
        for line in told:
            say(line)
        raise typer.Exit(1) from None


def _told(exc: Exception, nothing_changed: str) -> list[str] | None:
    """What a person is told about an error they can fix, last line the summary; None for anything else."""
    if isinstance(exc, TLSSettingsInvalid):
        return [f"error: {exc}; {nothing_changed}."]
    fault = database_fault(exc)
    if fault is not None:
        return [f"error: the database failed ({fault}); {nothing_changed}. / 错误：数据库故障（{fault}），本次操作未生效。"]
    if isinstance(exc, PolicyInvalid):
        return [*map(str, exc.problems), f"{len(exc.problems)} problem(s); {nothing_changed}."]
    if isinstance(exc, IngestFailed):
        shown = f" (the first {len(exc.errors):,} shown)" if exc.total > len(exc.errors) else ""
        return [*map(str, exc.errors), f"{exc.total:,} problem(s){shown}; {nothing_changed}."]
    if isinstance(exc, (SourceError, PolicyConflict, SecondSignatureRefused, NothingToScan, AlreadyApplied,
                        NoSnapshotForPeriod, CheckpointKeyMissing)):
        return [f"error: {exc}"]
    if isinstance(exc, InstructionsAltered):
        return [*(f"refused: {altered}" for altered in exc.problems),
                f"{len(exc.problems)} ERP instruction(s) no longer match their audit entries; {nothing_changed}."]
    if isinstance(exc, CaseRefused):
        return _case_refusal(exc, nothing_changed)
    if isinstance(exc, RPCError) and exc.status == RPCStatusCode.NOT_FOUND:
        return [f"error: the case is no longer running in Temporal ({exc.message}); {nothing_changed}."]
    if isinstance(exc, RuntimeError) and "connect" in str(exc).lower():  # temporalio's "failed client connect"
        return [f"error: cannot reach Temporal at {get_settings().temporal_address}: {exc}"]
    return None


def _case_refusal(refusal: CaseRefused, nothing_changed: str) -> list[str] | None:
    """A case action refused (governance/actions.py), in the console's words; None when Temporal refused
    for a reason no person can fix here (a bug: its traceback stays)."""
    if refusal.kind == CaseRefused.REFUSED:  # the case's validator says why
        return [f"refused: {refusal.message}; {nothing_changed}."]
    if refusal.kind == CaseRefused.NOT_RUNNING:
        return [f"error: the case is no longer running in Temporal ({refusal.temporal}); {nothing_changed}."]
    if refusal.kind == CaseRefused.UNKNOWN_INSTRUCTION:
        return [f"error: {refusal}"]
    return None


def secret_checked(make_on_embedded: bool = False) -> None:
    """Refuse (exit 2, one paragraph) a missing, empty, known-default or short STOCKWARDEN_SECRET_KEY before
    anything starts. With `make_on_embedded` (`up`) and neither a secret nor a database set, the secret
    kept in var/ is used, made now if there is none (said once)."""
    settings = get_settings()
    if make_on_embedded and not settings.secret_key and settings.embedded():
        settings.secret_key, made = make_stored(settings.var_dir)
        if made:
            say(f"Made a random secret key for this machine in {settings.var_dir.resolve() / 'secret_key'} "
                "(readable by you only); it is used from now on. Set STOCKWARDEN_SECRET_KEY to use another.")
    try:
        check(settings.secret_key)
    except SecretRefused as exc:
        say(f"error: {exc}")
        raise typer.Exit(2) from None


def database() -> Engine:
    """The configured database with its schema brought up to date, so every command finds its tables."""
    engine = make_engine(get_settings().resolved_database_url())
    with reported("nothing was done"):  # a database that is down says so in one line
        migrate(engine)
    return engine


def actor_of(by: str | None) -> str:
    """Who a command acts for in the audit trail: --by, else the login name."""
    return by or current_user()


def parse_day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"'{value}' is not a date (expected YYYY-MM-DD)", param_hint=option) from None


def month_of(period: str) -> str:
    """--period checked as a month (this month when empty); exit 1 with core.period's words if it is not one."""
    try:
        return str(Period.parse(period) if period else Period.of(datetime.now(UTC).date()))
    except PeriodInvalid as exc:
        say(f"error: --period {exc}")
        raise typer.Exit(1) from None
