"""governance cases

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('governance_case',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('rule', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('sku', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('site', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('severity', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('owner', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('assignees', sa.JSON(), nullable=False),
    sa.Column('escalation_level', sa.Integer(), nullable=False),
    sa.Column('acknowledge_due', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolve_due', sa.DateTime(timezone=True), nullable=False),
    sa.Column('value', sa.Numeric(precision=20, scale=4), nullable=False),
    sa.Column('lines', sa.JSON(), nullable=False),
    sa.Column('policy_version', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_event', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('governance_case', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_governance_case_owner'), ['owner'], unique=False)
        batch_op.create_index(batch_op.f('ix_governance_case_rule'), ['rule'], unique=False)
        batch_op.create_index(batch_op.f('ix_governance_case_state'), ['state'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('governance_case', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_governance_case_state'))
        batch_op.drop_index(batch_op.f('ix_governance_case_rule'))
        batch_op.drop_index(batch_op.f('ix_governance_case_owner'))

    op.drop_table('governance_case')
