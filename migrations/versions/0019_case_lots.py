"""Case lots: the lots of each case's lines as rows (purchase-order lines have none), so case lists filter
by lot through an index; filled from the lines of the cases already mirrored.

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None

BATCH = 1_000
"""Cases read (and their lots written) at a time, so a large mirror fills in bounded memory."""


def _text(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    case_lot = op.create_table(
        'case_lot',
        sa.Column('case_id', _text(200), nullable=False),
        sa.Column('sku', _text(80), nullable=False),
        sa.Column('site', _text(40), nullable=False),
        sa.Column('lot', _text(80), nullable=False),
        sa.Column('serial', _text(80), nullable=False),
        sa.PrimaryKeyConstraint('case_id', 'lot', 'serial'),
    )
    op.create_index('ix_case_lot_sku_site_lot', 'case_lot', ['sku', 'site', 'lot'])
    op.create_index('ix_case_lot_lot', 'case_lot', ['lot'])
    _fill(op.get_bind(), case_lot)


def _fill(connection: sa.Connection, case_lot: sa.Table) -> None:
    """Every mirrored case's stock lines as rows, as governance/service.py writes them for new events (the
    table as this revision knows it, not the model, which may have moved on)."""
    cases = sa.table('governance_case', sa.column('id', sa.String()), sa.column('sku', sa.String()),
                     sa.column('site', sa.String()), sa.column('lines', sa.JSON()))
    after = ""
    while True:
        batch = connection.execute(sa.select(cases.c.id, cases.c.sku, cases.c.site, cases.c.lines)
                                   .where(cases.c.id > after).order_by(cases.c.id).limit(BATCH)).all()
        if not batch:
            return
        rows: list[dict[str, Any]] = []
        for case in batch:
            lots = {(line.get('lot') or '', line.get('serial') or '') for line in case.lines or []
                    if not line.get('po')}
            rows += [{'case_id': case.id, 'sku': case.sku, 'site': case.site, 'lot': lot, 'serial': serial}
                     for lot, serial in sorted(lots)]
        if rows:
            connection.execute(case_lot.insert(), rows)
        after = batch[-1].id


def downgrade() -> None:
    op.drop_index('ix_case_lot_lot', table_name='case_lot')
    op.drop_index('ix_case_lot_sku_site_lot', table_name='case_lot')
    op.drop_table('case_lot')
