"""Fast, transactional bulk inserts: COPY on PostgreSQL (INSERT for a few rows), executemany on SQLite.

An ERP export carries a million movements; ORM objects would take minutes and gigabytes for that.
Rows go in as plain tuples in bounded chunks, inside the caller's transaction, so a rollback still
removes every one of them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import Connection, Date, Numeric, Table

CHUNK_ROWS = 20_000
COPY_FROM_ROWS = 100
"""Fewer rows go to PostgreSQL as one INSERT: COPY's start and end cost round trips of their own, the
larger part of writing the one movement or few findings of a re-evaluation."""


def _sqlite_converter(column_type: Any) -> Callable[[Any], Any] | None:
    """sqlite3 adapts neither Decimal nor (without a deprecation warning) date."""
    if isinstance(column_type, Date):
        return date.isoformat
    if isinstance(column_type, Numeric):
        return str
    return None


class BulkWriter:
    """Collects row tuples for one table and writes them in chunks; call `flush` before committing."""

    def __init__(self, connection: Connection, table: Table, columns: Sequence[str]):
        self._connection = connection
        self._table = table
        self._columns = list(columns)
        self._buffer: list[tuple[Any, ...]] = []
        self.written = 0
        self._postgres = connection.dialect.name == "postgresql"
        converters = [_sqlite_converter(table.c[name].type) for name in self._columns]
        self._converters = [] if self._postgres else [(i, c) for i, c in enumerate(converters) if c]

    def add(self, row: tuple[Any, ...]) -> None:
        self._buffer.append(row)
        if len(self._buffer) >= CHUNK_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self._buffer:
            return
        rows, self._buffer = self._buffer, []
        if self._postgres and len(rows) >= COPY_FROM_ROWS:
            self._copy(rows)
        else:
            self._executemany(rows)
        self.written += len(rows)

    def _copy(self, rows: list[tuple[Any, ...]]) -> None:
        columns = ", ".join(f'"{name}"' for name in self._columns)
        raw = self._connection.connection.driver_connection
        with raw.cursor() as cursor, cursor.copy(f'COPY "{self._table.name}" ({columns}) FROM STDIN') as copy:  # type: ignore[union-attr]
            for row in rows:
                copy.write_row(row)

    def _executemany(self, rows: list[tuple[Any, ...]]) -> None:
        if self._converters:
            converted = []
            for row in rows:
                values = list(row)
                for i, convert in self._converters:
                    if values[i] is not None:
                        values[i] = convert(values[i])
                converted.append(values)
            rows = converted  # type: ignore[assignment]
        columns = ", ".join(f'"{name}"' for name in self._columns)
        marks = ", ".join(("%s" if self._postgres else "?") for _ in self._columns)
        self._connection.exec_driver_sql(
            f'INSERT INTO "{self._table.name}" ({columns}) VALUES ({marks})', [tuple(r) for r in rows]
        )

