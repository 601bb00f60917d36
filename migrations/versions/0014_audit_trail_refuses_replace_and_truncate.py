"""audit trail refuses replace and truncate

UPDATE and DELETE were already refused (0002). On SQLite, `INSERT OR REPLACE` deletes the row it
replaces without firing delete triggers (recursive_triggers is off), so a BEFORE INSERT trigger refuses
any insert of a sequence number or hash that exists. On PostgreSQL, TRUNCATE fires no row trigger, so
a statement trigger refuses it.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(  # the function of 0002 raises 'audit_entry is append-only'
            "CREATE TRIGGER audit_entry_no_truncate BEFORE TRUNCATE ON audit_entry "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_entry_append_only()"
        )
    else:
        op.execute(
            "CREATE TRIGGER audit_entry_no_replace BEFORE INSERT ON audit_entry "
            "WHEN EXISTS (SELECT 1 FROM audit_entry WHERE seq = NEW.seq OR hash = NEW.hash) "
            "BEGIN SELECT RAISE(ABORT, 'audit_entry is append-only: this entry exists and is not replaced'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_entry_no_truncate ON audit_entry")
    else:
        op.execute("DROP TRIGGER audit_entry_no_replace")
