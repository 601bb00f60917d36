"""The attacks on the audit trail from issue 13, performed as written down: each rewrites, removes or
bypasses entries the way someone with database access did, and the database refuses it or
`stockwarden audit verify` (against the signed checkpoints outside the database) names it.

Only the commands and the database are used here, so each test runs unchanged against older code.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, exc, select, text
from sqlmodel import col

from audit.models import AuditEntry
from audit.trail import entry_hash
from core.case import InstructionLine, InstructionRequest
from governance.outbox import issue
from stockwarden.temporal import free_port
from tests.support.audit import drop_trail_triggers, signed_trail
from tests.support.cli import run
from tests.support.data import AUDIT_SECRET as SECRET


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {"STOCKWARDEN_DATABASE_URL": database_url, "STOCKWARDEN_VAR_DIR": str(tmp_path / "var"),
            "STOCKWARDEN_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}", "STOCKWARDEN_SECRET_KEY": SECRET}


def rewrite_signer(connection: Connection, forger: str) -> None:
    """Entry 2 gets another signer; it and every later entry get hashes recomputed with the project's own
    entry_hash, so the chain holds again. SQLite: INSERT OR REPLACE; PostgreSQL: UPDATE."""
    rows = connection.execute(select(AuditEntry).where(col(AuditEntry.seq) >= 2).order_by(col(AuditEntry.seq))).all()
    prev = connection.execute(select(col(AuditEntry.hash)).where(col(AuditEntry.seq) == 1)).scalar_one()
    for row in rows:
        values = {k: v for k, v in row._mapping.items() if k != "hash"}
        values["prev_hash"] = prev
        if row.seq == 2:
            values["actor"] = forger
        values["hash"] = prev = entry_hash(**{k: v for k, v in values.items() if k != "hash"})
        if connection.dialect.name == "sqlite":
            connection.execute(AuditEntry.__table__.insert().prefix_with("OR REPLACE").values(**values))  # type: ignore[attr-defined]
        else:
            connection.execute(AuditEntry.__table__.update().where(AuditEntry.seq == row.seq).values(**values))  # type: ignore[attr-defined]


def signer(engine: Engine) -> str:
    with engine.connect() as connection:
        return connection.execute(select(col(AuditEntry.actor)).where(col(AuditEntry.seq) == 2)).scalar_one()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_insert_or_replace_on_sqlite_is_refused_with_the_triggers_in_place(engine: Engine, env: dict[str, str],
                                                                           tmp_path: Path) -> None:
    """The attack as done on main: no trigger dropped, INSERT OR REPLACE deletes without delete triggers."""
    signed_trail(engine, 12)
    with pytest.raises(exc.IntegrityError, match="append-only"), engine.begin() as connection:
        rewrite_signer(connection, "mallory@example.com")
    assert signer(engine) == "qa.officer@example.com"
    verified = run("audit", "verify", env=env, cwd=tmp_path)
    assert verified.returncode == 0, verified.stderr


def test_a_signer_rewritten_with_the_triggers_dropped_and_hashes_recomputed_is_found_by_verify(
        engine: Engine, env: dict[str, str], tmp_path: Path) -> None:
    signed_trail(engine, 12)
    checkpointed = run("audit", "checkpoint", env=env, cwd=tmp_path)
    assert checkpointed.returncode == 0, checkpointed.stderr
    with engine.begin() as connection:
        drop_trail_triggers(connection)
        rewrite_signer(connection, "mallory@example.com")
    assert signer(engine) == "mallory@example.com"
    verified = run("audit", "verify", env=env, cwd=tmp_path)
    assert verified.returncode == 1, verified.stdout
    assert "rewritten before 12" in verified.stderr
    assert "holds" not in verified.stdout


def test_the_last_ten_entries_deleted_with_the_trigger_dropped_are_found_by_verify(
        engine: Engine, env: dict[str, str], tmp_path: Path) -> None:
    signed_trail(engine, 30)
    assert run("audit", "checkpoint", env=env, cwd=tmp_path).returncode == 0
    with engine.begin() as connection:
        drop_trail_triggers(connection)
        assert connection.execute(text("DELETE FROM audit_entry WHERE seq > 20")).rowcount == 10
    verified = run("audit", "verify", env=env, cwd=tmp_path)
    assert verified.returncode == 1, verified.stdout
    assert "truncated/removed entries after 20" in verified.stderr


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_truncate_on_postgresql_is_refused_and_found_by_verify_when_done_without_the_trigger(
        engine: Engine, env: dict[str, str], tmp_path: Path) -> None:
    signed_trail(engine, 12)
    assert run("audit", "checkpoint", env=env, cwd=tmp_path).returncode == 0
    with pytest.raises(exc.DBAPIError, match="append-only"), engine.begin() as connection:
        connection.execute(text("TRUNCATE audit_entry"))
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM audit_entry")).scalar_one() == 12
    with engine.begin() as connection:
        drop_trail_triggers(connection)
        connection.execute(text("TRUNCATE audit_entry"))
    verified = run("audit", "verify", env=env, cwd=tmp_path)
    assert verified.returncode == 1, verified.stdout
    assert "truncated/removed entries after 0" in verified.stderr


def test_a_forged_checkpoint_line_is_found_by_verify(engine: Engine, env: dict[str, str], tmp_path: Path) -> None:
    """After rewriting the trail, the forger appends a checkpoint of the new head, without the key."""
    signed_trail(engine, 12)
    assert run("audit", "checkpoint", env=env, cwd=tmp_path).returncode == 0
    store = tmp_path / "var" / "audit-checkpoints.jsonl"
    [line] = store.read_text(encoding="utf-8").splitlines()
    forged = json.loads(line)
    forged["head_hash"] = "f" * 64
    with store.open("a", encoding="utf-8") as out:
        out.write(json.dumps(forged) + "\n")
    verified = run("audit", "verify", env=env, cwd=tmp_path)
    assert verified.returncode == 1, verified.stdout
    assert "forged checkpoint" in verified.stderr and "line 2" in verified.stderr


def test_verify_without_a_checkpoint_says_so(engine: Engine, env: dict[str, str], tmp_path: Path) -> None:
    signed_trail(engine, 3)
    verified = run("audit", "verify", env=env, cwd=tmp_path)
    assert verified.returncode == 0, verified.stderr
    assert "no checkpoint yet" in verified.stdout


def test_an_instruction_whose_quantity_was_raised_in_the_outbox_is_refused_by_export_and_verify(
        engine: Engine, env: dict[str, str], tmp_path: Path) -> None:
    with engine.begin() as connection:
        ids = issue(connection, InstructionRequest(
            "case/slow/SH01/HIP-1", 1, "scrap", "HIP-1", "SH01", "Ortho Co", "", "",
            [InstructionLine("L2", "S2", "10", "120005"), InstructionLine("L3", "S3", "1", "12000.50")],
            ["qa.officer@example.com", "cfo@example.com"], "default v1", "2026-11-26T00:00:00+00:00"))
    with engine.begin() as connection:
        connection.execute(text("UPDATE erp_instruction SET quantity = 10000 WHERE id = :id"), {"id": ids[0]})
    exported = run("outbox", "--export", str(tmp_path / "erp"), "--by", "li.na", env=env, cwd=tmp_path)
    assert exported.returncode == 1, exported.stderr
    assert f"instruction {ids[0]}" in exported.stderr and "nothing was exported" in exported.stderr
    assert not list((tmp_path / "erp").glob("*.csv"))
    with engine.connect() as connection:
        states = connection.execute(text("SELECT DISTINCT state FROM erp_instruction")).scalars().all()
    assert states == ["pending"]
    verified = run("audit", "verify", env=env, cwd=tmp_path)
    assert verified.returncode == 1, verified.stdout
    assert f"instruction {ids[0]}" in verified.stderr and f"instruction {ids[1]}" not in verified.stderr
    with engine.begin() as connection:  # put back, and the export goes through
        connection.execute(text("UPDATE erp_instruction SET quantity = 10 WHERE id = :id"), {"id": ids[0]})
    assert run("outbox", "--export", str(tmp_path / "erp"), env=env, cwd=tmp_path).returncode == 0
    assert len(list((tmp_path / "erp").glob("*.csv"))) == 1

