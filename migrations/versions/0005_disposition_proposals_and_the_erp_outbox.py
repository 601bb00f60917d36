"""disposition proposals and the ERP outbox

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('erp_instruction',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('idempotency_key', sqlmodel.sql.sqltypes.AutoString(length=260), nullable=False),
    sa.Column('case_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('proposal_no', sa.Integer(), nullable=False),
    sa.Column('disposition', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('sku', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('site', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('lot', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('serial', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('quantity', sa.Numeric(precision=20, scale=6), nullable=False),
    sa.Column('value', sa.Numeric(precision=20, scale=4), nullable=False),
    sa.Column('target', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('postpone_to', sa.Date(), nullable=True),
    sa.Column('approved_by', sa.JSON(), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('exported_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('confirmed_by', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('idempotency_key')
    )
    with op.batch_alter_table('erp_instruction', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_erp_instruction_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_erp_instruction_state'), ['state'], unique=False)

    with op.batch_alter_table('governance_case', schema=None) as batch_op:
        batch_op.add_column(sa.Column('proposal', sa.JSON(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('governance_case', schema=None) as batch_op:
        batch_op.drop_column('proposal')

    with op.batch_alter_table('erp_instruction', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_erp_instruction_state'))
        batch_op.drop_index(batch_op.f('ix_erp_instruction_case_id'))

    op.drop_table('erp_instruction')
