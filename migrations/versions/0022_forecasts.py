"""Forecasts: per SKU-site and snapshot the method a backtest picked, its accuracy and the naive forecast's
(`sku_site_forecast`), and the months it forecasts (`forecast_month`); inventory/forecast_models.py.

Revision ID: 0022
Revises: 0021
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def _text(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    op.create_table(
        'sku_site_forecast',
        sa.Column('snapshot_id', sa.Integer(), nullable=False),
        sa.Column('sku', _text(80), nullable=False),
        sa.Column('site', _text(40), nullable=False),
        sa.Column('source', _text(10), nullable=False),
        sa.Column('history_months', sa.Integer(), nullable=False),
        sa.Column('demand_months', sa.Integer(), nullable=False),
        sa.Column('demand_class', _text(20), nullable=False),
        sa.Column('adi', sa.Float(), nullable=True),
        sa.Column('cv2', sa.Float(), nullable=True),
        sa.Column('method', _text(20), nullable=False),
        sa.Column('monthly_demand', sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column('backtest_months', sa.Integer(), nullable=False),
        sa.Column('actual', sa.Float(), nullable=False),
        sa.Column('abs_error', sa.Float(), nullable=False),
        sa.Column('error', sa.Float(), nullable=False),
        sa.Column('wape', sa.Float(), nullable=True),
        sa.Column('mase', sa.Float(), nullable=True),
        sa.Column('bias', sa.Float(), nullable=True),
        sa.Column('naive_abs_error', sa.Float(), nullable=False),
        sa.Column('naive_error', sa.Float(), nullable=False),
        sa.Column('naive_wape', sa.Float(), nullable=True),
        sa.Column('naive_mase', sa.Float(), nullable=True),
        sa.Column('naive_bias', sa.Float(), nullable=True),
        sa.Column('made_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['snapshot_id'], ['snapshot.id'], ),
        sa.PrimaryKeyConstraint('snapshot_id', 'sku', 'site'),
    )
    op.create_table(
        'forecast_month',
        sa.Column('snapshot_id', sa.Integer(), nullable=False),
        sa.Column('sku', _text(80), nullable=False),
        sa.Column('site', _text(40), nullable=False),
        sa.Column('period', _text(7), nullable=False),
        sa.Column('qty', sa.Numeric(precision=18, scale=4), nullable=False),
        sa.ForeignKeyConstraint(['snapshot_id'], ['snapshot.id'], ),
        sa.PrimaryKeyConstraint('snapshot_id', 'sku', 'site', 'period'),
    )


def downgrade() -> None:
    op.drop_table('forecast_month')
    op.drop_table('sku_site_forecast')
