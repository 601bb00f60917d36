"""`stockwarden up`: the whole main job on one machine, for a first look. Demo company, ingest, policy,
Temporal dev server and worker, a scan that opens the cases, their messages, a summary and a pack; then it
serves the API and pages until interrupted."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Engine
from temporalio.client import Client

from activities.checkpoints import keep_in_temporal
from activities.notifications import NotificationActivities
from api.auth import issue_token, revoke_token
from audit.checkpoints import Anchor, Checkpoint
from core.settings import get_settings
from governance.listing import open_case_count, open_cases_by_owner
from governance.visibility import Role
from inventory.demo import write_company
from inventory.ingest import ingest
from inventory.metrics import iter_facts, latest_snapshot
from inventory.models import Snapshot
from inventory.summary import render_summary, summarise
from notifications.mail_catcher import mail_catcher
from reports.pack import write_pack
from rules.scan import render_findings_summary, stored_findings
from rules.snapshots import listed
from rules.versions import Pending, activate, active_version
from stockwarden.cli.common import actor_of, database, reported, say, secret_checked
from stockwarden.cli.serve import api_server, serve_until_stopped
from stockwarden.temporal import build_worker, embedded_temporal, ensure_checkpoint_schedule, ensure_dispatcher
from workflows.scan import ScanRequest, ScanWorkflow

UP_TOKEN_DAYS = 1
"""The admin token `up` prints is revoked when that `up` stops, and expires within a day if it never
gets to (the process killed)."""


def up_command(
    lots: Annotated[int, typer.Option("--lots", min=1, help="Lot positions of the demo company.")] = 2_000,
    serve: Annotated[bool, typer.Option("--serve/--once", help="Afterwards, keep Temporal and the worker running "
                                        "and serve the API and pages until Ctrl-C (default), or stop.")] = True,
) -> None:
    """Run the main job on the embedded default: demo company, ingest, policy, Temporal dev server and
    worker, a scan through Temporal that opens the cases, a summary and a governance pack; then serve the
    API and pages (address and an admin token printed) until interrupted, unless --once. On the embedded
    default with no STOCKWARDEN_SECRET_KEY, it makes one in var/secret_key and keeps it."""
    secret_checked(make_on_embedded=True)
    settings = get_settings()
    engine = database()
    snapshot = _snapshot_summarised(engine, lots)
    _scan_and_cases(engine, settings.var_dir, _active_policy(engine), snapshot.as_of.strftime("%Y-%m"), serve)


def _snapshot_summarised(engine: Engine, lots: int) -> Snapshot:
    """The latest snapshot, the demo company's written and loaded first when the database is empty; its
    summary printed. A database whose only snapshots are suspect is not empty: it waits for a person."""
    settings = get_settings()
    with engine.connect() as connection:
        snapshot = latest_snapshot(connection)
        held = listed(connection, limit=1) if snapshot is None else []
    if held:
        say(f"No accepted snapshot: snapshot {held[0].id} is {held[0].state}; accept one with `stockwarden snapshot "
            f"accept ID --reason ...` (see `stockwarden snapshot list`). / 没有已接受的快照：请先接受一个快照。")
        raise typer.Exit(1)
    if snapshot is None:
        today = datetime.now(UTC).date()
        demo = settings.var_dir / "demo"
        say(f"Empty database: writing the demo company into {demo}")
        write_company(demo, lots=lots, as_of=today, progress=say)
        ingest(engine, demo, as_of=today, loaded_by="stockwarden up", default_currency=settings.default_currency,
               progress=say)
    with engine.connect() as connection:
        snapshot = latest_snapshot(connection)
        assert snapshot is not None
        typer.echo(render_summary(summarise(iter_facts(connection, snapshot), snapshot.as_of)))
    return snapshot


def _active_policy(engine: Engine) -> str:
    """The active policy's name and version, the settings' policy file activated first when none is."""
    settings = get_settings()
    with engine.connect() as connection:
        active = active_version(connection)
    if active is None:
        activation = activate(engine, settings.policy_file, actor="stockwarden up")
        assert not isinstance(activation, Pending)  # with nothing active, no duty moves (rules/duties.py)
        activated = activation.version
        say(f"No active policy: activated {activated.name} v{activated.version} from {settings.policy_file}")
        with engine.connect() as connection:
            active = active_version(connection)
    assert active is not None
    return f"{active[1].policy} v{active[1].version}"


def _report(engine: Engine, scan_id: int, policy_label: str, period: str) -> Checkpoint | None:
    """Findings per rule, open cases per owner, and the month's governance pack (its audit checkpoint is
    returned, for the keeper in Temporal)."""
    settings = get_settings()
    with engine.connect() as connection:
        findings = list(stored_findings(connection, scan_id))
        cases = open_cases_by_owner(connection)
    typer.echo(render_findings_summary(findings, policy_label))
    typer.echo(f"Cases open by owner 各负责人未结案件 (scan {scan_id} through Temporal): {sum(n for _, n in cases):,}")
    for owner, count in cases:
        typer.echo(f"  {owner:32} {count:6,}")
    with reported("no pack was written"):
        pack = write_pack(engine, period, "zh-CN", settings.var_dir / "packs" / f"governance-pack-{period}.xlsx",
                          anchor=Anchor.from_settings(settings))
    say(f"Governance pack 治理报告 for {period}: {pack.path}")
    return pack.checkpoint


def _scan_and_cases(engine: Engine, var_dir: Path, policy_label: str, period: str, serve: bool) -> None:
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
            checkpoint = await asyncio.to_thread(_report, engine, summary.scan_id, policy_label, period)
            if checkpoint is not None:
                await keep_in_temporal(client, settings.task_queue, checkpoint)
            if serve:
                await ensure_dispatcher(client, settings.task_queue, settings.notify_interval_seconds,
                                        settings.digest_hour)
                await ensure_checkpoint_schedule(client, settings.task_queue, settings.audit_checkpoint_cron)
                await _serve_api(engine, client)

    with reported("nothing was scanned"), _local_mail(var_dir):
        try:
            asyncio.run(run())
        except KeyboardInterrupt:  # during the main job; once serving, Ctrl-C stops in order (stopping.py)
            say("Interrupted before the main job was done.")
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
        say(f"Messages of the demo cases: {len(list(folder.glob('*.eml'))):,} in {folder} (open them with any mail program)")


async def _cases_recorded(engine: Engine, expected: int) -> None:
    """Started cases write their mirror row in their first activity; wait (bounded) until they have."""
    for _ in range(600):
        with engine.connect() as connection:
            if open_case_count(connection) >= expected:
                return
        await asyncio.sleep(0.1)


async def _deliver_now(engine: Engine) -> None:
    """What the dispatcher would send at its next round, and today's digests, so a new user sees them."""
    delivery = NotificationActivities(engine, get_settings())
    at_once = await asyncio.to_thread(delivery.deliver_due)
    digests = await asyncio.to_thread(delivery.deliver_digests)
    say(f"Notifications: {at_once.sent + digests.sent:,} sent ({digests.sent:,} daily digests), "
        f"{at_once.failed + digests.failed:,} failed and queued for retry")


async def _serve_api(engine: Engine, client: Client) -> None:
    server = api_server(engine, client)
    issued = issue_token(engine, "admin@localhost", [Role.ADMIN], by=actor_of(None), days=UP_TOKEN_DAYS)
    base = get_settings().public_url.rstrip("/")
    say(f"Serving: the worker runs the cases' timers and actions.\n"
        f"  API:   {base} (OpenAPI at {base}/docs)\n"
        f"  Pages: {base}/pages/login (sign in with the token below; messages carry each person's own link)\n"
        f"  Admin token for this run: {issued.token} (revoked when this run stops)\n"
        f"Ctrl-C stops.")
    try:
        await serve_until_stopped(server)
    finally:  # also when serving failed: the printed token must not outlive this run
        await asyncio.to_thread(revoke_token, engine, issued.info.id, by=actor_of(None))
    say("Stopping: the API (its admin token revoked), then the worker and Temporal.")
