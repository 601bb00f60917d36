"""A person's word on a suspect snapshot: accepted (scans use it from now on) or rejected (never used),
with a reason, in the hash-chained audit trail; and the active policy's share that makes a load suspect.

Why a load is held is inventory/suspect.py; the decision lives here, above inventory, because it is
audited (audit/ sits beside inventory) and because the share is the policy's (rules/policy.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, select, update
from sqlmodel import col

from audit.trail import append
from core.db import table
from inventory.models import Snapshot, SnapshotState
from inventory.suspect import DEFAULT_SUSPECT_DROP, GuardReason, reasons_of
from rules.versions import active_version

REASON_MAX = 2000
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


class SnapshotRefused(Exception):
    """A decision that cannot be made (no such snapshot, not suspect, no reason): nothing changed.
    `status` is the HTTP status the API answers with; `en` and `zh_cn` the words, for a reader of one language."""

    def __init__(self, status: int, en: str, zh_cn: str):
        super().__init__(f"{en} / {zh_cn}")
        self.status, self.en, self.zh_cn = status, en, zh_cn


@dataclass(frozen=True)
class SnapshotListed:
    """One snapshot as lists show it: its state and, for a suspect one, why it is held."""

    id: int
    as_of: str
    source: str
    loaded_by: str
    loaded_at: str
    row_counts: dict[str, Any]
    state: str
    held_because: list[GuardReason]
    accepted_at: str | None
    decided_by: str
    decision_reason: str

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "as_of": self.as_of, "loaded_by": self.loaded_by, "loaded_at": self.loaded_at,
                "row_counts": self.row_counts, "state": self.state,
                "held_because": [{"code": r.code, "en": r.en, "zh-CN": r.zh_cn} for r in self.held_because],
                "accepted_at": self.accepted_at, "decided_by": self.decided_by,
                "decision_reason": self.decision_reason}


def suspect_drop(connection: Connection) -> Decimal:
    """The share (percent) of positions or value a load may remove before it is suspect: the active
    policy's `snapshots.suspect_drop`, 20 % without an active policy."""
    active = active_version(connection)
    return DEFAULT_SUSPECT_DROP if active is None else active[1].snapshots.suspect_drop


def suspect_drop_of(engine: Engine) -> Decimal:
    with engine.connect() as connection:
        return suspect_drop(connection)


def listed(connection: Connection, *, limit: int | None = None) -> list[SnapshotListed]:
    """Snapshots newest first, with their states."""
    query = select(Snapshot).order_by(col(Snapshot.id).desc())
    if limit is not None:
        query = query.limit(limit)
    return [_listed(Snapshot.model_validate(row._mapping)) for row in connection.execute(query)]


def _listed(s: Snapshot) -> SnapshotListed:
    return SnapshotListed(
        int(s.id or 0), s.as_of.isoformat(), s.source, s.loaded_by, s.loaded_at.isoformat(), dict(s.row_counts),
        s.state, reasons_of(s.guard), None if s.accepted_at is None else s.accepted_at.isoformat(),
        s.decided_by, s.decision_reason)


def decide(engine: Engine, snapshot_id: int, *, accept: bool, actor: str, reason: str) -> SnapshotListed:
    """Accept or reject a suspect snapshot, audited in the same transaction. Accepted, it is the latest
    snapshot from now on if no newer one is accepted (inventory.metrics.latest_snapshot): the next scan uses
    it. Raises SnapshotRefused."""
    reason = reason.strip()
    if not reason:
        raise SnapshotRefused(422, "a reason is required (what was checked, and by whom)",
                              "必须填写理由（核对了什么、由谁核对）")
    if CONTROL.search(reason):  # PostgreSQL refuses NUL in text; the others garble a log or a page
        raise SnapshotRefused(422, "the reason holds control characters (other than line breaks and tabs)",
                              "理由包含控制字符（换行和制表符除外）")
    if len(reason) > REASON_MAX:
        raise SnapshotRefused(422, f"the reason is longer than {REASON_MAX} characters",
                              f"理由超过 {REASON_MAX} 个字符")
    state = SnapshotState.ACCEPTED if accept else SnapshotState.REJECTED
    with engine.begin() as connection:
        found = connection.execute(select(Snapshot).where(col(Snapshot.id) == snapshot_id)).first()
        if found is None:
            raise SnapshotRefused(404, f"there is no snapshot {snapshot_id}", f"没有快照 {snapshot_id}")
        before = Snapshot.model_validate(found._mapping)
        now = datetime.now(UTC)
        changed = connection.execute(
            update(table(Snapshot))
            .where(col(Snapshot.id) == snapshot_id, col(Snapshot.state) == SnapshotState.SUSPECT.value)
            .values(state=state.value, accepted_at=now if accept else None, decided_by=actor[:200],
                    decision_reason=reason)).rowcount
        if changed != 1:  # not suspect, or decided by someone else just now
            raise SnapshotRefused(409, f"snapshot {snapshot_id} is {before.state}, not suspect: only a suspect "
                                       "snapshot is accepted or rejected",
                                  f"快照 {snapshot_id} 的状态为 {before.state}，并非可疑：只有可疑快照可以接受或拒绝")
        active = active_version(connection)
        append(connection, actor=actor, action=f"snapshot.{state.value}", subject=f"snapshot:{snapshot_id}",
               before={"state": before.state, "guard": before.guard},
               after={"state": state.value, "as_of": before.as_of.isoformat(), "row_counts": before.row_counts},
               reason=reason, at=now,
               policy_version="" if active is None else f"{active[1].policy} v{active[1].version}")
        after = connection.execute(select(Snapshot).where(col(Snapshot.id) == snapshot_id)).one()
    return _listed(Snapshot.model_validate(after._mapping))
