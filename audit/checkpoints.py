"""Signed checkpoints of the audit chain, kept outside the database, and the chain checked against them.

The hash chain alone proves nothing against someone who can write to the database: they can rewrite an
entry and recompute every later hash with the same public function, or drop the tail. A checkpoint
(sequence, head hash, time, count) signed with a key the database does not hold, and kept elsewhere (an
append-only file here, the Temporal history of workflows/checkpoints.py), pins the chain up to its
sequence: a later rewrite changes the entry at that sequence, a truncation removes it, and a forged
checkpoint fails its signature. Entries after the latest checkpoint are pinned by the next one only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy import Connection, Engine, func, select
from sqlmodel import col

from audit.models import AuditEntry
from audit.trail import GENESIS

KEY_LABEL = b"stockwarden audit checkpoint v1"
"""Derives the checkpoint key from the secret key, so no other use of the secret yields it."""


class CheckpointKeyMissing(RuntimeError):
    def __init__(self) -> None:
        super().__init__("STOCKWARDEN_SECRET_KEY is empty: audit checkpoints can be neither signed nor checked; "
                         "set it to the service's long random secret")


def checkpoint_key(secret_key: str) -> bytes:
    """HMAC-SHA256(secret, label): a key of its own for checkpoints, from the service's secret."""
    if not secret_key:
        raise CheckpointKeyMissing
    return hmac.new(secret_key.encode(), KEY_LABEL, hashlib.sha256).digest()


@dataclass(frozen=True)
class Checkpoint:
    """The chain's head at a moment: entry `seq` has hash `head_hash`, and `count` entries end with it."""

    seq: int
    head_hash: str
    count: int
    at: str
    """ISO UTC time it was taken."""
    reason: str
    """daily, pack 2026-11, or who asked (`stockwarden audit checkpoint`)."""
    signature: str = ""

    def signed_text(self) -> bytes:
        body = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "signature"}
        return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()

    def signed(self, key: bytes) -> Checkpoint:
        return replace(self, signature=hmac.new(key, self.signed_text(), hashlib.sha256).hexdigest())

    def genuine(self, key: bytes) -> bool:
        expected = hmac.new(key, self.signed_text(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, self.signature)

    def line(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def take(connection: Connection, key: bytes, reason: str, now: datetime | None = None) -> Checkpoint:
    """A signed checkpoint of the chain's head as this connection sees it."""
    last = connection.execute(select(col(AuditEntry.seq), col(AuditEntry.hash)).order_by(col(AuditEntry.seq).desc()).limit(1)).first()
    seq, head = (last.seq, last.hash) if last else (0, GENESIS)
    # Counted up to the head, not the whole table: an entry appended meanwhile is not this checkpoint's.
    count = connection.execute(select(func.count()).select_from(AuditEntry).where(col(AuditEntry.seq) <= seq)).scalar_one()
    at = (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")
    return Checkpoint(seq, head, count, at, reason).signed(key)


@dataclass(frozen=True)
class Unreadable:
    """A line of the checkpoint file that is not a checkpoint at all."""

    where: str
    problem: str


@dataclass(frozen=True)
class Kept:
    """A checkpoint and where it was read (for messages: file and line, or the Temporal workflow)."""

    checkpoint: Checkpoint
    where: str


class CheckpointFile:
    """The append-only JSON-lines store: one checkpoint a line, never rewritten by Stockwarden. Each
    append is flushed to disk before it returns."""

    def __init__(self, path: Path):
        self.path = path

    def append(self, checkpoint: Checkpoint) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        with os.fdopen(descriptor, "a", encoding="utf-8") as out:
            out.write(checkpoint.line() + "\n")
            out.flush()
            os.fsync(out.fileno())

    def read(self) -> Iterator[Kept | Unreadable]:
        if not self.path.exists():
            return
        with self.path.open(encoding="utf-8", errors="replace") as lines:
            for line_no, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    data = json.loads(line)
                    checkpoint = Checkpoint(int(data["seq"]), str(data["head_hash"]), int(data["count"]),
                                            str(data["at"]), str(data["reason"]), str(data["signature"]))
                except (ValueError, KeyError, TypeError) as bad:
                    yield Unreadable(f"{self.path} line {line_no}", f"not a checkpoint ({type(bad).__name__}: {bad})")
                    continue
                yield Kept(checkpoint, f"{self.path} line {line_no}")


def latest(kept: Iterable[Kept | Unreadable], key: bytes) -> Checkpoint | None:
    """The genuine checkpoint with the highest sequence (the latest of those), if any."""
    genuine = [k.checkpoint for k in kept if isinstance(k, Kept) and k.checkpoint.genuine(key)]
    return max(genuine, key=lambda c: (c.seq, c.at), default=None)


@dataclass(frozen=True)
class CheckpointBreak:
    where: str
    problem: str

    def __str__(self) -> str:
        return f"{self.where}: {self.problem}"


def check(connection: Connection, kept: Iterable[Kept | Unreadable], key: bytes) -> list[CheckpointBreak]:
    """Every checkpoint against the trail: forged (signature fails), truncated or removed (its sequence
    is beyond the trail's end, or fewer entries lead to it), rewritten (another hash at its sequence)."""
    breaks: list[CheckpointBreak] = []
    end = connection.execute(select(func.max(col(AuditEntry.seq)))).scalar() or 0
    for item in kept:
        if isinstance(item, Unreadable):
            breaks.append(CheckpointBreak(item.where, f"forged checkpoint: {item.problem}"))
            continue
        cp, where = item.checkpoint, f"{item.where} (checkpoint {item.checkpoint.seq} of {item.checkpoint.at})"
        if not cp.genuine(key):
            breaks.append(CheckpointBreak(where, "forged checkpoint: its signature does not match (not signed "
                                                 "with this service's key)"))
            continue
        if cp.seq > end:
            breaks.append(CheckpointBreak(where, f"truncated/removed entries after {end}: the trail ends at {end}, "
                                                 f"the checkpoint saw {cp.count} entries up to {cp.seq}"))
            continue
        if cp.seq == 0:
            continue
        at_seq = connection.execute(select(col(AuditEntry.hash)).where(col(AuditEntry.seq) == cp.seq)).scalar()
        if at_seq is None:
            breaks.append(CheckpointBreak(where, f"truncated/removed entries after {cp.seq - 1}: entry {cp.seq} "
                                                 "is gone"))
        elif at_seq != cp.head_hash:
            breaks.append(CheckpointBreak(where, f"rewritten before {cp.seq}: entry {cp.seq} has hash "
                                                 f"{at_seq[:16]}…, the checkpoint {cp.head_hash[:16]}…"))
        else:
            count = connection.execute(select(func.count()).select_from(AuditEntry)
                                       .where(col(AuditEntry.seq) <= cp.seq)).scalar_one()
            if count != cp.count:
                breaks.append(CheckpointBreak(where, f"truncated/removed entries before {cp.seq}: {count} entries "
                                                     f"lead to it, the checkpoint counted {cp.count}"))
    return breaks


@dataclass(frozen=True)
class Anchor:
    """Where checkpoints are written and the secret their key comes from (the key is derived when used,
    so a service without a secret fails on its first checkpoint with a message, not at start)."""

    store: CheckpointFile
    secret_key: str

    @classmethod
    def from_settings(cls, settings: _HasCheckpointSettings) -> Anchor:
        return cls(CheckpointFile(settings.resolved_checkpoint_file()), settings.secret_key)

    @property
    def key(self) -> bytes:
        return checkpoint_key(self.secret_key)

    def write(self, engine: Engine, reason: str, now: datetime | None = None) -> Checkpoint:
        """Take a checkpoint of the trail's head and append it to the file (flushed to disk)."""
        key = self.key
        with engine.connect() as connection:
            checkpoint = take(connection, key, reason, now)
        self.store.append(checkpoint)
        return checkpoint


class _HasCheckpointSettings(Protocol):
    secret_key: str

    def resolved_checkpoint_file(self) -> Path: ...
