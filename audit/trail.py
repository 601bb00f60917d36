"""Appending to and verifying the hash-chained audit trail.

Callers own the transaction: an entry is written in the same transaction as the change it records, so
there is never a change without its entry or an entry without its change. Two writers racing for the
same sequence number collide on the primary key instead of forking the chain.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, insert, or_, select
from sqlmodel import col

from audit.models import AuditEntry

GENESIS = "0" * 64


def canonical_time(at: datetime) -> str:
    if at.tzinfo is None:  # SQLite hands back naive datetimes; they were written as UTC
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def entry_hash(*, seq: int, at: datetime, actor: str, action: str, subject: str, before: Any, after: Any,
               reason: str, policy_version: str, workflow_id: str, prev_hash: str) -> str:
    body = json.dumps([seq, canonical_time(at), actor, action, subject, before, after, reason, policy_version,
                       workflow_id, prev_hash], sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def append(connection: Connection, *, actor: str, action: str, subject: str, before: Any = None,
           after: Any = None, reason: str = "", policy_version: str = "", workflow_id: str = "",
           at: datetime | None = None) -> int:
    """Write the next entry of the chain inside the caller's transaction; returns its sequence number."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SELECT pg_advisory_xact_lock(74201)")  # one appender at a time
    elif connection.dialect.name == "sqlite":
        # Take the database's write lock before reading the chain's tail. Python's sqlite3 begins a
        # transaction only at the first write, so the SELECT below would otherwise read a tail that
        # another appender is about to extend, and the INSERT would collide on seq (measured: most
        # appends from six threads). A write that changes no row takes the lock and fires no trigger.
        connection.exec_driver_sql("DELETE FROM audit_entry WHERE seq < 0")
    last = connection.execute(select(col(AuditEntry.seq), col(AuditEntry.hash)).order_by(col(AuditEntry.seq).desc()).limit(1)).first()
    seq, prev_hash = (last.seq + 1, last.hash) if last else (1, GENESIS)
    at = at or datetime.now(UTC)
    values = dict(seq=seq, at=at, actor=actor, action=action, subject=subject, before=before, after=after,
                  reason=reason, policy_version=policy_version, workflow_id=workflow_id, prev_hash=prev_hash)
    connection.execute(insert(AuditEntry).values(**values, hash=entry_hash(**values)))
    return seq


@dataclass(frozen=True)
class ChainBreak:
    seq: int
    problem: str

    def __str__(self) -> str:
        return f"entry {self.seq}: {self.problem}"


def verify(connection: Connection) -> tuple[int, list[ChainBreak]]:
    """Walk the whole chain; returns the number of entries and every place where it does not hold."""
    breaks: list[ChainBreak] = []
    expected_prev, expected_seq, count = GENESIS, 1, 0
    for entry in connection.execute(select(AuditEntry).order_by(col(AuditEntry.seq))):
        count += 1
        if entry.seq != expected_seq:
            breaks.append(ChainBreak(entry.seq, f"sequence jumps from {expected_seq - 1} to {entry.seq}"))
        if entry.prev_hash != expected_prev:
            breaks.append(ChainBreak(entry.seq, "does not follow the entry before it (prev_hash differs)"))
        recomputed = entry_hash(seq=entry.seq, at=entry.at, actor=entry.actor, action=entry.action,
                                subject=entry.subject, before=entry.before, after=entry.after, reason=entry.reason,
                                policy_version=entry.policy_version, workflow_id=entry.workflow_id,
                                prev_hash=entry.prev_hash)
        if recomputed != entry.hash:
            breaks.append(ChainBreak(entry.seq, "content was changed after it was written (hash differs)"))
        expected_prev, expected_seq = entry.hash, entry.seq + 1
    return count, breaks


def entries(connection: Connection, *, subject: str | None = None, case: str | None = None,
            actor: str | None = None, since: datetime | None = None, until: datetime | None = None,
            after: int | None = None, limit: int = 1000) -> Sequence[Row[Any]]:
    """Audit entries, oldest first, filtered by subject (a case is `case:<workflow id>`), case (its own
    entries and those of its ERP instructions), actor and time; `after` a sequence number, for pages."""
    query = select(AuditEntry).order_by(col(AuditEntry.seq)).limit(limit)
    if after is not None:
        query = query.where(col(AuditEntry.seq) > after)
    if case:
        query = query.where(or_(col(AuditEntry.subject) == f"case:{case}", col(AuditEntry.workflow_id) == case))
    if subject:
        query = query.where(col(AuditEntry.subject) == subject)
    if actor:
        query = query.where(col(AuditEntry.actor) == actor)
    if since:
        query = query.where(col(AuditEntry.at) >= since)
    if until:
        query = query.where(col(AuditEntry.at) < until)
    return connection.execute(query).all()
