"""The whole check behind `stockwarden audit verify` and GET /audit/verify: the hash chain itself, the
chain against the signed checkpoints kept outside the database, and each ERP instruction against the
content hash in its audit entry."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection

from audit.checkpoints import Checkpoint, CheckpointBreak, Kept, Unreadable, check, checkpoint_key, latest
from audit.trail import ChainBreak, verify
from governance.outbox import altered


@dataclass(frozen=True)
class Verdict:
    entries: int
    chain: list[ChainBreak]
    checkpoints: list[CheckpointBreak]
    instructions: list[str]
    checkpoints_checked: int
    latest: Checkpoint | None

    @property
    def problems(self) -> list[str]:
        return [str(b) for b in self.chain] + [str(b) for b in self.checkpoints] + self.instructions

    @property
    def intact(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        if not self.intact:
            return (f"The audit trail of {self.entries} entries is broken in {len(self.problems)} place(s): "
                    f"{len(self.chain)} in the chain, {len(self.checkpoints)} against the checkpoints, "
                    f"{len(self.instructions)} ERP instruction(s) altered.")
        anchored = (f"and {self.checkpoints_checked} signed checkpoint(s) match it, the latest at entry "
                    f"{self.latest.seq} of {self.latest.at}" if self.latest else
                    "but there is no checkpoint yet: nothing outside the database pins it "
                    "(`stockwarden audit checkpoint` writes one)")
        return f"The audit trail holds: {self.entries} entries, every hash in its chain, {anchored}."


def verify_all(connection: Connection, kept: Iterable[Kept | Unreadable], secret_key: str) -> Verdict:
    """`secret_key` is needed only when there are checkpoints to check (CheckpointKeyMissing if empty)."""
    kept = list(kept)
    count, chain = verify(connection)
    key = checkpoint_key(secret_key) if kept else b""
    return Verdict(count, chain, check(connection, kept, key), altered(connection),
                   sum(1 for k in kept if isinstance(k, Kept)), latest(kept, key))
