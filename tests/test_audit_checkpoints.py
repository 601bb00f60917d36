"""Where audit checkpoints are kept and shown: the keeper workflow in Temporal (fed by the daily Schedule
and by signals, continuing as new), the governance pack's summary sheet, GET /audit/verify; and the
PostgreSQL application role that may only INSERT and SELECT on the trail (docs/security.md)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine, exc, text
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.checkpoints import KEEPER_ID, KeeperInput, keep_in_temporal, kept_in_temporal
from api.app import create_app
from api.auth import create_token
from audit.checkpoints import Anchor, CheckpointFile, Kept
from audit.trail import append
from core.db import make_engine
from core.settings import Settings
from governance.verification import verify_all
from governance.visibility import Role
from reports.pack import write_pack
from stockwarden.temporal import (
    CHECKPOINT_SCHEDULE_ID,
    build_worker,
    ensure_checkpoint_schedule,
)
from tests.support.audit import drop_trail_triggers, signed_trail
from tests.support.data import AUDIT_SECRET as SECRET
from tests.support.data import PACK_NOW as NOW
from tests.support.databases import PG_ADMIN_URL
from workflows.checkpoints import CheckpointKeeper

REPLAY = """
import asyncio, json, sys
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer
from stockwarden.temporal import WORKFLOWS

async def main():
    histories = json.load(open(sys.argv[2], encoding="utf-8"))
    for history in histories:
        await Replayer(workflows=WORKFLOWS).replay_workflow(WorkflowHistory.from_json(sys.argv[1], history))
    print(len(histories))

asyncio.run(main())
"""
"""Replays the histories in the file named by argv[2] (JSON, as WorkflowHistory.to_json_dict) of workflow argv[1]."""


async def keeper_holds(client: Client, count: int) -> list[Kept]:
    """The keeper's checkpoints once it holds `count` (signals are delivered asynchronously)."""
    for _ in range(300):
        held = await kept_in_temporal(client)
        if len(held) >= count:
            return held
        await asyncio.sleep(0.1)
    return await kept_in_temporal(client)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.asyncio
async def test_the_daily_schedule_writes_a_checkpoint_to_the_file_and_the_keeper_which_keeps_every_one(
        temporal: WorkflowEnvironment, engine: Engine, tmp_path: Path) -> None:
    signed_trail(engine, 5)
    anchor = Anchor(CheckpointFile(tmp_path / "var" / "audit-checkpoints.jsonl"), SECRET)
    queue = str(uuid.uuid4())
    client = temporal.client
    # A keeper that continues as new after every 2 checkpoints, to see the list survive it.
    await client.start_workflow(CheckpointKeeper.run, KeeperInput(per_run=2), id=KEEPER_ID, task_queue=queue)
    async with build_worker(client, engine, queue, checkpoints=anchor):
        await ensure_checkpoint_schedule(client, queue, "15 0 * * *")
        await ensure_checkpoint_schedule(client, queue, "45 1 * * *")  # a worker restarted with new settings
        schedule = client.get_schedule_handle(CHECKPOINT_SCHEDULE_ID)
        (calendar,) = (await schedule.describe()).schedule.spec.calendars
        assert ([r.start for r in calendar.hour], [r.start for r in calendar.minute]) == ([1], [45])
        await schedule.trigger()
        [daily] = await keeper_holds(client, 1)
        assert daily.checkpoint.reason == "daily" and daily.checkpoint.seq == 5
        first_run = (await client.get_workflow_handle(KEEPER_ID).describe()).run_id
        for n in (6, 7, 8):
            with engine.begin() as connection:
                append(connection, actor="stockwarden", action="case.step", subject=f"case:case/{n}")
            await keep_in_temporal(client, queue, anchor.write(engine, f"pack 2026-{n:02d}"))
        held = await keeper_holds(client, 4)
        assert [k.checkpoint.seq for k in held] == [5, 6, 7, 8]
        assert (await client.get_workflow_handle(KEEPER_ID).describe()).run_id != first_run  # continued as new
    in_file = [k.checkpoint for k in anchor.store.read() if isinstance(k, Kept)]
    assert in_file == [k.checkpoint for k in held]
    with engine.connect() as connection:
        assert verify_all(connection, held, SECRET).intact
        drop_trail_triggers(connection)
        connection.execute(text("DELETE FROM audit_entry WHERE seq > 6"))
        verdict = verify_all(connection, held, SECRET)  # the Temporal copy alone finds it
        connection.rollback()
    assert len(verdict.problems) == 2  # the checkpoints at 7 and 8
    assert all("truncated/removed entries after 6" in problem for problem in verdict.problems)
    # Every closed run of the keeper replays on the current code: it is deterministic. Only closed runs: the run
    # the last continue-as-new started may still hold a workflow task unworked (the worker above has stopped;
    # seen here: its history ended in WORKFLOW_TASK_SCHEDULED), and such a history makes the Replayer wait for
    # the rest without end (CI, 2026-12-02: 120 s). In a process of its own, as a long test process once made
    # it wait too.
    histories = []
    run_id: str | None = first_run  # the chain of runs, followed through each continue-as-new (the list of
    while run_id:                   # workflows is eventually consistent: it once showed one closed run of two)
        history = await client.get_workflow_handle(KEEPER_ID, run_id=run_id).fetch_history()
        last = history.events[-1]
        if last.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
            break
        histories.append(history.to_json_dict())
        run_id = last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
    assert histories  # the run that kept two checkpoints continued as new (asserted above)
    (tmp_path / "keeper-histories.json").write_text(json.dumps(histories), encoding="utf-8")
    replayed = await asyncio.to_thread(subprocess.run, [sys.executable, "-c", REPLAY, KEEPER_ID,
                                                        str(tmp_path / "keeper-histories.json")],
                                       capture_output=True, text=True, timeout=120)
    assert replayed.returncode == 0 and replayed.stdout.strip() == str(len(histories)), replayed.stderr


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_the_pack_writes_a_checkpoint_and_prints_it_on_its_summary_sheet(
        governed: Engine, tmp_path: Path, language: str) -> None:
    anchor = Anchor(CheckpointFile(tmp_path / "checkpoints.jsonl"), SECRET)
    summary = write_pack(governed, "2026-11", language, tmp_path / "pack.xlsx", now=NOW, anchor=anchor)
    [kept] = list(anchor.store.read())
    assert isinstance(kept, Kept) and kept.checkpoint == summary.checkpoint
    assert kept.checkpoint.reason == "pack 2026-11" and kept.checkpoint.at == "2026-11-26T00:00:00+00:00"
    sheet = load_workbook(summary.path).worksheets[0]
    label = {"zh-CN": "审计检查点（已签名）", "en": "Audit checkpoint (signed)"}[language]
    [line] = [row[1] for row in sheet.iter_rows(values_only=True) if row[0] == label]
    assert kept.checkpoint.head_hash in line and str(kept.checkpoint.seq) in line


@pytest.mark.asyncio
async def test_get_audit_verify_names_a_truncation_against_the_checkpoint_file(engine: Engine, tmp_path: Path) -> None:
    signed_trail(engine, 15)
    settings = Settings(var_dir=tmp_path / "var", secret_key=SECRET)
    app = create_app(engine, None, settings)  # type: ignore[arg-type]  # no Temporal here
    auditor = {"Authorization": f"Bearer {create_token(engine, 'audit@example.com', [Role.COMPLIANCE])}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        none_yet = (await client.get("/audit/verify", headers=auditor)).json()
        assert none_yet["intact"] is True and none_yet["checkpoints"] == 0 and none_yet["latest_checkpoint"] is None
        Anchor.from_settings(settings).write(engine, "test")
        with engine.begin() as connection:
            drop_trail_triggers(connection)
            connection.execute(text("DELETE FROM audit_entry WHERE seq > 10"))
        verdict = (await client.get("/audit/verify", headers=auditor)).json()
    assert verdict["intact"] is False and verdict["latest_checkpoint"]["seq"] == 16  # the token's entry too
    assert verdict["breaks"] == [(f"{settings.resolved_checkpoint_file()} line 1 (checkpoint 16 of "
                                  f"{verdict['latest_checkpoint']['at']}): truncated/removed entries after 10: the "
                                  "trail ends at 10, the checkpoint saw 16 entries up to 16")]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_an_application_role_with_insert_and_select_only_on_the_trail_appends_but_cannot_rewrite_it(
        engine: Engine, database_url: str) -> None:
    """The GRANTs of docs/security.md, with the triggers dropped so the refusals seen are the
    role's permissions and nothing else."""
    role = f"sw_app_{uuid.uuid4().hex[:10]}"
    database = database_url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN")
    try:
        with engine.begin() as owner:
            drop_trail_triggers(owner)
            for grant in (f"GRANT CONNECT ON DATABASE {database} TO {role}",
                          f"GRANT USAGE ON SCHEMA public TO {role}",
                          f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
                          f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
                          f"REVOKE ALL ON audit_entry FROM {role}",
                          f"GRANT SELECT, INSERT ON audit_entry TO {role}",
                          f"REVOKE UPDATE, DELETE, TRUNCATE ON alembic_version FROM {role}"):
                owner.execute(text(grant))
        service = make_engine(database_url.replace("postgres@", f"{role}@"))
        try:
            signed_trail(service, 3)  # the service's appends work
            with service.begin() as connection:
                assert connection.execute(text("SELECT current_user")).scalar_one() == role
                token = create_token(service, "li.na@example.com", [Role.ADMIN])  # other tables: as before
                assert token.startswith("sw_")
            for attack in ("UPDATE audit_entry SET actor = 'mallory' WHERE seq = 2",
                           "DELETE FROM audit_entry WHERE seq > 1", "TRUNCATE audit_entry"):
                with pytest.raises(exc.ProgrammingError, match="permission denied for table audit_entry"), \
                        service.begin() as connection:
                    connection.execute(text(attack))
            with service.connect() as connection:
                assert connection.execute(text("SELECT count(*) FROM audit_entry")).scalar_one() == 4
        finally:
            service.dispose()
    finally:
        engine.dispose()
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute(f"DROP OWNED BY {role}")
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f"DROP ROLE {role}")


def test_a_checkpoint_needs_the_secret_key(engine: Engine, tmp_path: Path) -> None:
    from audit.checkpoints import CheckpointKeyMissing

    with pytest.raises(CheckpointKeyMissing, match="STOCKWARDEN_SECRET_KEY is empty"):
        Anchor(CheckpointFile(tmp_path / "c.jsonl"), "").write(engine, "test", datetime.now(UTC))
    assert not (tmp_path / "c.jsonl").exists()


@pytest.mark.asyncio
async def test_get_outbox_refuses_while_an_instruction_no_longer_matches_its_audit_entry(
        engine: Engine, tmp_path: Path) -> None:
    from core.case import InstructionLine, InstructionRequest
    from governance.outbox import issue

    with engine.begin() as connection:
        [first, second] = issue(connection, InstructionRequest(
            "case/slow/SH01/HIP-1", 1, "move", "HIP-1", "SH01", "", "BJ01", "",
            [InstructionLine("L2", "", "10", "100"), InstructionLine("L3", "", "1", "10")],
            ["cfo@example.com"], "default v1", "2026-11-26T00:00:00+00:00"))
    app = create_app(engine, None, Settings(var_dir=tmp_path / "var", secret_key=SECRET))  # type: ignore[arg-type]
    erp = {"Authorization": f"Bearer {create_token(engine, 'erp-bot@example.com', [Role.ERP])}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        assert [i["id"] for i in (await client.get("/outbox", headers=erp)).json()] == [first, second]
        with engine.begin() as connection:
            connection.execute(text("UPDATE erp_instruction SET target = 'SH99' WHERE id = :id"), {"id": second})
        refused = await client.get("/outbox", headers=erp)
    assert refused.status_code == 409
    assert f"instruction {second} " in refused.json()["detail"] and "target was 'BJ01', now 'SH99'" in refused.json()["detail"]
    assert f"instruction {first} " not in refused.json()["detail"]
