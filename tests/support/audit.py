"""Helpers for attacks on the audit trail: a signed trail to forge, and dropping the triggers that keep it
append-only (what a DBA, or anyone owning the table, can do first)."""

from __future__ import annotations

from sqlalchemy import Connection, Engine, text

from audit.trail import append


def signed_trail(engine: Engine, entries: int) -> None:
    """A trail whose second entry is a QA officer's signature: the one a forger wants to change."""
    with engine.begin() as connection:
        append(connection, actor="li.na", action="policy.activate", subject="policy:default")
        append(connection, actor="qa.officer@example.com", action="case.signed", subject="case:case/x",
               after={"meaning": "approved", "role": "qa"}, workflow_id="case/x")
        for n in range(3, entries + 1):
            append(connection, actor="stockwarden", action="case.step", subject=f"case:case/{n}")


def drop_trail_triggers(connection: Connection) -> None:
    """What a DBA (or anyone owning the table) can do first."""
    if connection.dialect.name == "postgresql":
        names = connection.execute(text("SELECT tgname FROM pg_trigger WHERE tgrelid = 'audit_entry'::regclass "
                                        "AND NOT tgisinternal")).scalars().all()
        for name in names:
            connection.execute(text(f"DROP TRIGGER {name} ON audit_entry"))
    else:
        names = connection.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger' "
                                        "AND tbl_name = 'audit_entry'")).scalars().all()
        for name in names:
            connection.execute(text(f"DROP TRIGGER {name}"))
