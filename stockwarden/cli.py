"""The `stockwarden` command: thin wrappers that read settings, call the domain code and report plainly.

No traceback should reach a person for anything they can fix: bad input is reported with file, line
and column, and the exit code says whether the command did what was asked.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from sqlalchemy import Engine, func, select
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.checkpoints import keep_in_temporal, kept_in_temporal
from activities.notifications import NotificationActivities
from activities.scan import ScanSummary
from api.auth import Role, TokenInfo, UnknownToken, issue_token, list_tokens, revoke_token, revoke_tokens_of
from api.pins import PinProblem, set_pin
from audit.checkpoints import Anchor, Checkpoint, CheckpointKeyMissing
from audit.trail import entries
from core.db import make_engine, migrate
from core.period import is_period
from core.secret import SecretRefused, check, make_stored
from core.settings import get_settings
from core.temporal import TLSSettingsInvalid, connect
from governance.models import CaseRow
from governance.opening import FINAL_STATES
from governance.outbox import InstructionsAltered, export, unconfirmed
from governance.verification import verify_all
from inventory.demo import write_company
from inventory.facts_output import write_json, write_table
from inventory.ingest import IngestFailed, current_user, ingest
from inventory.metrics import iter_facts, latest_snapshot
from inventory.movements import AlreadyApplied
from inventory.sources import SourceError
from inventory.summary import render_summary, summarise
from notifications.mail_catcher import mail_catcher
from notifications.models import Notification
from notifications.people import PEOPLE_FILE, parse_people
from reports.kpis import NoSnapshotForPeriod, store
from reports.labels import LABELS
from reports.models import KpiValue
from reports.pack import write_pack
from rules.incremental import reevaluate
from rules.loader import PolicyInvalid, load_policy, read_document
from rules.scan import (
    NothingToScan,
    finding_json,
    preview,
    preview_json,
    render_findings_summary,
    scan,
    stored_findings,
)
from rules.schema import policy_json_schema_text
from rules.versions import (
    Pending,
    PolicyConflict,
    SecondSignatureRefused,
    activate,
    active_version,
    approve_pending,
    diff_versions,
    history,
    known_values,
    pending_activations,
    reject_pending,
)
from stockwarden.case_actions import UnknownInstruction, confirm_instruction
from stockwarden.stopping import stopped_by_signals
from stockwarden.temporal import (
    build_worker,
    core_logs_to_python,
    embedded_temporal,
    ensure_checkpoint_schedule,
    ensure_dispatcher,
    ensure_scan_schedule,
)
from workflows.scan import ScanRequest, ScanWorkflow

if TYPE_CHECKING:
    import uvicorn  # imported when serving: the other commands start faster without it

app = typer.Typer(help="Stockwarden: find and govern slow-moving, idle and expiring stock (呆滞料).",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)


def _say(message: str) -> None:
    typer.echo(message, err=True)


@contextmanager
def _reported(nothing_changed: str) -> Iterator[None]:
    """Errors a person can fix become their messages and exit code 1; `nothing_changed` says what that
    means (say, "nothing was stored"). Anything else is a bug and keeps its traceback."""
    try:
        yield
    except SecretRefused as exc:  # a command that talks to Temporal derives its payload key from the secret
        _say(f"error: {exc}")
        raise typer.Exit(2) from None
    except TLSSettingsInvalid as exc:
        _say(f"error: {exc}; {nothing_changed}.")
        raise typer.Exit(1) from None
    except PolicyInvalid as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        _say(f"{len(exc.problems)} problem(s); {nothing_changed}.")
        raise typer.Exit(1) from None
    except IngestFailed as exc:
        for error in exc.errors:
            typer.echo(str(error), err=True)
        shown = f" (the first {len(exc.errors):,} shown)" if exc.total > len(exc.errors) else ""
        _say(f"{exc.total:,} problem(s){shown}; {nothing_changed}.")
        raise typer.Exit(1) from None
    except (SourceError, PolicyConflict, SecondSignatureRefused, NothingToScan, AlreadyApplied, UnknownInstruction,
            NoSnapshotForPeriod, CheckpointKeyMissing) as exc:
        _say(f"error: {exc}")
        raise typer.Exit(1) from None
    except InstructionsAltered as exc:
        for problem in exc.problems:
            _say(f"refused: {problem}")
        _say(f"{len(exc.problems)} ERP instruction(s) no longer match their audit entries; {nothing_changed}.")
        raise typer.Exit(1) from None
    except WorkflowUpdateFailedError as exc:  # a case refused the action: its validator says why
        _say(f"refused: {exc.cause.message if isinstance(exc.cause, ApplicationError) else exc.cause}; {nothing_changed}.")
        raise typer.Exit(1) from None
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        _say(f"error: the case is no longer running in Temporal ({exc.message}); {nothing_changed}.")
        raise typer.Exit(1) from None
    except RuntimeError as exc:  # temporalio's "failed client connect" and the like
        if "connect" not in str(exc).lower():
            raise
        _say(f"error: cannot reach Temporal at {get_settings().temporal_address}: {exc}")
        raise typer.Exit(1) from None


def _secret_checked(make_on_embedded: bool = False) -> None:
    """Refuse (exit 2, one paragraph) a missing, empty, known-default or short STOCKWARDEN_SECRET_KEY before
    anything starts. With `make_on_embedded` (`up`) and neither a secret nor a database set, the secret
    kept in var/ is used, made now if there is none (said once)."""
    settings = get_settings()
    if make_on_embedded and not settings.secret_key and settings.embedded():
        settings.secret_key, made = make_stored(settings.var_dir)
        if made:
            _say(f"Made a random secret key for this machine in {settings.var_dir.resolve() / 'secret_key'} "
                 "(readable by you only); it is used from now on. Set STOCKWARDEN_SECRET_KEY to use another.")
    try:
        check(settings.secret_key)
    except SecretRefused as exc:
        _say(f"error: {exc}")
        raise typer.Exit(2) from None


def _engine() -> Engine:
    """The configured database with its schema brought up to date, so every command finds its tables."""
    engine = make_engine(get_settings().resolved_database_url())
    migrate(engine)
    return engine


def _parse_day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"'{value}' is not a date (expected YYYY-MM-DD)", param_hint=option) from None


AsOf = Annotated[str | None, typer.Option("--as-of", help="Snapshot date YYYY-MM-DD (default: today, UTC).")]


@app.command("ingest")
def ingest_command(
    path: Annotated[Path, typer.Argument(help="A folder of CSV files or one .xlsx workbook.")],
    as_of: AsOf = None,
    loaded_by: Annotated[str | None, typer.Option("--by", help="Who loads it (default: login name).")] = None,
) -> None:
    """Load an ERP export as a new snapshot; every bad row is reported and nothing is stored."""
    day = _parse_day(as_of, "--as-of")
    engine = _engine()
    with _reported("nothing was stored"):
        result = ingest(engine, path, as_of=day, loaded_by=loaded_by,
                        default_currency=get_settings().default_currency, progress=_say)
    if result.already_loaded:
        typer.echo(f"Already loaded as snapshot {result.snapshot_id} (as of {result.as_of}); nothing new stored.")
    else:
        counts = ", ".join(f"{name} {count:,}" for name, count in result.row_counts.items())
        typer.echo(f"Snapshot {result.snapshot_id} as of {result.as_of} stored: {counts}.")


@app.command("facts")
def facts_command(
    as_json: Annotated[bool, typer.Option("--json", help="JSON with 'lots' and 'skus' arrays.")] = False,
) -> None:
    """Print every lot and SKU-site fact of the latest snapshot."""
    engine = _engine()
    with engine.connect() as connection:
        snapshot = latest_snapshot(connection)
        if snapshot is None:
            _say("No snapshot loaded yet: run `stockwarden ingest PATH` or `stockwarden up`.")
            raise typer.Exit(1)
        facts = iter_facts(connection, snapshot)
        if as_json:
            write_json(sys.stdout, snapshot, facts)
        else:
            write_table(sys.stdout, facts)


@app.command("demo-data")
def demo_data_command(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the CSV files into.")],
    lots: Annotated[int, typer.Option("--lots", min=1, help="Number of lot positions.")] = 2_000,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same company.")] = 7,
    as_of: AsOf = None,
    with_errors: Annotated[bool, typer.Option("--with-errors", help="Add bad rows to show error reports.")] = False,
) -> None:
    """Write a realistic, deterministic demo company in the ingest format."""
    day = _parse_day(as_of, "--as-of") or datetime.now(UTC).date()
    write_company(out, lots=lots, seed=seed, as_of=day, with_errors=with_errors, progress=_say)


@app.command("migrate")
def migrate_command() -> None:
    """Create or upgrade the database schema (every other command does this too)."""
    _engine()
    typer.echo("Schema is up to date.")


@app.command("up")
def up_command(
    lots: Annotated[int, typer.Option("--lots", min=1, help="Lot positions of the demo company.")] = 2_000,
    serve: Annotated[bool, typer.Option("--serve/--once", help="Afterwards, keep Temporal and the worker running "
                                        "and serve the API and pages until Ctrl-C (default), or stop.")] = True,
) -> None:
    """Run the main job on the embedded default: demo company, ingest, policy, Temporal dev server and
    worker, a scan through Temporal that opens the cases, a summary and a governance pack; then serve the
    API and pages (address and an admin token printed) until interrupted, unless --once. On the embedded
    default with no STOCKWARDEN_SECRET_KEY, it makes one in var/secret_key and keeps it."""
    _secret_checked(make_on_embedded=True)
    settings = get_settings()
    engine = _engine()
    with engine.connect() as connection:
        snapshot = latest_snapshot(connection)
    if snapshot is None:
        today = datetime.now(UTC).date()
        demo = settings.var_dir / "demo"
        _say(f"Empty database: writing the demo company into {demo}")
        write_company(demo, lots=lots, as_of=today, progress=_say)
        ingest(engine, demo, as_of=today, loaded_by="stockwarden up", default_currency=settings.default_currency,
               progress=_say)
    with engine.connect() as connection:
        snapshot = latest_snapshot(connection)
        assert snapshot is not None
        typer.echo(render_summary(summarise(iter_facts(connection, snapshot), snapshot.as_of)))
        active = active_version(connection)
    if active is None:
        activation = activate(engine, settings.policy_file, actor="stockwarden up")
        assert not isinstance(activation, Pending)  # with nothing active, no duty moves (rules/duties.py)
        activated = activation.version
        _say(f"No active policy: activated {activated.name} v{activated.version} from {settings.policy_file}")
        with engine.connect() as connection:
            active = active_version(connection)
    assert active is not None
    _up_scan_and_cases(engine, settings.var_dir, f"{active[1].policy} v{active[1].version}",
                       snapshot.as_of.strftime("%Y-%m"), serve)


def _up_report(engine: Engine, scan_id: int, policy_label: str, period: str) -> Checkpoint | None:
    """Findings per rule, open cases per owner, and the month's governance pack (its audit checkpoint is
    returned, for the keeper in Temporal)."""
    settings = get_settings()
    with engine.connect() as connection:
        findings = list(stored_findings(connection, scan_id))
        cases = connection.execute(select(CaseRow.owner, func.count()).where(CaseRow.state.not_in(FINAL_STATES))  # type: ignore[attr-defined]
                                   .group_by(CaseRow.owner).order_by(CaseRow.owner)).all()
    typer.echo(render_findings_summary(findings, policy_label))
    typer.echo(f"Cases open by owner 各负责人未结案件 (scan {scan_id} through Temporal): {sum(n for _, n in cases):,}")
    for owner, count in cases:
        typer.echo(f"  {owner:32} {count:6,}")
    with _reported("no pack was written"):
        pack = write_pack(engine, period, "zh-CN", settings.var_dir / "packs" / f"governance-pack-{period}.xlsx",
                          anchor=Anchor.from_settings(settings))
    _say(f"Governance pack 治理报告 for {period}: {pack.path}")
    return pack.checkpoint


def _up_scan_and_cases(engine: Engine, var_dir: Path, policy_label: str, period: str, serve: bool) -> None:
    """Temporal (the dev server if none runs), a worker in this process, a ScanWorkflow that opens the
    cases, the report; then (unless --once) the worker goes on serving the cases' timers and actions, the
    dispatcher delivers messages and the API and pages are served, until interrupted."""
    settings = get_settings()

    async def run() -> None:
        async with embedded_temporal(var_dir) as client, build_worker(client, engine, settings.task_queue):
            summary = await client.execute_workflow(
                ScanWorkflow.run, ScanRequest(settings.scan_partitions), id=f"scan-{uuid.uuid4()}",
                task_queue=settings.task_queue)
            await _cases_recorded(engine, summary.cases)
            await _deliver_now(engine)
            checkpoint = await asyncio.to_thread(_up_report, engine, summary.scan_id, policy_label, period)
            if checkpoint is not None:
                await keep_in_temporal(client, settings.task_queue, checkpoint)
            if serve:
                await ensure_dispatcher(client, settings.task_queue, settings.notify_interval_seconds,
                                        settings.digest_hour)
                await ensure_checkpoint_schedule(client, settings.task_queue, settings.audit_checkpoint_cron)
                await _serve_api(engine, client)

    with _reported("nothing was scanned"), _local_mail(var_dir):
        try:
            asyncio.run(run())
        except KeyboardInterrupt:  # during the main job; once serving, Ctrl-C stops in order (stopping.py)
            _say("Interrupted before the main job was done.")
            raise typer.Exit(130) from None


@contextmanager
def _local_mail(var_dir: Path) -> Iterator[None]:
    """The mail catcher on the configured SMTP port when that is on this machine and free: the demo's
    messages land in var/mail as .eml files."""
    settings = get_settings()
    if settings.smtp_host not in ("127.0.0.1", "localhost"):
        yield
        return
    try:
        catcher = mail_catcher(var_dir / "mail", settings.smtp_host, settings.smtp_port)
        folder = catcher.__enter__()
    except OSError:  # something else already listens there: let it take the mail
        yield
        return
    try:
        yield
    finally:
        catcher.__exit__(None, None, None)
        _say(f"Messages of the demo cases: {len(list(folder.glob('*.eml'))):,} in {folder} (open them with any mail program)")


async def _deliver_now(engine: Engine) -> None:
    """What the dispatcher would send at its next round, and today's digests, so a new user sees them."""
    delivery = NotificationActivities(engine, get_settings())
    at_once = await asyncio.to_thread(delivery.deliver_due)
    digests = await asyncio.to_thread(delivery.deliver_digests)
    _say(f"Notifications: {at_once.sent + digests.sent:,} sent ({digests.sent:,} daily digests), "
         f"{at_once.failed + digests.failed:,} failed and queued for retry")


def _api_server(engine: Engine, client: Client, host: str | None = None, port: int | None = None) -> uvicorn.Server:
    """uvicorn serving the app; where to listen defaults to the host and port of STOCKWARDEN_PUBLIC_URL."""
    import uvicorn

    from api.app import create_app

    settings = get_settings()
    public_host, _, public_port = settings.public_url.removeprefix("http://").removeprefix("https://").partition(":")
    return uvicorn.Server(uvicorn.Config(create_app(engine, client, settings), host=host or public_host or "127.0.0.1",
                                         port=port or int(public_port.split("/")[0] or 8000), log_level="warning"))


UP_TOKEN_DAYS = 1
"""The admin token `up` prints is revoked when that `up` stops, and expires within a day if it never
gets to (the process killed)."""


async def _serve_api(engine: Engine, client: Client) -> None:
    server = _api_server(engine, client)
    issued = issue_token(engine, "admin@localhost", [Role.ADMIN], by=_actor(None), days=UP_TOKEN_DAYS)
    base = get_settings().public_url.rstrip("/")
    _say(f"Serving: the worker runs the cases' timers and actions.\n"
         f"  API:   {base} (OpenAPI at {base}/docs)\n"
         f"  Pages: {base}/pages/login (sign in with the token below; messages carry each person's own link)\n"
         f"  Admin token for this run: {issued.token} (revoked when this run stops)\n"
         f"Ctrl-C stops.")
    try:
        await _serve_until_stopped(server)
    finally:  # also when serving failed: the printed token must not outlive this run
        await asyncio.to_thread(revoke_token, engine, issued.info.id, by=_actor(None))
    _say("Stopping: the API (its admin token revoked), then the worker and Temporal.")


async def _serve_until_stopped(server: uvicorn.Server) -> None:
    """uvicorn's serve() until SIGINT or SIGTERM, which then return here rather than interrupt what follows."""
    with stopped_by_signals(lambda: setattr(server, "should_exit", True)):
        await server.serve()


async def _cases_recorded(engine: Engine, expected: int) -> None:
    """Started cases write their mirror row in their first activity; wait (bounded) until they have."""
    for _ in range(600):
        with engine.connect() as connection:
            if connection.execute(select(func.count()).select_from(CaseRow)
                                  .where(CaseRow.state.not_in(FINAL_STATES))).scalar_one() >= expected:  # type: ignore[attr-defined]
                return
        await asyncio.sleep(0.1)


@app.command("cases")
def cases_command(
    state: Annotated[str | None, typer.Option("--state", help="Only cases in this state.")] = None,
    owner: Annotated[str | None, typer.Option("--owner", help="Only cases of this owner (email).")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List cases from the case mirror: rule, SKU, site, lines, state, owner, due dates, value, workflow id."""
    query = select(CaseRow).order_by(CaseRow.acknowledge_due, CaseRow.id)  # type: ignore[arg-type]
    if state:
        query = query.where(CaseRow.state == state)  # type: ignore[arg-type]
    if owner:
        query = query.where(CaseRow.owner == owner)  # type: ignore[arg-type]
    with _engine().connect() as connection:
        rows = [CaseRow.model_validate(r._mapping) for r in connection.execute(query)]
        failing = set(connection.execute(select(Notification.case_id).where(Notification.failing.is_(True),  # type: ignore[attr-defined]
                                                                             Notification.state == "queued")).scalars())
    if as_json:
        typer.echo(json.dumps([{
            "workflow_id": r.id, "rule": r.rule, "sku": r.sku, "site": r.site, "state": r.state, "owner": r.owner,
            "assignees": r.assignees, "acknowledge_due": r.acknowledge_due.isoformat(),
            "resolve_due": r.resolve_due.isoformat(), "value": float(r.value),
            "lines": [{"lot": line["lot"], "serial": line["serial"], "quantity": line.get("quantity"),
                       "value": line["value"]} for line in r.lines],
            "proposal": r.proposal, "delivery_failing": r.id in failing} for r in rows],
            ensure_ascii=False, indent=1))
        return
    for r in rows:
        typer.echo(("! " if r.id in failing else "  ") + f"{r.state:21} {r.rule:24} {r.sku:12} {r.site:6} {len(r.lines):3} line(s)  value {r.value:14,.2f}  "
                   f"{r.owner:28} acknowledge by {r.acknowledge_due:%Y-%m-%d}  {r.id}")
    typer.echo(f"{len(rows):,} case(s)." + (f" {len(failing):,} marked ! have a message that keeps failing "
                                            "(stockwarden notifications --failing)." if failing else ""))


@app.command("kpis")
def kpis_command(
    period: Annotated[str, typer.Option("--period", help="The month, YYYY-MM (default: this month).")] = "",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Compute and store the committee's KPIs for a month (docs/metrics.md), and print the company's."""
    period = period or datetime.now(UTC).strftime("%Y-%m")
    if not is_period(period):
        _say(f"error: --period '{period}' is not a month (YYYY-MM)")
        raise typer.Exit(1)
    engine = _engine()
    with _reported("nothing was stored"):
        count = store(engine, period)
    with engine.connect() as connection:
        rows = connection.execute(select(KpiValue).where(KpiValue.period == period)  # type: ignore[arg-type]
                                  .order_by(KpiValue.scope_kind, KpiValue.scope_key, KpiValue.name)).all()  # type: ignore[arg-type]
    if as_json:
        typer.echo(json.dumps([{"scope": r.scope_kind, "key": r.scope_key, "name": r.name,
                                "value": None if r.value is None else float(r.value)} for r in rows], ensure_ascii=False, indent=1))
        return
    for r in rows:
        if r.scope_kind == "company":
            typer.echo(f"{r.name:32} {'-' if r.value is None else f'{r.value.normalize():,f}':>20}")
    _say(f"{count:,} KPI values stored for {period} (company, sites, categories).")


@app.command("pack")
def pack_command(
    out: Annotated[Path, typer.Option("--out", help="The .xlsx file to write.")],
    period: Annotated[str, typer.Option("--period", help="The month, YYYY-MM (default: this month).")] = "",
    lang: Annotated[str, typer.Option("--lang", help="zh-CN or en.")] = "zh-CN",
) -> None:
    """Write the committee's Excel governance pack for a month (its KPIs are computed and stored too)."""
    period = period or datetime.now(UTC).strftime("%Y-%m")
    if not is_period(period):
        _say(f"error: --period '{period}' is not a month (YYYY-MM)")
        raise typer.Exit(1)
    if lang not in LABELS:
        _say(f"error: --lang '{lang}' is not one of {', '.join(LABELS)}")
        raise typer.Exit(1)
    with _reported("no pack was written"):
        summary = write_pack(_engine(), period, lang, out, anchor=Anchor.from_settings(get_settings()))
    _say(f"Wrote {summary.path}: " + ", ".join(f"{name} {rows:,}" for name, rows in summary.rows.items()) + " rows.")
    _keep_checkpoint(summary.checkpoint)


def _keep_checkpoint(checkpoint: Checkpoint) -> None:
    """Say where the checkpoint went: the file always; the keeper in Temporal when Temporal answers."""
    settings = get_settings()
    where = f"audit checkpoint at entry {checkpoint.seq} written to {settings.resolved_checkpoint_file()}"

    async def keep() -> None:
        await keep_in_temporal(await asyncio.wait_for(connect(), timeout=5), settings.task_queue, checkpoint)

    try:
        asyncio.run(keep())
    except (RuntimeError, TimeoutError, RPCError) as unreachable:
        reason = "no answer" if isinstance(unreachable, TimeoutError) else str(unreachable).split(":")[0]
        _say(f"The {where}; not kept in Temporal (at {settings.temporal_address}: {reason}): the next daily "
             "checkpoint, which covers every entry before it, will be.")
        return
    _say(f"The {where} and kept in Temporal (workflow audit-checkpoints).")


token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
app.add_typer(token_app, name="token")


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
        issued = issue_token(_engine(), person, list(roles), by=_actor(by), days=days or get_settings().token_days)
    except ValueError as bad:
        _say(f"error: {bad}; no token was made.")
        raise typer.Exit(1) from None
    typer.echo(issued.token)
    _say(f"Token {issued.info.id} for {person} with roles {', '.join(r.value for r in roles)}, until "
         f"{issued.info.expires_at:%Y-%m-%d %H:%M} UTC; keep it: it is not shown again.")


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else f"{moment:%Y-%m-%d %H:%M}"


def _token_line(t: TokenInfo) -> str:
    return (f"{t.id:5} {t.state():8} {t.person:30} {','.join(t.roles):20} {_when(t.created_at):16}  "
            f"{_when(t.expires_at):16}  {t.created_by:20} {_when(t.revoked_at)}")


@token_app.command("list")
def token_list_command(
    person: Annotated[str | None, typer.Option("--person", help="Only this person's tokens.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Every token: id, state, person, roles, created, expires, created by, revoked (UTC); never the secret."""
    with _engine().connect() as connection:
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
    _say(f"{len(rows):,} token(s), {sum(t.state() == 'live' for t in rows):,} live.")


@token_app.command("revoke")
def token_revoke_command(
    token_id: Annotated[int | None, typer.Argument(metavar="ID", help="The token's id (see `token list`).")] = None,
    person: Annotated[str | None, typer.Option("--person", help="Revoke every token of this person instead.")] = None,
    by: By = None,
) -> None:
    """Revoke a token (or all of one person's); the page sessions begun with it end. Audited."""
    if (token_id is None) == (person is None):
        raise typer.BadParameter("give a token's ID or --person EMAIL (one of them)", param_hint="ID / --person")
    engine = _engine()
    if person is not None:
        revoked = revoke_tokens_of(engine, person, by=_actor(by))
        if not revoked:
            _say(f"error: {person} has no token that is not revoked already; nothing was revoked.")
            raise typer.Exit(1)
    else:
        asked = datetime.now(UTC)
        try:
            revoked = [revoke_token(engine, token_id, by=_actor(by))]  # type: ignore[arg-type]
        except UnknownToken as missing:
            _say(f"error: {missing}; nothing was revoked.")
            raise typer.Exit(1) from None
        if revoked[0].revoked_at < asked:  # type: ignore[operator]
            _say(f"Token {token_id} was already revoked at {_when(revoked[0].revoked_at)} UTC; nothing changed.")
            return
    for t in revoked:
        typer.echo(_token_line(t))
    _say(f"{len(revoked):,} token(s) revoked; a request or page session with them is refused from now on.")


@app.command("notifications")
def notifications_command(
    failing_only: Annotated[bool, typer.Option("--failing", help="Only messages that keep failing.")] = False,
) -> None:
    """Messages not yet delivered: to whom, about which case, attempts, next attempt and the last error."""
    query = select(Notification).where(Notification.state == "queued").order_by(Notification.id)  # type: ignore[arg-type]
    if failing_only:
        query = query.where(Notification.failing.is_(True))  # type: ignore[attr-defined]
    with _engine().connect() as connection:
        rows = connection.execute(query).all()
    for n in rows:
        typer.echo(f"{n.id:6} {'FAILING' if n.failing else 'queued ':7} {n.event:20} {n.recipient:30} attempts {n.attempts:3} "
                   f"next {n.next_attempt_at:%Y-%m-%d %H:%M}  {n.case_id}  {n.last_error[:80]}")
    _say(f"{len(rows):,} message(s) not yet delivered.")


policy_app = typer.Typer(help="Policies: check, activate, compare and preview policy files.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")
audit_app = typer.Typer(help="The hash-chained audit trail.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")

By = Annotated[str | None, typer.Option("--by", help="Who does it (default: login name).")]


def _actor(by: str | None) -> str:
    return by or current_user()


pin_app = typer.Typer(help="Signing PINs: the second component every signature needs (21 CFR 11.200(a)).",
                      no_args_is_help=True)
app.add_typer(pin_app, name="pin")


@pin_app.command("set")
def pin_set_command(
    person: Annotated[str, typer.Option("--person", help="Whose PIN (email), who should type it in.")],
    by: By = None,
) -> None:
    """Set or replace a person's signing PIN, typed twice without echo (the person at the terminal).
    Only its scrypt hash is kept; the change is audited with who made it, never the PIN."""
    pin = typer.prompt(f"Signing PIN for {person}", hide_input=True, confirmation_prompt=True)
    try:
        set_pin(_engine(), person.strip(), pin, by=_actor(by))
    except PinProblem as problem:
        _say(f"error: {problem}; no PIN was set")
        raise typer.Exit(1) from None
    _say(f"Signing PIN set for {person.strip()}; their next signature asks for it.")


outbox_app = typer.Typer(help="ERP instructions of approved dispositions: list, export, confirm.")
app.add_typer(outbox_app, name="outbox")


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
    engine = _engine()
    with engine.begin() as connection:
        rows = unconfirmed(connection)
        for row in rows:
            typer.echo(f"{row.id:6} {row.state:8} {row.disposition:22} {row.sku:12} {row.site:6} "
                       f"{row.lot or '-':10} {row.serial or '-':10} qty {row.quantity.normalize():>8f} "
                       f"value {row.value:12,.2f}  {row.target or '-':14} {row.case_id}")
        _say(f"{len(rows):,} instruction(s) not yet confirmed.")
        if export_to is not None and rows:
            with _reported("nothing was exported"):
                path = export(connection, rows, export_to, actor=_actor(by))
            _say(f"Wrote {path} for the ERP's import.")


@outbox_app.command("confirm")
def outbox_confirm_command(
    instruction_id: Annotated[int, typer.Argument(metavar="ID", help="The instruction's id.")],
    by: By = None,
    note: Annotated[str, typer.Option("--note", help="What the ERP reported, e.g. its document number.")] = "",
) -> None:
    """Confirm that the ERP carried out one instruction (the case resolves when its last one is confirmed)."""
    engine = _engine()

    async def send() -> str:
        return await confirm_instruction(await connect(), engine, instruction_id, _actor(by), note)

    with _reported("nothing was confirmed"):
        state = asyncio.run(send())
    _say(f"Instruction {instruction_id} confirmed; the case is {state}.")


@policy_app.command("check")
def policy_check_command(paths: Annotated[list[Path], typer.Argument(help="Policy files (and people.yaml).")]) -> None:
    """Check policy files and the people directory (people.yaml); every problem is printed as
    file:line:column: path: message. Exit 1 if any."""
    engine = _engine()
    with engine.connect() as connection:
        known = known_values(connection)
    failed = False
    for path in paths:
        try:
            with _reported(f"{path} is not valid"):
                if path.name == PEOPLE_FILE:
                    directory = parse_people(read_document(path), str(path))
                else:
                    policy, _ = load_policy(path, known=known)
        except typer.Exit:
            failed = True  # go on: every file's problems are wanted in one run
        else:
            if path.name == PEOPLE_FILE:
                typer.echo(f"{path}: the directory of {len(directory.people)} people is valid.")
            else:
                typer.echo(f"{path}: policy '{policy.policy}' version {policy.version} is valid "
                           f"({len(policy.rules)} rules).")
    if failed:
        raise typer.Exit(1)


@policy_app.command("activate")
def policy_activate_command(path: Annotated[Path, typer.Argument(help="The policy file.")], by: By = None) -> None:
    """Make a checked policy file the active version (audited). A bad file changes nothing."""
    with _reported("not activated, the active policy stays"):
        result = activate(_engine(), path, actor=_actor(by))
    if isinstance(result, Pending):
        pending = result.row
        typer.echo(f"{pending.name} v{pending.version} changes duties, so it waits for a second signature "
                   f"(pending activation {pending.id}); the active policy stays:")
        for change in result.changes:
            typer.echo(f"  {change}")
        _say(f"An admin or another compliance officer signs it with `stockwarden policy approve {pending.id} "
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
    with _engine().connect() as connection:
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
    with _reported("not activated, the active policy stays"):
        result = approve_pending(_engine(), pending_id, signer=_actor(by), reason=reason)
    version = result.version
    typer.echo(f"{version.name} v{version.version} activated, signed by {version.activated_by} "
               f"(sha256 {version.text_hash[:12]}).")


@policy_app.command("reject")
def policy_reject_command(pending_id: Annotated[int, typer.Argument(help="The pending activation's number.", min=1)],
                          reason: Annotated[str, typer.Option("--reason", help="Why (recorded).")],
                          by: By = None) -> None:
    """Reject a pending activation, with a reason; the active policy stays."""
    with _reported("nothing changed"):
        row = reject_pending(_engine(), pending_id, signer=_actor(by), reason=reason)
    typer.echo(f"Pending activation {row.id} ({row.name} v{row.version}) rejected; the active policy stays.")


@policy_app.command("history")
def policy_history_command() -> None:
    """Every activated version, oldest first; * marks the active one."""
    with _engine().connect() as connection:
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
    with _reported("nothing to compare"), _engine().connect() as connection:
        typer.echo(diff_versions(connection, a, b))


@policy_app.command("preview")
def policy_preview_command(
    draft: Annotated[Path, typer.Argument(help="The draft policy file.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """What a draft would change against the active policy on the latest snapshot."""
    engine = _engine()
    with _reported("nothing to preview"):
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


@app.command("worker")
def worker_command() -> None:
    """Run a Temporal worker for Stockwarden's workflows and activities until interrupted."""
    _secret_checked()
    settings = get_settings()
    engine = _engine()

    async def serve() -> None:
        client = await connect()
        await ensure_scan_schedule(client, settings.task_queue, settings.scan_cron, settings.scan_partitions)
        await ensure_dispatcher(client, settings.task_queue, settings.notify_interval_seconds, settings.digest_hour)
        await ensure_checkpoint_schedule(client, settings.task_queue, settings.audit_checkpoint_cron)
        stop = asyncio.Event()
        async with build_worker(client, engine, settings.task_queue):
            with stopped_by_signals(stop.set):
                _say(f"Worker on {settings.temporal_address}, namespace {settings.temporal_namespace}, "
                     f"task queue {settings.task_queue}; scans scheduled '{settings.scan_cron}', audit "
                     f"checkpoints '{settings.audit_checkpoint_cron}' (UTC). "
                     f"Ctrl-C or SIGTERM stops.")
                await stop.wait()
            _say("Stopping: activities in flight finish first.")

    try:
        with _reported("no worker runs"):
            asyncio.run(serve())
    except KeyboardInterrupt:  # before the worker ran; afterwards Ctrl-C stops it in order (stopping.py)
        _say("Interrupted before the worker ran.")
        raise typer.Exit(130) from None
    _say("Worker stopped.")


@app.command("serve")
def serve_command(
    host: Annotated[str | None, typer.Option("--host", help="Listen here (default: STOCKWARDEN_PUBLIC_URL's host; "
                                             "0.0.0.0 in a container).")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Listen on this port (default: the public URL's).")] = None,
) -> None:
    """Serve the API and the pages against the configured database and Temporal (production; workers run
    apart with `stockwarden worker`). Tokens come from `stockwarden token create`."""
    _secret_checked()
    engine = _engine()
    settings = get_settings()

    async def serve() -> None:
        client = await connect()
        _say(f"API and pages at {settings.public_url} (listening on {host or 'the public host'}:{port or 'its port'}); "
             f"Temporal {settings.temporal_address}")
        await _serve_until_stopped(_api_server(engine, client, host, port))

    try:
        with _reported("the API is not served"):
            asyncio.run(serve())
    except KeyboardInterrupt:  # before uvicorn took over the signals
        _say("Interrupted before the API was served.")
        raise typer.Exit(130) from None
    _say("API stopped.")


@app.command("codec-server")
def codec_server_command(
    host: Annotated[str, typer.Option("--host", help="Listen here; beyond localhost only with "
                                      "STOCKWARDEN_CODEC_SERVER_TOKEN set.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Listen on this port.")] = 8081,
) -> None:
    """Serve the codec endpoint for the Temporal UI and CLI (POST /encode, /decode): it shows cases' payloads
    in clear to whoever may call it, so it needs a bearer token, or listens on localhost only."""
    _secret_checked()
    import uvicorn

    from core.temporal import converter
    from stockwarden.codec_server import LOOPBACK, create_codec_app

    settings = get_settings()
    if host not in LOOPBACK and not settings.codec_server_token:
        _say(f"error: the codec server decrypts every payload; to listen on {host} set "
             "STOCKWARDEN_CODEC_SERVER_TOKEN (its callers send it as 'Authorization: Bearer <token>'), or keep "
             "the default --host 127.0.0.1.")
        raise typer.Exit(2)
    codec = converter(settings).payload_codec
    assert codec is not None
    app_ = create_codec_app(codec, settings.codec_server_token, settings.codec_server_origin)  # type: ignore[arg-type]
    guard = "a bearer token" if settings.codec_server_token else "no token: localhost only"
    _say(f"Codec server on http://{host}:{port} ({guard}; the UI's origin {settings.codec_server_origin}). "
         f"Ctrl-C stops.")
    server = uvicorn.Server(uvicorn.Config(app_, host=host, port=port, log_level="warning"))
    asyncio.run(_serve_until_stopped(server))
    _say("Codec server stopped.")


def _scan_via_temporal(partitions: int) -> ScanSummary:
    settings = get_settings()

    async def start() -> ScanSummary:
        client = await connect()
        return await client.execute_workflow(ScanWorkflow.run, ScanRequest(partitions), id=f"scan-{uuid.uuid4()}",
                                             task_queue=settings.task_queue)

    with _reported("nothing was scanned"):
        return asyncio.run(start())


@app.command("scan")
def scan_command(
    policy_file: Annotated[Path | None, typer.Option("--policy", help="Use this file, not the active policy.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the findings as JSON.")] = False,
    via_temporal: Annotated[bool, typer.Option("--via-temporal", help="Run as a ScanWorkflow on the workers.")] = False,
) -> None:
    """Evaluate the latest snapshot against the active policy (or --policy FILE) and store the findings."""
    engine = _engine()
    if via_temporal:
        if policy_file is not None:
            raise typer.BadParameter("a scan through Temporal uses the active policy", param_hint="--policy")
        summary = _scan_via_temporal(get_settings().scan_partitions)
        typer.echo(f"Scan {summary.scan_id} through Temporal: snapshot {summary.snapshot_id} against "
                   f"{summary.policy} v{summary.version}: {summary.findings:,} findings")
        return
    with _reported("nothing was scanned"):
        policy = None
        if policy_file is not None:
            with engine.connect() as connection:
                policy, _ = load_policy(policy_file, known=known_values(connection))
        result = scan(engine, policy=policy, processes=get_settings().scan_processes)
    with engine.connect() as connection:
        findings = stored_findings(connection, result.scan_id)
        if as_json:
            out = sys.stdout
            out.write(json.dumps({"policy": result.policy.policy, "version": result.policy.version,
                                  "snapshot": result.snapshot.id, "scan": result.scan_id})[:-1] + ', "findings": [')
            out.write(",".join("\n" + json.dumps(finding_json(f), ensure_ascii=False) for f in findings))
            out.write("\n]}\n")
            return
        by_rule: Counter[tuple[str, str]] = Counter((f.rule, f.severity) for f in findings)
    typer.echo(f"Scan {result.scan_id}: snapshot {result.snapshot.id} (as of {result.snapshot.as_of}) against "
               f"{result.policy.policy} v{result.policy.version}: {result.finding_count:,} findings")
    for (rule, severity), count in sorted(by_rule.items()):
        typer.echo(f"  {rule:28} {severity:9} {count:7,}")


@app.command("movements")
def movements_command(
    path: Annotated[Path, typer.Argument(help="A movements CSV (or a workbook with a movements sheet).")],
    by: By = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print opened and cleared findings as JSON.")] = False,
) -> None:
    """Apply movements to the latest snapshot and re-evaluate only the SKU-sites they touch."""
    with _reported("nothing was applied"):
        result = reevaluate(_engine(), path, actor=_actor(by))
    if as_json:
        typer.echo(json.dumps({"movements": result.movements, "sku_sites": result.sku_sites,
                               "opened": [finding_json(f) for f in result.opened],
                               "cleared": [finding_json(f) for f in result.cleared]}, ensure_ascii=False, indent=1))
        return
    typer.echo(f"{result.movements:,} movements applied at {result.sku_sites:,} SKU-sites: "
               f"{len(result.opened)} findings opened, {len(result.cleared)} cleared, {result.refreshed} refreshed.")
    for label, findings in (("opened", result.opened), ("cleared", result.cleared)):
        for finding in findings:
            subject = " ".join(filter(None, (finding.sku, finding.site, finding.lot, finding.serial)))
            typer.echo(f"  {label:8} {finding.rule:28} {subject}")


@audit_app.command("show")
def audit_show_command(
    case: Annotated[str | None, typer.Option("--case", help="A case's workflow id.")] = None,
    actor: Annotated[str | None, typer.Option("--actor", help="Who acted.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="From this day (YYYY-MM-DD, UTC).")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Before this day (YYYY-MM-DD, UTC).")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Audit entries, oldest first, filtered by case, actor and time."""
    def moment(value: str | None, option: str) -> datetime | None:
        day = _parse_day(value, option)
        return None if day is None else datetime(day.year, day.month, day.day, tzinfo=UTC)

    with _engine().connect() as connection:
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
        async def held() -> list:
            return await kept_in_temporal(await connect())

        with _reported("nothing was verified"):
            kept += asyncio.run(held())
    with _engine().connect() as connection, _reported("nothing was verified"):
        verdict = verify_all(connection, kept, settings.secret_key)
    for problem in verdict.problems:
        typer.echo(problem, err=True)
    if not verdict.intact:
        _say(verdict.summary())
        raise typer.Exit(1)
    typer.echo(verdict.summary())


@audit_app.command("checkpoint")
def audit_checkpoint_command(by: By = None) -> None:
    """Write a signed checkpoint of the audit trail's head now: to the checkpoint file and to the keeper
    in Temporal (the worker writes one daily, and every pack writes one)."""
    with _reported("no checkpoint was written"):
        checkpoint = Anchor.from_settings(get_settings()).write(_engine(), f"asked by {_actor(by)}")
    typer.echo(f"Checkpoint: entry {checkpoint.seq} of {checkpoint.count}, head {checkpoint.head_hash}, {checkpoint.at}")
    _keep_checkpoint(checkpoint)


def main() -> None:
    """The console script. It leaves without interpreter teardown once the command is done (output
    flushed, transactions committed): temporalio's Rust threads can abort a finalizing interpreter with
    "PyGILState_Release ... must be current" (temporalio/sdk-python#300), turning a success into SIGABRT."""
    core_logs_to_python()
    try:
        app()
        code: object = 0
    except SystemExit as exit_:
        code = exit_.code
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else (0 if code is None else 1))


if __name__ == "__main__":
    main()
