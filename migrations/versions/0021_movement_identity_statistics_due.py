"""Movements applied after a snapshot carry their identity (a digest of what they are), unique per
snapshot, so the same movement posted again is recognised per movement rather than per file; and the
tables whose planner statistics a committed load still owes (statistics_due).

Revision ID: 0021
Revises: 0020
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('movement', sa.Column('identity', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
    op.create_index('uq_movement_identity', 'movement', ['snapshot_id', 'identity'], unique=True)
    op.create_table(
        'statistics_due',
        sa.Column('table_name', sqlmodel.sql.sqltypes.AutoString(length=63), nullable=False),
        sa.Column('since', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('table_name'),
    )


def downgrade() -> None:
    op.drop_table('statistics_due')
    op.drop_index('uq_movement_identity', table_name='movement')
    with op.batch_alter_table('movement') as table:
        table.drop_column('identity')
