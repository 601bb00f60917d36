"""The latest movement of each lot position, kept on the position: a scan reads it instead of grouping
every movement of the snapshot again (a quarter of a scan's database time at 200,000 lots).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('lot_position', sa.Column('latest_movement_on', sa.Date(), nullable=True))
    op.execute(
        "UPDATE lot_position SET latest_movement_on = (SELECT max(m.moved_on) FROM movement m "
        "WHERE m.snapshot_id = lot_position.snapshot_id AND m.sku = lot_position.sku AND m.site = lot_position.site "
        "AND m.lot = lot_position.lot AND m.serial = lot_position.serial)")


def downgrade() -> None:
    with op.batch_alter_table('lot_position') as table:
        table.drop_column('latest_movement_on')
