"""Attacks on signatures, visibility and sign-in, performed over HTTP against the app (real database, the
dev Temporal server where a case is needed): a link alone cannot sign, a signature needs the signer's
PIN and records it, nobody acts on a case they cannot see, anonymous refusals are counted rather than
chained, and repeated failures from one address are slowed."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, select
from sqlmodel import col
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.auth import create_token
from audit.trail import entries
from core.case import position_key
from core.settings import Settings
from governance.models import CaseRow
from governance.visibility import Role
from notifications.links import sign
from notifications.people import parse_people
from tests.support.cases import until
from tests.support.data import LINK_SECRET as SECRET
from tests.support.data import TEAM

CASE = position_key("HIP-1", "SH01", "zhang.wei@example.com")
OWNER, QA, CFO = "zhang.wei@example.com", "qa.officer@example.com", "cfo@example.com"
QA_DIRECTOR = "qa.director@example.com"
SCRAP = {"disposition": "scrap", "lines": [{"lot": "L2", "serial": "S2", "quantity": "1"},
                                           {"lot": "L3", "serial": "S3", "quantity": "1"}], "reason": "包装破损"}


def _headers_of_a_page(answer: httpx.Response) -> None:
    csp = answer.headers.get("content-security-policy", "")
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, (answer.url, csp)
    assert answer.headers.get("x-frame-options") == "DENY", answer.url


async def _awaiting_approval(env: WorkflowEnvironment, engine: Engine, client: httpx.AsyncClient, queue: str) -> dict[str, str]:
    """Scan, then the owner acknowledges and proposes to scrap two cups through the API (QA and the
    committee must sign)."""
    from workflows.scan import ScanRequest, ScanWorkflow

    owner = {"Authorization": f"Bearer {create_token(engine, OWNER, [Role.OWNER])}"}
    await env.client.execute_workflow(ScanWorkflow.run, ScanRequest(partitions=1), id=f"scan-{queue}",
                                      task_queue=queue)

    def mirrored() -> bool:
        with engine.connect() as connection:
            return connection.execute(select(col(CaseRow.id)).where(col(CaseRow.id) == CASE)).first() is not None
    await until(mirrored, "the case mirror")
    assert (await client.post(f"/cases/{CASE}/acknowledge", headers=owner)).status_code == 200
    proposed = await client.post(f"/cases/{CASE}/propose", json=SCRAP, headers=owner)
    assert proposed.status_code == 200 and proposed.json()["result"] == "awaiting_approval", proposed.text
    return owner


@asynccontextmanager
async def _served(env: WorkflowEnvironment, scanned: Engine) -> AsyncIterator[
        tuple[httpx.AsyncClient, str, FastAPI, WorkflowHandle[Any, Any]]]:
    """The app and a worker on a queue of their own, a client of the app, and the case's handle; the case is
    terminated afterwards."""
    from stockwarden.temporal import build_worker

    queue = str(uuid.uuid4())
    app = create_app(scanned, env.client, Settings(secret_key=SECRET, task_queue=queue), parse_people(TEAM, "people.yaml"))
    async with build_worker(env.client, scanned, queue), \
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://sw.example.com") as client:
        handle = env.client.get_workflow_handle(CASE)
        try:
            yield client, queue, app, handle
        finally:
            await _terminate(handle)


@pytest.mark.asyncio(loop_scope="module")
async def test_a_link_alone_cannot_sign_the_pin_can_and_is_recorded(dev: WorkflowEnvironment, scanned: Engine) -> None:
    async with _served(dev, scanned) as (client, queue, app, handle):
        await _signing(dev, scanned, client, queue, app, handle)


async def _terminate(handle: object) -> None:
    import contextlib

    from temporalio.service import RPCError

    with contextlib.suppress(RPCError):
        await handle.terminate("test over")  # type: ignore[attr-defined]


async def _signing(env: WorkflowEnvironment, scanned: Engine, client: httpx.AsyncClient, queue: str, app: FastAPI,
                   handle: WorkflowHandle[Any, Any]) -> None:
    from workflows.case import CaseWorkflow

    owner = await _awaiting_approval(env, scanned, client, queue)
    link = f"/act/{sign(SECRET, CASE, QA, 'approve')}"
    # The attack: someone who found QA's link (a forwarded mail, a proxy log) and has no cookie.
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://x") as stranger:
        bare = await stranger.post(link, data={"meaning": "approved", "reason": "looks fine"})
        assert bare.status_code == 403 and "签名密码" in bare.text, bare.text  # QA reads Chinese
        page = await stranger.get(link)
        assert page.status_code == 200 and 'name="pin"' in page.text
        assert page.headers["referrer-policy"] == "no-referrer" and page.headers["cache-control"] == "no-store"
        _headers_of_a_page(page)
        assert (await handle.query(CaseWorkflow.view)).proposal.signatures == []  # type: ignore[union-attr]
        from api.pins import set_pin
        set_pin(scanned, QA, "482916", by="admin@example.com")
        wrong = await stranger.post(link, data={"meaning": "approved", "pin": "000000"})
        assert wrong.status_code == 403 and "签名密码不正确" in wrong.text
        assert (await handle.query(CaseWorkflow.view)).proposal.signatures == []  # type: ignore[union-attr]
        # The API refuses a signature without the PIN as well, in the reader's language.
        cfo = {"Authorization": f"Bearer {create_token(scanned, CFO, [Role.COMMITTEE])}"}
        api_bare = await client.post(f"/cases/{CASE}/sign", json={"meaning": "approved"}, headers=cfo, params={"lang": "en"})
        assert api_bare.status_code == 403 and "signing PIN" in api_bare.json()["detail"]
        # QA, with the PIN: the signature holds and says how its signer was authenticated.
        signed = await stranger.post(link, data={"meaning": "approved", "reason": "外包装破损已核实", "pin": "482916"})
        assert signed.status_code == 200 and "您的签名已记录" in signed.text, signed.text
    view = await handle.query(CaseWorkflow.view)
    [signature] = view.proposal.signatures  # type: ignore[union-attr]
    assert (signature.signer, signature.meaning, signature.authenticated_by) == (QA, "approved", "pin")
    with scanned.connect() as connection:
        trail = entries(connection, limit=10_000)
        row = connection.execute(select(CaseRow).where(col(CaseRow.id) == CASE)).one()
    [entry] = [e for e in trail if e.action == "case.signed"]
    assert entry.actor == QA and entry.after["authenticated_by"] == "pin"
    assert row.proposal["signatures"][0]["authenticated_by"] == "pin"
    refusals = [(e.actor, e.reason) for e in trail if e.action == "sign.refused"]
    assert refusals == [(QA, "pin missing"), (QA, "pin wrong"), (CFO, "pin missing")], refusals
    assert "482916" not in str([(e.after, e.reason) for e in trail])  # the PIN itself is never written
    # The QA director reviews through the API with a PIN; the CFO approves on the case page, where the
    # form asks for the PIN as well.
    director = {"Authorization": f"Bearer {create_token(scanned, QA_DIRECTOR, [Role.QA])}"}
    set_pin(scanned, QA_DIRECTOR, "603311", by="admin@example.com")
    reviewed = await client.post(f"/cases/{CASE}/sign", json={"meaning": "reviewed", "pin": "603311"}, headers=director)
    assert reviewed.status_code == 200 and reviewed.json()["result"] == "awaiting_approval", reviewed.text
    set_pin(scanned, CFO, "731902", by="admin@example.com")
    case_page = await client.get(f"/pages/cases/{CASE}", headers=cfo)
    assert 'form method="post" action="/pages/cases/' in case_page.text and 'id="pin-approve" name="pin"' in case_page.text
    no_pin = await client.post(f"/pages/cases/{CASE}/act", data={"action": "approve"}, headers=cfo)
    assert no_pin.status_code == 403 and "签名需要输入您的签名密码" in no_pin.text  # the CFO reads Chinese
    done = await client.post(f"/pages/cases/{CASE}/act", data={"action": "approve", "pin": "731902"}, headers=cfo)
    assert done.status_code == 200 and "您的签名已记录" in done.text, done.text
    view = await handle.query(CaseWorkflow.view)
    assert [(s.signer, s.authenticated_by) for s in view.proposal.signatures] == [  # type: ignore[union-attr]
        (QA, "pin"), (QA_DIRECTOR, "pin"), (CFO, "pin")]
    # Every page and the API send the policy and the frame denial.
    for path in ("/pages/login", "/pages/cases", f"/pages/cases/{CASE}", "/cases", "/health", "/docs"):
        _headers_of_a_page(await client.get(path, headers=owner if path.startswith("/pages/cases/") else {}))


@pytest.mark.asyncio(loop_scope="module")
async def test_an_owner_cannot_act_on_a_case_they_may_not_see(dev: WorkflowEnvironment, scanned: Engine) -> None:
    async with _served(dev, scanned) as (client, queue, _app, handle):
        await _hidden(dev, scanned, client, queue, handle)


async def _hidden(env: WorkflowEnvironment, scanned: Engine, client: httpx.AsyncClient, queue: str,
                  handle: WorkflowHandle[Any, Any]) -> None:
    from workflows.case import CaseWorkflow

    await _awaiting_approval(env, scanned, client, queue)
    other = "someone.else@example.com"
    stranger = {"Authorization": f"Bearer {create_token(scanned, other, [Role.OWNER])}"}
    with scanned.connect() as connection:
        before = [e.seq for e in entries(connection, case=CASE)]
    attempts = {"comment": {"text": "mine now"}, "acknowledge": None, "propose": SCRAP,
                "sign": {"meaning": "reviewed", "pin": "555123"}, "snooze": {"days": 1, "reason": "x"},
                "reassign": {"to": other, "reason": "x"}}
    for action, body in attempts.items():
        if action == "sign":  # even with their own PIN
            from api.pins import set_pin
            set_pin(scanned, other, "555123", by="admin@example.com")
        answer = await client.post(f"/cases/{CASE}/{action}", json=body, headers=stranger)
        assert answer.status_code == 404 and answer.json()["detail"] == f"no case {CASE}", (action, answer.text)
        assert OWNER not in answer.text.replace(CASE, "")  # nothing beyond the id asked for (it names the owner)
    page = await client.post(f"/pages/cases/{CASE}/act", data={"action": "comment", "text": "x"}, headers=stranger)
    assert page.status_code == 404 and OWNER not in page.text.replace(CASE, "")
    # A link to someone no longer allowed to see the case (they signed nothing, own nothing): 404 too.
    link = await client.post(f"/act/{sign(SECRET, CASE, other, 'acknowledge')}")
    assert link.status_code == 404 and OWNER not in link.text.replace(CASE, "")
    with scanned.connect() as connection:
        assert [e.seq for e in entries(connection, case=CASE)] == before  # nothing was recorded on the case
    view = await handle.query(CaseWorkflow.view)
    assert view.state == "awaiting_approval" and not any("mine now" in t for t in view.timeline)
    assert view.proposal.signatures == []  # type: ignore[union-attr]
    # QA (a reading role) sees every case; the owner sees their own.
    qa = {"Authorization": f"Bearer {create_token(scanned, QA, [Role.QA])}"}
    assert (await client.get(f"/cases/{CASE}", headers=qa)).status_code == 200
    assert (await client.get(f"/cases/{CASE}", headers=stranger)).status_code == 404


@pytest.mark.asyncio
async def test_anonymous_refusals_are_counted_not_chained_and_failures_slowed(engine: Engine, tmp_path: Path) -> None:
    from sqlalchemy import func

    app = create_app(engine, None, Settings(var_dir=tmp_path / "var", secret_key=SECRET))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("203.0.113.7", 5000)),
                                 base_url="http://api") as client:
        for n in range(50):
            answer = await client.get("/cases", headers={"Authorization": f"Bearer sw_guess{n}"} if n % 2 else {})
            assert answer.status_code == 401
        with engine.connect() as connection:
            assert entries(connection, limit=10_000) == []  # not one entry in the chain
            from api.models import RefusalCount
            counted = connection.execute(select(func.sum(col(RefusalCount.count))).where(
                col(RefusalCount.address) == "203.0.113.7", col(RefusalCount.reason) == "no valid token")).scalar()
        assert counted == 50
        # Failed page sign-ins: ten are answered, the eleventh within the minute is slowed.
        for _ in range(10):
            assert (await client.post("/pages/login", data={"token": "sw_guess"})).status_code == 401
        slowed = await client.post("/pages/login", data={"token": "sw_guess"}, params={"lang": "en"})
        assert slowed.status_code == 429 and int(slowed.headers["retry-after"]) >= 1
        assert "Too many failed attempts" in slowed.text
        forged = await client.get("/act/not-a-link")
        assert forged.status_code == 429  # the same address, still within the minute
        with engine.connect() as connection:
            assert entries(connection, limit=10_000) == []
    # Another address is not slowed; a known person's refusal (a role missing) is still in the chain.
    viewer = create_token(engine, "li.na@example.com", [Role.VIEWER])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("198.51.100.2", 5000)),
                                 base_url="http://api") as client:
        assert (await client.post("/pages/login", data={"token": "sw_guess"})).status_code == 401
        assert (await client.get("/packs/2026-11", headers={"Authorization": f"Bearer {viewer}"})).status_code == 403
    with engine.connect() as connection:
        refused = [(e.actor, e.action) for e in entries(connection, limit=10_000) if e.action == "api.refused"]
    assert refused == [("li.na@example.com", "api.refused")]


@pytest.mark.asyncio
async def test_refused_links_are_audited_when_their_person_is_known(engine: Engine, tmp_path: Path) -> None:
    app = create_app(engine, None, Settings(var_dir=tmp_path / "var", secret_key=SECRET, link_days=-1))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        expired = await client.get(f"/act/{sign(SECRET, CASE, QA, 'approve')}")
        assert expired.status_code == 403
        forged = await client.get(f"/act/{sign('another-secret', CASE, QA, 'approve')}")
        assert forged.status_code == 403
    with engine.connect() as connection:
        trail = [(e.actor, e.action, e.reason) for e in entries(connection, limit=10_000)]
    assert trail == [(QA, "link.refused", "expired")]  # the forged one names nobody: counted, not chained


def test_pins_are_kept_as_salted_scrypt_hashes_and_wrong_ones_lock_signing(engine: Engine) -> None:
    from api.models import SigningPin
    from api.pins import PinProblem, PinRefused, set_pin, verify

    settings = Settings(pin_attempts=5, pin_lock_minutes=15)
    set_pin(engine, QA, "482916", by="admin@example.com")
    set_pin(engine, CFO, "482916", by="admin@example.com")
    with engine.connect() as connection:
        rows = {r.person: r for r in connection.execute(select(SigningPin))}
    assert rows[QA].kdf.startswith("scrypt:") and "482916" not in rows[QA].pin_hash
    assert rows[QA].salt != rows[CFO].salt and rows[QA].pin_hash != rows[CFO].pin_hash  # a salt per person
    with pytest.raises(PinProblem):
        set_pin(engine, QA, "12345", by="admin@example.com")  # too short; the PIN set before stays
    verify(engine, settings, QA, "482916", "case:x")
    for _ in range(4):
        with pytest.raises(PinRefused) as wrong:
            verify(engine, settings, QA, "111111", "case:x")
        assert wrong.value.reason == "wrong"
    with pytest.raises(PinRefused) as fifth:
        verify(engine, settings, QA, "111111", "case:x")
    assert fifth.value.reason == "locked" and fifth.value.until is not None
    with pytest.raises(PinRefused) as locked:
        verify(engine, settings, QA, "482916", "case:x")  # the right PIN, but signing is locked for now
    assert locked.value.reason == "locked"
    verify(engine, settings, CFO, "482916", "case:x")  # the lock is that person's only
    with pytest.raises(PinRefused) as unset:
        verify(engine, settings, "nobody@example.com", "482916", "case:x")
    assert unset.value.reason == "not_set"
    with engine.connect() as connection:
        trail = [(e.actor, e.action, e.reason) for e in entries(connection, limit=10_000)]
    assert trail.count((QA, "sign.refused", "pin wrong")) == 5 and (QA, "sign.locked", "5 wrong signing PINs") in trail
    assert [a for a, action, _ in trail if action in ("pin.set", "pin.changed")] == ["admin@example.com"] * 2
    assert "482916" not in str(trail) and "111111" not in str(trail)
    set_pin(engine, QA, "999888", by="admin@example.com")  # an administrator resets it: the lock ends
    verify(engine, settings, QA, "999888", "case:x")


@pytest.mark.asyncio
async def test_people_set_their_own_pin_with_their_api_token_not_with_a_link(engine: Engine, tmp_path: Path) -> None:
    from api.pins import matches
    from notifications.context import my_cases_url

    settings = Settings(var_dir=tmp_path / "var", secret_key=SECRET, public_url="http://api")
    app = create_app(engine, None, settings)  # type: ignore[arg-type]
    token = create_token(engine, QA, [Role.QA])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        form = await client.get("/pages/pin", params={"lang": "en"})
        assert form.status_code == 200 and 'name="token"' in form.text
        _headers_of_a_page(form)
        # Signed in by a "my cases" link (a session cookie, no token): the PIN cannot be set.
        assert (await client.get(my_cases_url(settings, QA).removeprefix("http://api"))).status_code == 303
        refused = await client.post("/pages/pin", data={"new": "246810", "repeat": "246810"}, params={"lang": "en"})
        assert refused.status_code == 401 and "not valid" in refused.text and not matches(engine, QA, "246810")
        differ = await client.post("/pages/pin", data={"token": token, "new": "246810", "repeat": "246811"})
        assert differ.status_code == 422 and "两次输入的新密码不一致" in differ.text
        done = await client.post("/pages/pin", data={"token": token, "new": "246810", "repeat": "246810"})
        assert done.status_code == 200 and "您的签名密码已设置" in done.text and matches(engine, QA, "246810")
        # Changing it needs the current one too.
        again = await client.post("/pages/pin", data={"token": token, "new": "135790", "repeat": "135790"})
        assert again.status_code == 403 and matches(engine, QA, "246810")
        changed = await client.post("/pages/pin", data={"token": token, "current": "246810", "new": "135790",
                                                        "repeat": "135790"})
        assert changed.status_code == 200 and matches(engine, QA, "135790")
    with engine.connect() as connection:
        trail = [(e.actor, e.action) for e in entries(connection, limit=10_000)]
    assert (QA, "pin.set") in trail and (QA, "pin.changed") in trail


def test_an_administrator_sets_a_pin_at_the_terminal_typed_twice(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from api.pins import matches
    from core.db import make_engine
    from core.settings import get_settings
    from stockwarden.cli import app

    monkeypatch.setenv("STOCKWARDEN_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        mismatch = runner.invoke(app, ["pin", "set", "--person", QA, "--by", "admin"], input="482916\n482917\n482916\n482916\n")
        assert mismatch.exit_code == 0, mismatch.output  # asked again until both agree
        assert "482916" not in mismatch.output  # never echoed
        short = runner.invoke(app, ["pin", "set", "--person", CFO], input="123\n123\n")
        assert short.exit_code == 1 and "6 to 64 characters" in short.output
    finally:
        get_settings.cache_clear()
    engine = make_engine(database_url)
    assert matches(engine, QA, "482916") and not matches(engine, CFO, "123")
    with engine.connect() as connection:
        [entry] = [e for e in entries(connection) if e.action == "pin.set"]
    engine.dispose()
    assert (entry.actor, entry.subject) == ("admin", f"person:{QA}")


@pytest.mark.asyncio
async def test_every_answer_forbids_framing_and_link_pages_leak_nothing(engine: Engine, tmp_path: Path) -> None:
    app = create_app(engine, None, Settings(var_dir=tmp_path / "var", secret_key=SECRET))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        link = await client.get(f"/act/{sign(SECRET, CASE, QA, 'approve')}")  # no such case here: refused, still a link page
        assert link.headers["referrer-policy"] == "no-referrer" and link.headers["cache-control"] == "no-store"
        enter = await client.get("/pages/enter/forged")
        assert enter.headers["referrer-policy"] == "no-referrer" and enter.headers["cache-control"] == "no-store"
        for answer in (link, enter, await client.get("/pages/login"), await client.get("/pages/cases"),
                       await client.get("/cases"), await client.get("/health"), await client.get("/openapi.json"),
                       await client.get("/static/pages.css")):
            _headers_of_a_page(answer)
            assert answer.headers["x-content-type-options"] == "nosniff"
        login = await client.get("/pages/login")
        assert "<style" not in login.text and " style=" not in login.text and "<script" not in login.text
        # The API docs start Swagger UI with an inline script: allowed by its hash, not by 'unsafe-inline'.
        import base64
        import hashlib
        import re

        docs = await client.get("/docs")
        [script] = re.findall(r"<script>(.*?)</script>", docs.text, re.DOTALL)
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        policy = docs.headers["content-security-policy"]
        assert f"'sha256-{digest}'" in policy and "script-src 'self' https://cdn.jsdelivr.net 'sha256-" in policy
        assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
