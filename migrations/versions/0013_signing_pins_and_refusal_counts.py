"""Signing PINs (a signature's second component) and counts of anonymous refusals per address

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('signing_pin',
    sa.Column('person', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('salt', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('pin_hash', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('kdf', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('set_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('failing_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('person')
    )
    op.create_table('refusal_count',
    sa.Column('address', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('window_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('address', 'reason', 'window_start')
    )


def downgrade() -> None:
    op.drop_table('refusal_count')
    op.drop_table('signing_pin')
