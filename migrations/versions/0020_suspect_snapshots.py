"""Suspect snapshots: a load that has no lots, or removes more of the positions or value of the last accepted
snapshot than the policy allows, is stored as suspect and used by nothing until a person accepts it. Every
snapshot stored before this revision was used as loaded: accepted at its load.

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE, no batch copy: on SQLite a copy of `snapshot` would have to be dropped, and every
    # other table's foreign key refuses that.
    op.add_column('snapshot', sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False,
                                        server_default='accepted'))
    op.add_column('snapshot', sa.Column('guard', sa.JSON(), nullable=False, server_default=sa.text("'{}'")))
    op.add_column('snapshot', sa.Column('accepted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    op.add_column('snapshot', sa.Column('decided_by', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False,
                                        server_default=''))
    op.add_column('snapshot', sa.Column('decision_reason', sqlmodel.sql.sqltypes.AutoString(length=2000),
                                        nullable=False, server_default=''))
    op.execute("UPDATE snapshot SET accepted_at = loaded_at")


def downgrade() -> None:
    for column in ('decision_reason', 'decided_by', 'accepted_at', 'guard', 'state'):
        op.drop_column('snapshot', column)  # SQLite 3.35 and later drop a column in place
