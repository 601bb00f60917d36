"""Activation, history, diff and the audit trail, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import col

from audit.models import AuditEntry
from audit.trail import append, verify
from rules.loader import PolicyInvalid
from rules.versions import Activation, PolicyConflict, activate, active_version, diff_versions, history
from tests.support.data import GOOD_POLICY as GOOD


def write(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def test_activation_keeps_exactly_one_active_version_and_audits_each_change(engine: Engine, tmp_path: Path) -> None:
    v1 = write(tmp_path, "v1.yaml", GOOD)
    v2 = write(tmp_path, "v2.yaml", GOOD.replace("version: 1", "version: 2").replace("{gte: 5000}", "{gte: 8000}"))
    first = activate(engine, v1, actor="li.na")
    assert isinstance(first, Activation) and first.changed
    again = activate(engine, v1, actor="li.na")
    assert isinstance(again, Activation) and not again.changed  # same text again: nothing new
    second = activate(engine, v2, actor="zhang.wei")
    assert isinstance(second, Activation)
    with engine.connect() as connection:
        rows = history(connection)
        active = active_version(connection)
        count, breaks = verify(connection)
        entries = connection.execute(select(AuditEntry).order_by(col(AuditEntry.seq))).all()
    assert [(r.version, r.active, r.activated_by) for r in rows] == [(1, False, "li.na"), (2, True, "zhang.wei")]
    assert active is not None and active[0].id == second.version.id
    assert active[1].rules[0].when["value"].gte == 8000
    assert (count, breaks) == (2, [])
    assert [(e.actor, e.action, e.subject) for e in entries] == [("li.na", "policy.activate", "policy:test"),
                                                                 ("zhang.wei", "policy.activate", "policy:test")]
    assert entries[0].before is None and entries[1].before["version"] == 1 and entries[1].after["version"] == 2


def test_a_bad_policy_is_never_activated_and_the_active_one_stays(engine: Engine, tmp_path: Path) -> None:
    activate(engine, write(tmp_path, "good.yaml", GOOD), actor="li.na")
    bad = write(tmp_path, "bad.yaml", GOOD.replace("version: 1", "version: 2").replace("days_since_movement", "dwel"))
    with pytest.raises(PolicyInvalid):
        activate(engine, bad, actor="li.na")
    reused = write(tmp_path, "reused.yaml", GOOD.replace("{gte: 5000}", "{gte: 1}"))
    with pytest.raises(PolicyConflict, match="version 1 of policy 'test' was activated before"):
        activate(engine, reused, actor="li.na")
    with engine.connect() as connection:
        assert [r.version for r in history(connection)] == [1]
        assert active_version(connection)[1].version == 1  # type: ignore[index]
        assert verify(connection)[0] == 1


def test_the_one_active_version_is_enforced_by_the_database(engine: Engine, tmp_path: Path) -> None:
    activate(engine, write(tmp_path, "v1.yaml", GOOD), actor="li.na")
    with pytest.raises(DBAPIError), engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO policy_version (name, version, text_hash, policy_hash, text, path, activated_by, "
            "activated_at, active) VALUES ('x', 9, 'h', 'h', 't', '', 'me', CURRENT_TIMESTAMP, true)"))


def test_diff_names_rules_added_removed_and_changed(engine: Engine, tmp_path: Path) -> None:
    activate(engine, write(tmp_path, "v1.yaml", GOOD), actor="li.na")
    extra = GOOD[GOOD.index("  - id: idle"):].replace("id: idle", "id: idle-2")
    draft = write(tmp_path, "v2.yaml", GOOD.replace("version: 1", "version: 2").replace("{gte: 5000}", "{gte: 8000}")
                  + extra)
    activate(engine, draft, actor="li.na")
    with engine.connect() as connection:
        by_version = diff_versions(connection, "1", "test@2")
        with_file = diff_versions(connection, "1", str(draft))
    assert by_version.splitlines()[:3] == ["rules added: idle-2", "rules removed: -", "rules changed: idle"]
    assert "+      value: {gte: 8000}" in by_version and by_version.count("\n+  - id: idle") == 1
    assert with_file.splitlines()[:3] == by_version.splitlines()[:3]
    with engine.connect() as connection, pytest.raises(PolicyConflict, match="no activated version '7'"):
        diff_versions(connection, "1", "7")


def test_the_audit_trail_refuses_edits_and_verify_finds_tampering(engine: Engine) -> None:
    with engine.begin() as connection:
        for n in range(3):
            append(connection, actor="li.na", action="case.comment", subject=f"case:{n}", after={"text": "看过了"})
    for statement in ("UPDATE audit_entry SET actor = 'mallory' WHERE seq = 2", "DELETE FROM audit_entry WHERE seq = 3"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(text(statement))
    # Someone with the database owner's rights switches the guard off and edits history:
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("ALTER TABLE audit_entry DISABLE TRIGGER audit_entry_append_only"))
        else:
            connection.execute(text("DROP TRIGGER audit_entry_no_update"))
        connection.execute(text("UPDATE audit_entry SET actor = 'mallory' WHERE seq = 2"))
    with engine.connect() as connection:
        count, breaks = verify(connection)
    assert count == 3
    assert [str(b) for b in breaks] == ["entry 2: content was changed after it was written (hash differs)"]


def test_concurrent_appenders_extend_one_chain_without_collisions(engine: Engine) -> None:
    """Activities append from several threads at once; on SQLite the chain's tail must be read under the
    write lock, or appends collide on their sequence number."""
    import threading

    failures: list[BaseException] = []

    def appender(name: str) -> None:
        for _ in range(40):
            try:
                with engine.begin() as connection:
                    append(connection, actor=name, action="test.appended", subject="chain")
            except BaseException as failure:  # noqa: BLE001 - every failure is the finding
                failures.append(failure)

    threads = [threading.Thread(target=appender, args=(f"t{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with engine.connect() as connection:
        count, breaks = verify(connection)
    assert (count, breaks) == (160, [])
