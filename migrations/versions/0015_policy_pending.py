"""Policy activations that move duties (owners, signers, approvals) wait here for a second signature.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'policy_pending',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('text_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('path', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column('base_version_id', sa.Integer(), sa.ForeignKey('policy_version.id'), nullable=True),
        sa.Column('changes', sa.JSON(), nullable=False),
        sa.Column('proposed_by', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('proposed_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column('signed_by', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('signed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    )


def downgrade() -> None:
    op.drop_table('policy_pending')
