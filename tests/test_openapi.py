"""Schemathesis against the app's own OpenAPI schema: generated requests for every operation, sent over
real HTTP to uvicorn with a real worker on the dev server, with a token that holds every role so that
the generated values reach the handlers. No answer may be a 500, and every answer must match the
schema (status code documented, body as declared, content type as declared). Bounded: a fixed number of
examples per operation, derandomized so a failure repeats."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
import uvicorn
from schemathesis.core.result import Ok
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.auth import create_token
from core.settings import Settings
from governance.visibility import Role
from stockwarden.temporal import build_worker, free_port

EXAMPLES = 60
"""Per operation (about 35 operations)."""


def _fuzz(app_openapi: dict, base: str, token: str) -> dict[str, list[str]]:
    """Every operation's failures (empty when all examples passed)."""
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    schema = schemathesis.openapi.from_dict(app_openapi)
    failures: dict[str, list[str]] = {}
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    def checker(operation: object, label: str) -> object:
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())  # type: ignore[attr-defined]
        def check(case: schemathesis.Case) -> None:
            response = case.call(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)
            try:
                case.validate_response(response, checks=checks)
            except (Exception, BaseExceptionGroup) as failure:  # noqa: BLE001 - collected: every operation is tried
                failures.setdefault(label, []).append(f"{response.status_code}: {str(failure)[:600]}")
        return check

    results = list(schema.get_all_operations())
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) == len(results), [result for result in results if not isinstance(result, Ok)]
    # Revoking last: a generated id may be the fuzzing token's own, after which every answer is a 401.
    for operation in sorted(operations, key=lambda o: o.path.endswith("/revoke")):
        checker(operation, f"{operation.method.upper()} {operation.path}")()  # type: ignore[operator]
    return failures


@pytest.mark.asyncio(loop_scope="module")
async def test_generated_requests_never_get_a_500_or_an_answer_outside_the_schema(
        dev: WorkflowEnvironment, scanned: Engine, tmp_path: Path) -> None:

    from workflows.scan import ScanRequest, ScanWorkflow

    if scanned.dialect.name != "sqlite":
        pytest.skip("the API is fuzzed once, on SQLite; its data layer runs on both databases in test_api")
    env: WorkflowEnvironment = dev
    port, queue = free_port(), str(uuid.uuid4())
    base = f"http://127.0.0.1:{port}"
    app = create_app(scanned, env.client, Settings(public_url=base, task_queue=queue, var_dir=tmp_path / "var",
                                                    people_file=tmp_path / "people.yaml"))
    token = create_token(scanned, "fuzz@example.com", list(Role))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    try:
        async with build_worker(env.client, scanned, queue):
            while not server.started:
                await asyncio.sleep(0.05)
            await env.client.execute_workflow(ScanWorkflow.run, ScanRequest(partitions=1), id=f"scan-{queue}",
                                              task_queue=queue)
            failures = await asyncio.to_thread(_fuzz, app.openapi(), base, token)
    finally:
        server.should_exit = True
        await serving
    assert failures == {}, "\n".join(f"{op}: {problems[0]} (and {len(problems) - 1} more)" for op, problems in failures.items())


def test_both_confirmations_document_the_quantity_carried_out() -> None:
    """The outbox's and the case's confirm take an optional quantity greater than 0 (a partial confirmation),
    and the schema clients read says so."""
    schema = create_app(None, None, Settings()).openapi()  # type: ignore[arg-type]  # a schema needs no database or Temporal
    bodies = {path: schema["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
              for path in ("/outbox/{instruction_id}/confirm", "/cases/{case_id}/confirm")}
    assert sorted(ref.rsplit("/", 1)[1] for ref in bodies.values()) == ["ConfirmBody", "Confirmation"]
    for ref in bodies.values():
        body = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
        quantity = body["properties"]["quantity"]
        assert {"type": "number", "exclusiveMinimum": 0} in quantity["anyOf"] and {"type": "null"} in quantity["anyOf"]
        assert "partial confirmation" in quantity["description"] and "quantity" not in body.get("required", [])
        assert any("quantity" in example for example in body["examples"])
