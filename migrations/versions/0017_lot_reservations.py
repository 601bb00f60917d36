"""Lot reservations: each open plan line's hold on a lot's units, and the per-lot row a reservation locks
so that no two plans promise the same units (governance/reservations.py).

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def _text(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    op.create_table(
        'lot_reservation',
        sa.Column('case_id', _text(200), nullable=False),
        sa.Column('plan_no', sa.Integer(), nullable=False),
        sa.Column('line_no', sa.Integer(), nullable=False),
        sa.Column('sku', _text(80), nullable=False),
        sa.Column('site', _text(40), nullable=False),
        sa.Column('lot', _text(80), nullable=False),
        sa.Column('serial', _text(80), nullable=False),
        sa.Column('quantity', sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column('consumed', sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column('state', _text(10), nullable=False),
        sa.Column('reason', _text(2000), nullable=False),
        sa.Column('reserved_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('case_id', 'plan_no', 'line_no'),
    )
    op.create_index('ix_lot_reservation_lot_state', 'lot_reservation', ['sku', 'site', 'lot', 'serial', 'state'])
    op.create_table(
        'lot_reservation_lock',
        sa.Column('sku', _text(80), nullable=False),
        sa.Column('site', _text(40), nullable=False),
        sa.Column('lot', _text(80), nullable=False),
        sa.Column('serial', _text(80), nullable=False),
        sa.PrimaryKeyConstraint('sku', 'site', 'lot', 'serial'),
    )


def downgrade() -> None:
    op.drop_table('lot_reservation_lock')
    op.drop_index('ix_lot_reservation_lot_state', table_name='lot_reservation')
    op.drop_table('lot_reservation')
