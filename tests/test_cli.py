"""The `stockwarden` command as a person runs it: a real process, a real database, real files."""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.auth import create_token, list_tokens
from core.case import position_key
from core.db import make_engine
from core.settings import Settings
from governance.visibility import Role
from inventory.demo import BAD_LOTS
from inventory.ingest import current_user
from stockwarden.temporal import free_port
from tests.support.cli import run

AS_OF = "2026-11-25"


def answer_to(engine: Engine, token: str) -> int:
    """The status the API (the app `serve` runs, on this database) answers GET /cases with this token."""
    import asyncio

    import httpx

    async def ask() -> int:
        app = create_app(engine, None, Settings())  # type: ignore[arg-type]  # no Temporal needed to read cases
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
            return (await client.get("/cases", headers={"Authorization": f"Bearer {token}"})).status_code

    return asyncio.run(ask())


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {"STOCKWARDEN_DATABASE_URL": database_url, "STOCKWARDEN_VAR_DIR": str(tmp_path / "var"),
            "STOCKWARDEN_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}", "STOCKWARDEN_SMTP_PORT": str(free_port())}


def test_up_goes_on_to_serve_the_api_and_pages_and_prints_their_address_and_an_admin_token(
        env: dict[str, str], tmp_path: Path) -> None:
    """`stockwarden up` (no --once): after the main job it serves until Ctrl-C."""
    import signal
    import time

    import httpx

    port = free_port()
    child = subprocess.Popen([sys.executable, "-m", "stockwarden.cli", "up", "--lots", "200"],
                             env={**os.environ, **env, "STOCKWARDEN_PUBLIC_URL": f"http://127.0.0.1:{port}"},
                             cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        said = ""
        deadline = time.monotonic() + 240
        while "Admin token for this run: " not in said and time.monotonic() < deadline and child.poll() is None:
            said += child.stderr.readline()  # type: ignore[union-attr]
        token = re.search(r"Admin token for this run: (sw_\S+)", said)
        assert token, said[-2000:]
        assert f"Pages: http://127.0.0.1:{port}/pages/login" in said
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                ready = httpx.get(f"{base}/ready", timeout=5)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert ready.json() == {"status": "ready"}
        page = httpx.get(f"{base}/pages/cases", headers={"Authorization": f"Bearer {token[1]}"}, timeout=10)
        assert page.status_code == 200 and 'href="/pages/cases/position/' in page.text
        child.send_signal(signal.SIGINT)
        assert child.wait(timeout=60) == 0
        said += child.stderr.read()  # type: ignore[union-attr]
        assert "Stopping: the API (its admin token revoked), then the worker and Temporal." in said \
            and "Traceback" not in said, said[-3000:]
        # The printed admin token dies with the run: refused by the same app on the same database.
        engine = make_engine(env["STOCKWARDEN_DATABASE_URL"])
        assert answer_to(engine, token[1]) == 401
        with engine.connect() as connection:
            [printed] = list_tokens(connection, "admin@localhost")
        engine.dispose()
        assert printed.state() == "revoked" and printed.created_by == current_user()
        assert printed.expires_at - printed.created_at == timedelta(days=1)  # had it been killed instead
        with socket.socket() as probe:  # the dev server it started is gone with it
            assert probe.connect_ex(("127.0.0.1", int(env["STOCKWARDEN_TEMPORAL_ADDRESS"].rpartition(":")[2]))) != 0
    finally:
        if child.poll() is None:
            child.kill()


@pytest.mark.asyncio(loop_scope="module")
async def test_worker_stops_in_order_on_sigterm_as_docker_stop_sends_it(dev: WorkflowEnvironment, engine: Engine,
                                                                        tmp_path: Path) -> None:
    """`stockwarden worker` (docker-compose's worker service) leaves its poll loops and exits 0 on SIGTERM
    instead of dying by it between an activity's commit and its report."""
    import asyncio
    import signal

    target = dev.client.service_client.config.target_host
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "stockwarden.cli", "worker", stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "STOCKWARDEN_DATABASE_URL": engine.url.render_as_string(hide_password=False),
             "STOCKWARDEN_TEMPORAL_ADDRESS": target, "STOCKWARDEN_VAR_DIR": str(tmp_path / "var"),
             "STOCKWARDEN_TASK_QUEUE": f"cli-{tmp_path.name}"})
    try:
        said = (await asyncio.wait_for(child.stderr.readline(), timeout=60)).decode()  # type: ignore[union-attr]
        assert said.startswith("Worker on "), said
        child.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(child.wait(), timeout=60) == 0
        said += (await child.stderr.read()).decode()  # type: ignore[union-attr]
        assert "Stopping: activities in flight finish first." in said and said.rstrip().endswith("Worker stopped."), said
    finally:
        if child.returncode is None:
            child.kill()


def test_up_on_an_empty_database_loads_the_demo_company_and_summarises_it(env: dict[str, str], tmp_path: Path) -> None:
    first = run("up", "--once", "--lots", "300", env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "writing the demo company" in first.stderr
    assert (tmp_path / "var" / "demo" / "lots.csv").is_file()
    for label in ("Lot positions 批次库位: 300 at", "Stock value 库存金额: CNY", "Idle over 180 days",
                  "Expiring within 90 days", "Top 5 SKU-sites by idle value", "    5. "):
        assert label in first.stdout
    assert "No active policy: activated default v1" in first.stderr
    assert "Findings 发现 under default v1:" in first.stdout
    assert re.search(r"critical +expired +\d+ +value", first.stdout)
    opened = re.search(r"Cases open by owner 各负责人未结案件 \(scan 1 through Temporal\): (\d+)", first.stdout)
    assert opened and int(opened[1]) > 0
    assert re.search(r"zhang\.wei@example\.com +\d+", first.stdout)
    packs = list((tmp_path / "var" / "packs").glob("governance-pack-*.xlsx"))
    assert len(packs) == 1 and f"Governance pack 治理报告 for {packs[0].stem[-7:]}: " in first.stderr
    assert load_workbook(packs[0], read_only=True).sheetnames[0] == "摘要"
    # The demo's messages: a daily digest per owner, caught by the local mail catcher as .eml files.
    mail = sorted((tmp_path / "var" / "mail").glob("*.eml"))
    assert f"Messages of the demo cases: {len(mail)} in" in first.stderr and len(mail) >= 3
    digest = next(m for m in mail if "zhang.wei" in m.name).read_bytes()
    assert "今日案件".encode() in email.message_from_bytes(digest, policy=email.policy.default)["Subject"].encode()
    again = run("up", "--once", env=env, cwd=tmp_path)
    assert again.returncode == 0 and "writing the demo company" not in again.stderr
    assert "activated" not in again.stderr
    # The second run scans again through the same Temporal state: the same cases, no duplicates.
    assert again.stdout == first.stdout.replace("(scan 1 through Temporal)", "(scan 2 through Temporal)")


def test_ingest_reports_every_bad_row_and_exits_1(env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "bad"
    made = run("demo-data", "--out", str(out), "--lots", "50", "--as-of", AS_OF, "--with-errors", env=env, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    result = run("ingest", str(out), "--as-of", AS_OF, env=env, cwd=tmp_path)
    assert result.returncode == 1
    first_bad = 52  # header, 50 lots, then the bad rows
    problems = [line for line in result.stderr.splitlines() if re.match(r"lots\.csv:\d", line)]
    assert problems == [
        f"lots.csv:{first_bad}: expires_on: '2026-13-01' is not a date (expected YYYY-MM-DD)",
        f"lots.csv:{first_bad + 1}: sku: unknown SKU 'NO-SUCH-SKU' (not in materials)",
        f"lots.csv:{first_bad + 2}: uom: unknown unit 'pallet' for SKU IMP-00001 (known: ea)",
        f"lots.csv:{first_bad + 3}: qty: -3 is negative",
        f"lots.csv:{first_bad + 5}: duplicate lot row: same sku, site, lot and serial as line {first_bad + 4}",
        f"lots.csv:{first_bad + 6}: expires_on: 2025-01-01 is before manufactured_on 2025-06-01",
        f"lots.csv:{first_bad + 7}: lot: 'OTHER-LOT' contradicts the UDI, which says 'UDI-LOT'",
        f"lots.csv:{first_bad + 8}: qc_status: 'blocked' is not one of released, quarantine, hold, rejected",
    ]
    assert len(problems) == len(BAD_LOTS) - 1  # the first of the duplicate pair is fine
    assert "8 problem(s); nothing was stored." in result.stderr
    assert "Traceback" not in result.stderr
    facts = run("facts", env=env, cwd=tmp_path)
    assert facts.returncode == 1 and "No snapshot loaded yet" in facts.stderr


def test_ingest_then_facts_as_json(env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "good"
    assert run("demo-data", "--out", str(out), "--lots", "120", "--as-of", AS_OF, env=env, cwd=tmp_path).returncode == 0
    loaded = run("ingest", str(out), "--as-of", AS_OF, "--by", "zhang.wei", env=env, cwd=tmp_path)
    assert loaded.returncode == 0, loaded.stderr
    assert f"as of {AS_OF} stored: materials" in loaded.stdout
    again = run("ingest", str(out), env=env, cwd=tmp_path)
    assert again.returncode == 0 and "Already loaded as snapshot 1" in again.stdout

    facts = run("facts", "--json", env=env, cwd=tmp_path)
    assert facts.returncode == 0, facts.stderr
    document = json.loads(facts.stdout)
    assert document["snapshot"]["as_of"] == AS_OF
    assert len(document["lots"]) == 120
    lot = document["lots"][0]
    for key in ("sku", "site", "lot", "serial", "qty", "unit_cost", "value", "days_in_stock", "days_since_movement",
                "days_to_expiry", "shelf_life_left_pct", "projected_expiry_qty", "projected_expiry_value"):
        assert key in lot
    sku = document["skus"][0]
    for key in ("sku", "site", "on_hand", "on_hand_value", "issued_365d", "avg_daily_demand", "days_of_cover",
                "days_since_last_issue", "turnover_365d", "open_po_qty"):
        assert key in sku
    assert sum(s["lot_count"] for s in document["skus"]) == 120

    table = run("facts", env=env, cwd=tmp_path)
    assert table.stdout.startswith("# lots\nsku\tsite\tlot\tserial")
    assert len(table.stdout.splitlines()) == 1 + 1 + 120 + 1 + 1 + 1 + len(document["skus"])


def test_bad_arguments_and_missing_paths_are_plain_errors(env: dict[str, str], tmp_path: Path) -> None:
    missing = run("ingest", str(tmp_path / "nowhere"), env=env, cwd=tmp_path)
    assert missing.returncode == 1 and "no such file or folder" in missing.stderr
    bad_date = run("ingest", str(tmp_path), "--as-of", "25.11.2026", env=env, cwd=tmp_path)
    assert bad_date.returncode == 2 and "'25.11.2026' is not a date" in bad_date.stderr
    for result in (missing, bad_date):
        assert "Traceback" not in result.stderr


def test_policy_scan_and_movements_commands(env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "company"
    assert run("demo-data", "--out", str(out), "--lots", "200", "--as-of", AS_OF, env=env, cwd=tmp_path).returncode == 0
    assert run("ingest", str(out), "--as-of", AS_OF, env=env, cwd=tmp_path).returncode == 0
    no_policy = run("scan", env=env, cwd=tmp_path)
    assert no_policy.returncode == 1 and "no policy is active" in no_policy.stderr

    default = Path(__file__).resolve().parents[1] / "policies" / "default.yaml"
    bad = tmp_path / "bad.yaml"
    bad.write_text(default.read_text(encoding="utf-8").replace("version: 1", "version: 2").replace(
        "days_since_movement: {gte: 180d}", "dwel_days: {gte: 180d}"), encoding="utf-8")
    refused = run("policy", "activate", str(bad), env=env, cwd=tmp_path)
    assert refused.returncode == 1 and "unknown metric 'dwel_days'" in refused.stderr
    assert "1 problem(s); not activated, the active policy stays." in refused.stderr
    assert run("policy", "activate", str(default), "--by", "li.na", env=env, cwd=tmp_path).returncode == 0
    assert "* default@1" in run("policy", "history", env=env, cwd=tmp_path).stdout

    scanned = run("scan", "--json", env=env, cwd=tmp_path)
    assert scanned.returncode == 0, scanned.stderr
    document = json.loads(scanned.stdout)
    assert (document["policy"], document["version"]) == ("default", 1)
    assert document["findings"] and {"rule", "level", "sku", "site", "lot", "serial", "severity", "metrics",
                                     "reasons"} <= set(document["findings"][0])

    draft = tmp_path / "draft.yaml"
    draft.write_text(default.read_text(encoding="utf-8").replace("version: 1", "version: 2").replace(
        "days_since_movement: {gte: 52w}", "days_since_movement: {gte: 26w}"), encoding="utf-8")
    previewed = run("policy", "preview", str(draft), "--json", env=env, cwd=tmp_path)
    assert previewed.returncode == 0, previewed.stderr
    preview = json.loads(previewed.stdout)
    assert preview["added"]["findings"] > 0 and preview["removed"]["findings"] == 0
    assert set(preview["added"]["by_rule"]) == {"idle-one-year"}
    diff = run("policy", "diff", "1", str(draft), env=env, cwd=tmp_path)
    assert "rules changed: idle-one-year" in diff.stdout

    lot = next(f for f in document["findings"] if f["rule"] == "idle-one-year")
    movement = tmp_path / "movement.csv"
    movement.write_text(f"sku,site,lot,serial,type,qty,moved_on\n{lot['sku']},{lot['site']},{lot['lot']},"
                        f"{lot['serial']},transfer_in,1,{AS_OF}\n", encoding="utf-8")
    applied = run("movements", str(movement), "--json", env=env, cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    cleared = json.loads(applied.stdout)["cleared"]
    assert {"rule": "idle-one-year", "lot": lot["lot"]}.items() <= next(
        c for c in cleared if c["rule"] == "idle-one-year").items()
    twice = run("movements", str(movement), env=env, cwd=tmp_path)
    assert twice.returncode == 1 and "already applied" in twice.stderr
    verified = run("audit", "verify", env=env, cwd=tmp_path)
    assert verified.returncode == 0 and "1 entries" in verified.stdout
    shown = json.loads(run("audit", "show", "--actor", "li.na", "--json", env=env, cwd=tmp_path).stdout)
    assert [(e["action"], e["subject"]) for e in shown] == [("policy.activate", "policy:default")]
    assert json.loads(run("audit", "show", "--actor", "nobody", "--json", env=env, cwd=tmp_path).stdout) == []


def test_tokens_are_created_by_someone_listed_revoked_and_expire(env: dict[str, str], tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The usual path as a person runs it (real processes); the rest in this process through typer's
    CliRunner, against the same database (each run here costs seconds on a loaded machine)."""
    from typer.testing import CliRunner

    from audit.trail import entries
    from core.settings import get_settings
    from stockwarden.cli import app

    made = run("token", "create", "--person", "li.na@example.com", "--role", "compliance", "--role", "viewer",
               "--days", "30", "--by", "alice", env=env, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip()
    assert secret.startswith("sw_") and "Token 1 for li.na@example.com" in made.stderr
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    monkeypatch.chdir(tmp_path)

    def cli(*args: str) -> object:
        return CliRunner().invoke(app, list(args))

    assert cli("token", "create", "--person", "li.na@example.com", "--role", "qa").exit_code == 0  # type: ignore[attr-defined]
    engine = make_engine(env["STOCKWARDEN_DATABASE_URL"])
    create_token(engine, "old@example.com", [Role.VIEWER], by="carol", expires_at=datetime.now(UTC) - timedelta(days=1))
    listed = run("token", "list", env=env, cwd=tmp_path)
    assert listed.returncode == 0 and secret not in listed.stdout and "3 token(s), 2 live." in listed.stderr
    rows = {line.split()[0]: line.split() for line in listed.stdout.splitlines()[1:]}
    assert rows["1"][1:4] == ["live", "li.na@example.com", "compliance,viewer"] and rows["1"][8] == "alice"
    assert rows["2"][8] == current_user()  # --by defaults to the login name
    assert rows["3"][1] == "expired"
    as_json = {t["id"]: t for t in json.loads(cli("token", "list", "--json").stdout)}  # type: ignore[attr-defined]
    assert datetime.fromisoformat(as_json[1]["expires_at"]) - datetime.fromisoformat(as_json[1]["created_at"]) \
        == timedelta(days=30)
    assert not {"token", "token_hash"} & set(as_json[1])
    assert answer_to(engine, secret) == 200
    revoked = run("token", "revoke", "1", "--by", "bob", env=env, cwd=tmp_path)
    assert revoked.returncode == 0 and "1 token(s) revoked" in revoked.stderr, revoked.stderr
    assert answer_to(engine, secret) == 401
    again = cli("token", "revoke", "1")
    assert again.exit_code == 0 and "already revoked" in again.stderr  # type: ignore[attr-defined]
    assert cli("token", "revoke", "99").exit_code == 1  # type: ignore[attr-defined]
    assert cli("token", "revoke").exit_code == 2  # type: ignore[attr-defined]  # neither an ID nor --person
    everyone = run("token", "revoke", "--person", "li.na@example.com", env=env, cwd=tmp_path)
    assert everyone.returncode == 0 and "1 token(s) revoked" in everyone.stderr  # token 2; token 1 was already
    nobody = cli("token", "revoke", "--person", "li.na@example.com")
    assert nobody.exit_code == 1 and "nothing was revoked" in nobody.stderr  # type: ignore[attr-defined]
    bad = cli("token", "create", "--person", "li.na", "--role", "qa")
    assert bad.exit_code == 1 and "not an email address" in bad.stderr  # type: ignore[attr-defined]
    assert cli("token", "create", "--person", "a@b", "--role", "qa", "--days", "0").exit_code == 2  # type: ignore[attr-defined]
    with engine.connect() as connection:
        trail = [(e.actor, e.action, e.after["token"]) for e in entries(connection)
                 if e.action in ("api.token_created", "api.token_revoked")]
    engine.dispose()
    get_settings.cache_clear()
    assert trail == [("alice", "api.token_created", 1), (current_user(), "api.token_created", 2),
                     ("carol", "api.token_created", 3), ("bob", "api.token_revoked", 1),
                     (current_user(), "api.token_revoked", 2)]


@pytest.mark.asyncio(loop_scope="module")
async def test_outbox_confirm_takes_the_quantity_carried_out_and_the_rest_stays_governed(
        dev: WorkflowEnvironment, lot_of_42: Engine, tmp_path: Path) -> None:
    """`stockwarden outbox confirm ID --quantity 30` on the dev server: the ERP posted 30 of the 42 it was told
    to scrap; the instruction records 30 and the case's line keeps 12. More than is open, or a quantity that
    is not one, is refused (in English and Chinese, no traceback) and changes nothing."""
    import asyncio
    import uuid
    from decimal import Decimal

    from stockwarden.temporal import build_worker
    from tests.support.cases import instructed_42, instructions, mirror, trail

    queue = str(uuid.uuid4())
    env = {"STOCKWARDEN_DATABASE_URL": lot_of_42.url.render_as_string(hide_password=False),
           "STOCKWARDEN_VAR_DIR": str(tmp_path / "var"),
           "STOCKWARDEN_TEMPORAL_ADDRESS": dev.client.service_client.config.target_host}

    async def cli(*args: str) -> subprocess.CompletedProcess[str]:
        """In a thread: the worker shares this event loop and must answer the command's Update meanwhile."""
        return await asyncio.to_thread(run, *args, env=env, cwd=tmp_path)

    async with build_worker(dev.client, lot_of_42, queue):
        handle, instruction = await instructed_42(dev.client, lot_of_42, queue)
        too_much = await cli("outbox", "confirm", str(instruction.id), "--quantity", "43", "--by", "erp-bot")
        assert too_much.returncode == 1 and "Traceback" not in too_much.stderr, too_much.stderr
        assert (f"refused: instruction {instruction.id} has 42 still open, less than the 43 confirmed; confirm at "
                "most 42 (leave out the quantity to confirm all of it) / "
                f"指令 {instruction.id} 尚余 42 未完成，少于确认的 43；最多确认 42（不填数量即确认全部）; "
                "nothing was confirmed.") in too_much.stderr, too_much.stderr
        for wrong in ("0", "-3", "thirty", "NaN"):
            refused = await cli("outbox", "confirm", str(instruction.id), "--quantity", wrong)
            assert refused.returncode == 2 and "--quantity" in refused.stderr, refused.stderr
            assert "greater than 0" in refused.stderr and "大于 0" in refused.stderr, refused.stderr
        [unchanged] = instructions(lot_of_42, handle.id)
        assert (unchanged.state, unchanged.done) == ("pending", None)
        assert mirror(lot_of_42, handle.id).state == "awaiting_confirmation"
        assert "instruction.confirmed" not in trail(lot_of_42, handle.id)

        part = await cli("outbox", "confirm", str(instruction.id), "--quantity", "30.0", "--by", "erp-bot",
                         "--note", "GRN-1188: 12 not found")
        assert part.returncode == 0, part.stderr
        assert f"Instruction {instruction.id} confirmed for 30 carried out; the case is acknowledged." in part.stderr
    [confirmed] = instructions(lot_of_42, handle.id)
    assert (confirmed.state, confirmed.done, confirmed.confirmed_by) == ("confirmed", 30, "erp-bot")
    row = mirror(lot_of_42, handle.id)
    assert row.state == "acknowledged" and [(line["lot"], Decimal(line["quantity"])) for line in row.lines] == [
        ("R1", Decimal(12))]
    await handle.terminate("test over")  # the dev server outlives this test


def test_cases_filters_list_the_same_cases_as_the_api(env: dict[str, str], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """`stockwarden cases --sku --site --lot` (with --state) against GET /cases with the same filter; one
    real process, the rest through typer's CliRunner on the same database."""
    import asyncio

    import httpx
    from typer.testing import CliRunner

    from core.settings import get_settings
    from stockwarden.cli import app
    from tests.support.cases import position_event, record

    engine = make_engine(env["STOCKWARDEN_DATABASE_URL"])
    run("cases", env=env, cwd=tmp_path)  # brings the schema up to date, as every command does

    def due(day: int) -> str:  # listed by acknowledge due: the position with fewer lots first
        return f"2026-12-0{day}T00:00:00+00:00"
    record(engine,
           position_event("HIP-1", "SH01", [("L1", "S1"), ("L2", "S2"), ("L2", "S3")], po="P9/10", acknowledge_due=due(4)),
           position_event("HIP-1", "BJ02", [("L2", "S9")], state="acknowledged", po="P9/10", acknowledge_due=due(2)),
           position_event("CAT-1", "SH01", [("L2", ""), ("A", "")], po="P9/10", acknowledge_due=due(3)),
           position_event("CAT-1", "GZ03", [("B", "")], po="P9/10", acknowledge_due=due(2)))
    token = create_token(engine, "auditor@example.com", [Role.VIEWER])

    async def api(params: dict[str, str]) -> list[str]:
        application = create_app(engine, None, Settings())  # type: ignore[arg-type]  # no Temporal needed to read cases
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://api") as client:
            answer = await client.get("/cases", params={**params, "limit": 500}, headers={"Authorization": f"Bearer {token}"})
            assert answer.status_code == 200, answer.text
            return [c["workflow_id"] for c in answer.json()["items"]]

    listed = run("cases", "--lot", "L2", "--sku", "HIP-1", "--json", env=env, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    both = [c["workflow_id"] for c in json.loads(listed.stdout)]
    assert both == [position_key("HIP-1", "BJ02", "zhang.wei@example.com"), position_key("HIP-1", "SH01", "zhang.wei@example.com")]  # due first
    assert sorted(both) == asyncio.run(api({"lot": "L2", "sku": "HIP-1"}))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    monkeypatch.chdir(tmp_path)
    try:
        for params in ({"lot": "L2"}, {"lot": "L1"}, {"lot": "S2"}, {"lot": "P9/10"}, {"sku": "CAT-1"},
                       {"site": "SH01"}, {"site": "SH01", "state": "open"}, {"lot": "L2", "state": "acknowledged"},
                       {"lot": "L2", "site": "SH01", "sku": "CAT-1"}):
            shown = CliRunner().invoke(app, ["cases", "--json", *(f"--{k}={v}" for k, v in params.items())])
            assert shown.exit_code == 0, shown.output
            ids = sorted(c["workflow_id"] for c in json.loads(shown.stdout))
            assert ids == asyncio.run(api(params)), params
        table = CliRunner().invoke(app, ["cases", "--lot", "L2"])
        assert table.stdout.endswith("3 case(s).\n") and "position/SH01/CAT-1/" in table.stdout
        for option, value, said in (("--lot", "L" * 81, "lot takes at most 80 characters"),
                                    ("--site", "SH\n01", "site must not contain control characters")):
            refused = CliRunner().invoke(app, ["cases", option, value])
            assert refused.exit_code == 2 and said in refused.stderr and option in refused.stderr, refused.stderr
    finally:
        engine.dispose()
        get_settings.cache_clear()
