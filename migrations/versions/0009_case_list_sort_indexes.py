"""Case list sort indexes: (column, id) for each order the list may take, so a keyset page is an index
range scan, not a sort of every case.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

COLUMNS = ("value", "resolve_due", "opened_at", "updated_at")


def upgrade() -> None:
    for column in COLUMNS:
        op.create_index(f"ix_governance_case_{column}_id", "governance_case", [column, "id"], unique=False)


def downgrade() -> None:
    for column in COLUMNS:
        op.drop_index(f"ix_governance_case_{column}_id", table_name="governance_case")
