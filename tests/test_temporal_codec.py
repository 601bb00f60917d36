"""Temporal trusts only the service: every payload the service writes is encrypted (stockwarden.codec), so
whoever reaches the Temporal frontend with the `temporal` CLI can neither sign for QA with an Update nor
resolve a case with a signal, and no person's address is readable in Temporal's store. The attack runs
for real against a dev server started as `stockwarden up` starts it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from pathlib import Path

import pytest
from sqlalchemy import Engine

from stockwarden.temporal import build_worker, dev_server, free_port, temporal_cli
from tests.test_case_disposition import (  # noqa: F401  (stock is a fixture)
    LINES,
    OWNER,
    PROPOSALS,
    QA_OFFICER,
    disposition_case,
    stock,
    trail,
    until_state,
)
from tests.test_case_workflow import mirror
from workflows.case import CaseWorkflow
from workflows.case_messages import Acknowledge, Lines, Sign


async def temporal(port: int, *args: str) -> subprocess.CompletedProcess[str]:
    """The `temporal` CLI as an intruder on the network runs it: plain JSON, no codec."""
    return await asyncio.to_thread(subprocess.run, [str(temporal_cli()), *args, "--address", f"127.0.0.1:{port}"],
                                   capture_output=True, text=True, timeout=60)


@pytest.mark.asyncio
async def test_the_temporal_cli_can_neither_sign_nor_resolve_a_case_and_reads_no_address(
        stock: Engine, tmp_path: Path) -> None:  # noqa: F811
    port, queue = free_port(), f"codec-{uuid.uuid4().hex[:8]}"
    db_file = tmp_path / "temporal.db"
    async with dev_server(port, db_file) as client, build_worker(client, stock, queue):
        case_id = f"case/held/SH01/HIP-1/codec-{queue}"
        handle = await client.start_workflow(CaseWorkflow.run, disposition_case(case_id), id=case_id, task_queue=queue,
                                             start_signal="refresh", start_signal_args=[Lines(LINES)])
        await until_state(handle, "open", stock)
        assert await handle.execute_update(CaseWorkflow.acknowledge, Acknowledge(OWNER)) == "acknowledged"
        assert await handle.execute_update(CaseWorkflow.propose, PROPOSALS["scrap"]) == "awaiting_approval"
        await until_state(handle, "awaiting_approval", stock)
        before = (mirror(stock, case_id).model_dump(), trail(stock, case_id))

        qa = json.dumps({"actor": QA_OFFICER, "meaning": "approved", "reason": "looks fine"})
        forged = await temporal(port, "workflow", "update", "execute", "--workflow-id", case_id, "--name", "sign",
                                "--input", qa)
        assert forged.returncode != 0, f"the CLI signed as QA: {forged.stdout}"
        key_id = (await handle.fetch_history()).events[0].workflow_execution_started_event_attributes \
            .input.payloads[0].metadata.get("encryption-key-id", b"").decode()
        assert key_id, "the case's input is not encrypted"
        dressed = await temporal(port, "workflow", "update", "execute", "--workflow-id", case_id, "--name", "sign",
                                 "--input", qa, "--input-meta", "encoding=binary/encrypted",
                                 "--input-meta", f"encryption-key-id={key_id}")
        assert dressed.returncode != 0, f"a payload dressed as encrypted signed as QA: {dressed.stdout}"
        signal = await temporal(port, "workflow", "signal", "--workflow-id", case_id, "--name", "refresh",
                                "--input", json.dumps({"lines": []}))
        assert signal.returncode == 0, signal.stderr  # the server takes it; the worker must drop it

        # The service's own signature still works, and (coming after the signal in the history) shows the
        # signal was dropped: the case did not close itself and the CLI's signature is not there.
        assert await handle.execute_update(CaseWorkflow.sign, Sign(QA_OFFICER, "approved")) == "awaiting_approval"
        view = await handle.query(CaseWorkflow.view)
        assert view.proposal is not None and view.lines == len(LINES)
        assert [(s.signer, s.meaning, s.role) for s in view.proposal.signatures] == [(QA_OFFICER, "approved", "qa")]
        after = (mirror(stock, case_id).model_dump(), trail(stock, case_id))
        assert after[0]["state"] == before[0]["state"] == "awaiting_approval"
        assert after[1] == [*before[1], "case.signed"]  # nothing but the service's signature was recorded

        shown = await temporal(port, "workflow", "show", "--workflow-id", case_id, "--output", "json")
        assert shown.returncode == 0, shown.stderr
        assert case_id in shown.stdout
        stored = b"".join(p.read_bytes() for p in tmp_path.glob("temporal.db*"))
        assert case_id.encode() in stored  # the store was read where the case is
        for address in (OWNER, QA_OFFICER, "qa.director@example.com", "cfo@example.com", "li.na@example.com"):
            assert address not in shown.stdout, f"{address} readable through `temporal workflow show`"
            assert address.encode() not in stored, f"{address} readable in Temporal's SQLite file"
