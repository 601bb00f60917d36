"""Alembic migrations: the only way tables come to exist, on SQLite and on PostgreSQL alike."""
