"""Temporal trusts only the service: every payload the service writes is encrypted (core.codec), so
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

from core.case import Acknowledge, Lines, Sign
from stockwarden.temporal import build_worker, dev_server, free_port, temporal_cli
from tests.support.cases import mirror, trail, until_state
from tests.support.data import HIP_LINES as LINES
from tests.support.data import OWNER, PROPOSALS, QA_OFFICER, disposition_case
from workflows.case import CaseWorkflow


async def temporal(port: int, *args: str) -> subprocess.CompletedProcess[str]:
    """The `temporal` CLI as an intruder on the network runs it: plain JSON, no codec."""
    return await asyncio.to_thread(subprocess.run, [str(temporal_cli()), *args, "--address", f"127.0.0.1:{port}"],
                                   capture_output=True, text=True, timeout=60)


@pytest.mark.asyncio
async def test_the_temporal_cli_can_neither_sign_nor_resolve_a_case_and_reads_no_address(
        stock: Engine, tmp_path: Path) -> None:
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
        assert await handle.execute_update(CaseWorkflow.sign, Sign(QA_OFFICER, "approved", authenticated_by="pin")) == "awaiting_approval"
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


def test_a_payload_of_another_key_or_tampered_or_plain_decodes_to_a_refusal_and_a_rotation_keeps_old_ones() -> None:
    from temporalio.api.common.v1 import Payload

    from core.codec import REFUSED, codec
    from core.secret import SecretRefused

    old, new = "o" * 40, "n" * 40
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'{"actor": "qa.officer@example.com"}')
    [sealed] = asyncio.run(codec(old).encode([plain]))
    assert b"qa.officer" not in sealed.SerializeToString()
    assert asyncio.run(codec(old).decode([sealed])) == [plain]
    assert asyncio.run(codec(new, [old]).decode([sealed])) == [plain]  # after a rotation, running cases read on
    tampered = Payload(metadata=sealed.metadata, data=sealed.data[:-1] + bytes([sealed.data[-1] ^ 1]))
    for foreign in (plain, tampered, sealed):
        [decoded] = asyncio.run(codec(new).decode([foreign]))
        assert decoded.metadata["encoding"] == REFUSED and not decoded.data, foreign
    for bad in ("", "change-me", "short-secret"):
        with pytest.raises(SecretRefused):
            codec(bad)


def test_connect_builds_a_tls_config_from_the_mtls_settings(tmp_path: Path) -> None:
    from temporalio.service import TLSConfig

    from core.settings import Settings
    from core.temporal import tls_config

    assert tls_config(Settings(secret_key="k" * 40)) is False
    for name in ("cert.pem", "key.pem", "ca.pem"):
        (tmp_path / name).write_bytes(f"-----BEGIN {name}-----\n".encode())
    settings = Settings(secret_key="k" * 40, temporal_tls_cert=str(tmp_path / "cert.pem"),
                        temporal_tls_key=str(tmp_path / "key.pem"), temporal_tls_ca=str(tmp_path / "ca.pem"),
                        temporal_tls_server_name="temporal.internal")
    made = tls_config(settings)
    assert made == TLSConfig(server_root_ca_cert=b"-----BEGIN ca.pem-----\n", client_cert=b"-----BEGIN cert.pem-----\n",
                             client_private_key=b"-----BEGIN key.pem-----\n", domain="temporal.internal")
    assert tls_config(Settings(secret_key="k" * 40, temporal_tls=True)) == TLSConfig()
    with pytest.raises(ValueError, match="go together"):
        tls_config(Settings(secret_key="k" * 40, temporal_tls_cert=str(tmp_path / "cert.pem")))
    with pytest.raises(ValueError, match=r"STOCKWARDEN_TEMPORAL_TLS_CA: cannot read .*nowhere\.pem"):
        tls_config(Settings(secret_key="k" * 40, temporal_tls_ca=str(tmp_path / "nowhere.pem")))


@pytest.mark.parametrize("token", ["", "codec-token-for-this-test"])
def test_the_codec_server_encodes_and_decodes_over_http_and_refuses_without_its_token(
        token: str, tmp_path: Path) -> None:
    """`stockwarden codec-server` as a process: a round trip the Temporal UI would make, its CORS answer
    for the UI's origin only, and (with a token set) a request without the token refused."""
    import base64
    import os
    import sys
    import time

    import httpx

    port = free_port()
    env = {**os.environ, "STOCKWARDEN_DATABASE_URL": f"sqlite:///{tmp_path / 'sw.db'}",
           "STOCKWARDEN_CODEC_SERVER_TOKEN": token, "STOCKWARDEN_CODEC_SERVER_ORIGIN": "http://ui.example:8080"}
    stockwarden = str(Path(sys.executable).parent / "stockwarden")
    if not token:  # listening beyond localhost with no token is refused
        outside = subprocess.run([stockwarden, "codec-server", "--host", "0.0.0.0", "--port", str(port)], env=env,
                                 capture_output=True, text=True, timeout=60, check=False)
        assert outside.returncode == 2 and "STOCKWARDEN_CODEC_SERVER_TOKEN" in outside.stderr, outside.stderr
    server = subprocess.Popen([stockwarden, "codec-server", "--port", str(port)], env=env,
                              stderr=subprocess.PIPE, text=True)
    try:
        assert server.stderr is not None and server.stderr.readline().startswith("Codec server on ")
        auth = {"Authorization": f"Bearer {token}"} if token else {}
        plain = {"metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
                 "data": base64.b64encode(b'{"actor": "qa.officer@example.com"}').decode()}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            for _ in range(100):
                try:
                    encoded = http.post("/encode", json={"payloads": [plain]}, headers=auth)
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            assert encoded.status_code == 200, encoded.text
            [sealed] = encoded.json()["payloads"]
            assert base64.b64decode(sealed["metadata"]["encoding"]) == b"binary/encrypted"
            assert b"qa.officer" not in base64.b64decode(sealed["data"])
            decoded = http.post("/decode", json={"payloads": [sealed]},
                                headers={**auth, "Origin": "http://ui.example:8080", "X-Namespace": "default"})
            assert decoded.json() == {"payloads": [plain]}
            assert decoded.headers["access-control-allow-origin"] == "http://ui.example:8080"
            preflight = http.options("/decode", headers={"Origin": "http://ui.example:8080",
                                                         "Access-Control-Request-Method": "POST",
                                                         "Access-Control-Request-Headers": "content-type,x-namespace"})
            assert preflight.status_code == 200
            other = http.options("/decode", headers={"Origin": "http://evil.example",
                                                     "Access-Control-Request-Method": "POST"})
            assert "access-control-allow-origin" not in other.headers
            assert http.post("/decode", content=b"not json", headers=auth).status_code == 400
            if token:
                for wrong in ({}, {"Authorization": "Bearer nope"}, {"Authorization": token}):
                    refused = http.post("/decode", json={"payloads": [sealed]}, headers=wrong)
                    assert refused.status_code == 401 and "payloads" not in refused.json()
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.asyncio
async def test_connect_encrypts_and_talks_tls_when_the_settings_say_so() -> None:
    """connect() as serve and worker call it: its client has the codec; with TLS asked for, it does not
    talk plain to a plain server (the handshake fails), so the TLSConfig is really used."""
    from core.codec import PayloadEncryption
    from core.settings import Settings
    from core.temporal import connect

    port = free_port()
    async with dev_server(port):
        plain = Settings(secret_key="k" * 40, temporal_address=f"127.0.0.1:{port}")
        client = await connect(plain)
        assert isinstance(client.data_converter.payload_codec, PayloadEncryption)
        with pytest.raises(RuntimeError):
            await asyncio.wait_for(connect(plain.model_copy(update={"temporal_tls": True})), timeout=30)
