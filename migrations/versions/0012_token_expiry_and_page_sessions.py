"""API tokens expire and record who had them made; page sessions are kept on the server.

Tokens issued before this revision had no expiry: they get 90 days (the default of
STOCKWARDEN_TOKEN_DAYS) from the upgrade, so nothing that uses one stops at once, and `created_by`
"stockwarden", which is what their audit entry said.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

_TOKEN = sa.table('api_token', sa.column('expires_at', sa.DateTime(timezone=True)), sa.column('created_by'))


def upgrade() -> None:
    with op.batch_alter_table('api_token') as batch:
        batch.add_column(sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
        batch.add_column(sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True))
    op.execute(_TOKEN.update().values(created_by='stockwarden', expires_at=datetime.now(UTC) + timedelta(days=90)))
    with op.batch_alter_table('api_token') as batch:
        batch.alter_column('created_by', existing_type=sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False)
        batch.alter_column('expires_at', existing_type=sa.DateTime(timezone=True), nullable=False)
        batch.create_index('ix_api_token_person', ['person'], unique=False)
    op.create_table('page_session',
    sa.Column('id_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('person', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('began_with', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('token_id', sa.Integer(), nullable=True),
    sa.Column('link_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_why', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.ForeignKeyConstraint(['token_id'], ['api_token.id'], ),
    sa.PrimaryKeyConstraint('id_hash')
    )
    op.create_index('ix_page_session_token_id', 'page_session', ['token_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_page_session_token_id', table_name='page_session')
    op.drop_table('page_session')
    with op.batch_alter_table('api_token') as batch:
        batch.drop_index('ix_api_token_person')
        batch.drop_column('expires_at')
        batch.drop_column('created_by')
