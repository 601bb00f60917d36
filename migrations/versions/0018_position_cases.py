"""Cases govern stock positions: the mirror knows each case's position, generation and latest snapshot,
and an instruction records what was confirmed carried out (a partial confirmation leaves the rest governed).

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('governance_case') as batch:
        batch.add_column(sa.Column('position', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False,
                                   server_default=''))
        batch.add_column(sa.Column('generation', sa.Integer(), nullable=False, server_default='1'))
        batch.add_column(sa.Column('snapshot_id', sa.Integer(), nullable=False, server_default='0'))
        batch.create_index('ix_governance_case_position', ['position'])
    with op.batch_alter_table('erp_instruction') as batch:
        batch.add_column(sa.Column('done', sa.Numeric(20, 6), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('erp_instruction') as batch:
        batch.drop_column('done')
    with op.batch_alter_table('governance_case') as batch:
        batch.drop_index('ix_governance_case_position')
        batch.drop_column('snapshot_id')
        batch.drop_column('generation')
        batch.drop_column('position')
