"""inventory tables

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('site',
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.PrimaryKeyConstraint('code')
    )
    op.create_table('snapshot',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('checksum', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('row_counts', sa.JSON(), nullable=False),
    sa.Column('loaded_by', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('loaded_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('checksum')
    )
    with op.batch_alter_table('snapshot', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_snapshot_as_of'), ['as_of'], unique=False)

    op.create_table('demand_record',
    sa.Column('snapshot_id', sa.Integer(), nullable=False),
    sa.Column('sku', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('site', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('period', sqlmodel.sql.sqltypes.AutoString(length=7), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('qty', sa.Numeric(precision=18, scale=4), nullable=False),
    sa.ForeignKeyConstraint(['snapshot_id'], ['snapshot.id'], ),
    sa.PrimaryKeyConstraint('snapshot_id', 'sku', 'site', 'period', 'kind')
    )
    op.create_table('lot_position',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('snapshot_id', sa.Integer(), nullable=False),
    sa.Column('sku', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('site', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('lot', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('serial', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('qty', sa.Numeric(precision=18, scale=4), nullable=False),
    sa.Column('received_on', sa.Date(), nullable=False),
    sa.Column('manufactured_on', sa.Date(), nullable=True),
    sa.Column('expires_on', sa.Date(), nullable=True),
    sa.Column('last_movement_on', sa.Date(), nullable=True),
    sa.Column('qc_status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('udi', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.ForeignKeyConstraint(['snapshot_id'], ['snapshot.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('snapshot_id', 'sku', 'site', 'lot', 'serial', name='uq_lot_position_key')
    )
    op.create_table('material',
    sa.Column('snapshot_id', sa.Integer(), nullable=False),
    sa.Column('sku', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('category', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('base_uom', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('unit_cost', sa.Numeric(precision=18, scale=4), nullable=False),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
    sa.Column('risk_class', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=True),
    sa.Column('lifecycle', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('storage', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('shelf_life_days', sa.Integer(), nullable=True),
    sa.Column('supplier', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('return_window_days', sa.Integer(), nullable=True),
    sa.Column('substitutes', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['snapshot_id'], ['snapshot.id'], ),
    sa.PrimaryKeyConstraint('snapshot_id', 'sku')
    )
    op.create_table('movement',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('snapshot_id', sa.Integer(), nullable=False),
    sa.Column('sku', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('site', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('lot', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('serial', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('type', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('qty', sa.Numeric(precision=18, scale=4), nullable=False),
    sa.Column('moved_on', sa.Date(), nullable=False),
    sa.Column('reference', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.ForeignKeyConstraint(['snapshot_id'], ['snapshot.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('movement', schema=None) as batch_op:
        batch_op.create_index('ix_movement_lot', ['snapshot_id', 'sku', 'site', 'lot', 'serial'], unique=False)

    op.create_table('purchase_order_line',
    sa.Column('snapshot_id', sa.Integer(), nullable=False),
    sa.Column('po', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('line', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('sku', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('site', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('qty_open', sa.Numeric(precision=18, scale=4), nullable=False),
    sa.Column('ordered_on', sa.Date(), nullable=True),
    sa.Column('promised_on', sa.Date(), nullable=True),
    sa.Column('received_on', sa.Date(), nullable=True),
    sa.Column('received_qty', sa.Numeric(precision=18, scale=4), nullable=True),
    sa.ForeignKeyConstraint(['snapshot_id'], ['snapshot.id'], ),
    sa.PrimaryKeyConstraint('snapshot_id', 'po', 'line')
    )
    with op.batch_alter_table('purchase_order_line', schema=None) as batch_op:
        batch_op.create_index('ix_purchase_order_line_sku_site', ['snapshot_id', 'sku', 'site'], unique=False)

    op.create_table('uom_conversion',
    sa.Column('snapshot_id', sa.Integer(), nullable=False),
    sa.Column('sku', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('uom', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('factor', sa.Numeric(precision=18, scale=6), nullable=False),
    sa.ForeignKeyConstraint(['snapshot_id'], ['snapshot.id'], ),
    sa.PrimaryKeyConstraint('snapshot_id', 'sku', 'uom')
    )


def downgrade() -> None:
    op.drop_table('uom_conversion')
    with op.batch_alter_table('purchase_order_line', schema=None) as batch_op:
        batch_op.drop_index('ix_purchase_order_line_sku_site')

    op.drop_table('purchase_order_line')
    with op.batch_alter_table('movement', schema=None) as batch_op:
        batch_op.drop_index('ix_movement_lot')

    op.drop_table('movement')
    op.drop_table('material')
    op.drop_table('lot_position')
    op.drop_table('demand_record')
    with op.batch_alter_table('snapshot', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_snapshot_as_of'))

    op.drop_table('snapshot')
    op.drop_table('site')
