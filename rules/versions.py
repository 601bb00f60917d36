"""Policy versions: activating a checked file, finding the active one, listing and comparing versions.

A policy that fails its checks is never stored and the active one stays. Every activation is audited
in the same transaction that makes it, and a (policy, version) pair always means one text: changing a
policy means raising its version. A text that moves duties (owners, signers, approvals: rules/duties.py)
is not activated by its proposer alone: it waits, pending, for an admin's or another compliance
officer's signature.
"""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from sqlalchemy import ColumnElement, Connection, Engine, insert, select, update
from sqlalchemy.orm import Mapped
from sqlmodel import col

from audit.trail import append
from core.db import inserted_id, table
from inventory.metrics import latest_snapshot_id
from inventory.models import Lifecycle, Material, QcStatus, RiskClass, Site, Storage
from rules.compiler import policy_hash
from rules.duties import DutyChange, duty_changes
from rules.loader import parse_policy, read_document
from rules.models import PolicyPending, PolicyVersion
from rules.policy import Policy

MAX_VERSION = 2**31 - 1


class PolicyConflict(Exception):
    """The file is valid but cannot be activated as it is (say, a reused version number)."""


@dataclass(frozen=True)
class Activation:
    version: PolicyVersion
    changed: bool


def known_values(connection: Connection) -> dict[str, set[str]]:
    """What scopes can match: the fixed vocabularies, and the categories and sites the data has."""
    known: dict[str, set[str]] = {
        "risk_class": {m.value for m in RiskClass}, "lifecycle": {m.value for m in Lifecycle},
        "storage": {m.value for m in Storage}, "qc_status": {m.value for m in QcStatus},
    }
    latest = latest_snapshot_id(connection)  # the one scans use, never a suspect load
    if latest is not None:
        known["category"] = set(connection.execute(
            select(col(Material.category)).where(col(Material.snapshot_id) == latest).distinct()).scalars())
        known["site"] = set(connection.execute(select(col(Site.code))).scalars())
    return known


def _row(connection: Connection, *conditions: ColumnElement[bool] | Mapped[bool]) -> PolicyVersion | None:
    query = select(PolicyVersion).where(*conditions).order_by(col(PolicyVersion.id).desc()).limit(1)
    found = connection.execute(query).first()
    return None if found is None else PolicyVersion.model_validate(found._mapping)


@lru_cache(maxsize=16)
def stored_policy(text: str, label: str) -> Policy:
    """Stored versions were checked when activated and never change: parse each once per process."""
    return parse_policy(text, label)


def active_version(connection: Connection) -> tuple[PolicyVersion, Policy] | None:
    row = _row(connection, col(PolicyVersion.active))
    if row is None:
        return None
    return row, stored_policy(row.text, f"policy_version {row.id} ({row.name} v{row.version})")


def activate(engine: Engine, path: Path, *, actor: str) -> Activation | Pending:
    """Check the file, then make it the one active version (or pending, see activate_text)."""
    return activate_text(engine, read_document(path), str(path), actor=actor)


def activate_text(engine: Engine, text: str, path: str, *, actor: str) -> Activation | Pending:
    """Check a policy's text (`path` names it in problems and in the record), then make it the one
    active version, or, when it moves duties (rules/duties.py), store it as pending until a second
    person signs it. Raises PolicyInvalid or PolicyConflict."""
    with engine.connect() as connection:
        known = known_values(connection)
    policy = parse_policy(text, path, known=known)
    text_hash = hashlib.sha256(text.encode()).hexdigest()
    with engine.begin() as connection:
        active = active_version(connection)
        if active is not None and active[0].text_hash == text_hash:
            return Activation(active[0], changed=False)
        _check_version_number(connection, policy, text_hash, path)
        changes = duty_changes(None if active is None else active[1], policy)
        if not changes:
            return Activation(_store_active(connection, policy, text, text_hash, path, actor=actor), changed=True)
        return _propose(connection, policy, text, text_hash, path, actor=actor,
                        base=None if active is None else active[0], changes=changes)


def _check_version_number(connection: Connection, policy: Policy, text_hash: str, path: str) -> None:
    same_number = _row(connection, col(PolicyVersion.name) == policy.policy, col(PolicyVersion.version) == policy.version)
    if same_number is not None and same_number.text_hash != text_hash:
        raise PolicyConflict(
            f"{path}: version {policy.version} of policy '{policy.policy}' was activated before "
            f"({same_number.activated_at:%Y-%m-%d %H:%M} UTC, by {same_number.activated_by}) with other content; "
            "raise the version number")


def _store_active(connection: Connection, policy: Policy, text: str, text_hash: str, path: str, *, actor: str,
                  proposed_by: str = "") -> PolicyVersion:
    """Make `text` the one active version, audited, in the caller's transaction. `actor` activates it;
    `proposed_by` names the proposer when `actor` is the second signer."""
    current = _row(connection, col(PolicyVersion.active))
    connection.execute(update(PolicyVersion).where(col(PolicyVersion.active)).values(active=False))
    row = PolicyVersion(name=policy.policy, version=policy.version, text_hash=text_hash,
                        policy_hash=policy_hash(policy), text=text, path=path[-500:], activated_by=actor,
                        activated_at=datetime.now(UTC), active=True)
    row.id = inserted_id(connection.execute(table(PolicyVersion).insert().values(**row.model_dump(exclude={"id"}))))
    before = None if current is None else {"policy": current.name, "version": current.version,
                                           "text_hash": current.text_hash}
    after = {"policy": policy.policy, "version": policy.version, "text_hash": text_hash, "path": path}
    if proposed_by:
        after["proposed_by"] = proposed_by
    append(connection, actor=actor, action="policy.activate", subject=f"policy:{policy.policy}", before=before,
           after=after, policy_version=f"{policy.policy} v{policy.version}")
    return row


@dataclass(frozen=True)
class Pending:
    """A policy text that moves duties, stored until a second person signs it; nothing changed yet."""

    row: PolicyPending
    changes: list[DutyChange]


class SecondSignatureRefused(Exception):
    """Why this person cannot sign a pending activation (or nobody can any more)."""


PENDING, APPROVED, REJECTED = "pending", "approved", "rejected"


def _propose(connection: Connection, policy: Policy, text: str, text_hash: str, path: str, *, actor: str,
             base: PolicyVersion | None, changes: list[DutyChange]) -> Pending:
    row = PolicyPending(name=policy.policy, version=policy.version, text=text, text_hash=text_hash, path=path[-500:],
                        base_version_id=None if base is None else base.id, changes=[str(c) for c in changes],
                        proposed_by=actor, proposed_at=datetime.now(UTC))
    row.id = inserted_id(connection.execute(insert(PolicyPending).values(**row.model_dump(exclude={"id"}))))
    append(connection, actor=actor, action="policy.proposed", subject=f"policy:{policy.policy}",
           after={"pending": row.id, "policy": policy.policy, "version": policy.version,
                  "text_hash": text_hash, "changes": row.changes},
           policy_version=f"{policy.policy} v{policy.version}")
    return Pending(row, changes)


def _open_pending(connection: Connection, pending_id: int) -> PolicyPending:
    row = connection.execute(select(PolicyPending).where(col(PolicyPending.id) == pending_id)).first()
    if row is None:
        raise SecondSignatureRefused(f"no pending policy activation {pending_id} (see `stockwarden policy pending`)")
    found = PolicyPending.model_validate(row._mapping)
    if found.state != PENDING:
        raise SecondSignatureRefused(f"pending activation {pending_id} was already {found.state} by {found.signed_by}")
    return found


def approve_pending(engine: Engine, pending_id: int, *, signer: str, reason: str = "") -> Activation:
    """The second signature: activates the pending text, if the signer did not propose it and the active
    policy is still the one its changes were judged against. Raises SecondSignatureRefused."""
    with engine.begin() as connection:
        pending = _open_pending(connection, pending_id)
        if signer.strip().lower() == pending.proposed_by.strip().lower():
            raise SecondSignatureRefused(f"{signer} proposed pending activation {pending_id}; a second person "
                                         "(an admin or another compliance officer) must sign it")
        active = _row(connection, col(PolicyVersion.active))
        if (None if active is None else active.id) != pending.base_version_id:
            raise SecondSignatureRefused(f"the active policy changed since pending activation {pending_id} was "
                                         "proposed, and its changes were judged against another version: propose it again")
        policy = stored_policy(pending.text, f"pending activation {pending_id}")
        row = _store_active(connection, policy, pending.text, pending.text_hash, pending.path, actor=signer,
                            proposed_by=pending.proposed_by)
        _close_pending(connection, pending, APPROVED, signer, reason)
    return Activation(row, changed=True)


def reject_pending(engine: Engine, pending_id: int, *, signer: str, reason: str) -> PolicyPending:
    """Refuse a pending activation, with a reason; the active policy stays. A proposer may withdraw their
    own this way."""
    if not reason.strip():
        raise SecondSignatureRefused("a rejection needs a reason")
    with engine.begin() as connection:
        return _close_pending(connection, _open_pending(connection, pending_id), REJECTED, signer, reason)


def _close_pending(connection: Connection, pending: PolicyPending, state: str, signer: str,
                   reason: str) -> PolicyPending:
    at = datetime.now(UTC)
    closed = connection.execute(update(PolicyPending)
                                .where(col(PolicyPending.id) == pending.id, col(PolicyPending.state) == PENDING)
                                .values(state=state, signed_by=signer, signed_at=at, reason=reason)).rowcount
    if closed != 1:  # a second signer won the race
        raise SecondSignatureRefused(f"pending activation {pending.id} was signed meanwhile")
    append(connection, actor=signer, action=f"policy.{state}", subject=f"policy:{pending.name}",
           before={"pending": pending.id, "proposed_by": pending.proposed_by},
           after={"pending": pending.id, "version": pending.version, "text_hash": pending.text_hash,
                  "meaning": state}, reason=reason, policy_version=f"{pending.name} v{pending.version}")
    return pending.model_copy(update={"state": state, "signed_by": signer, "signed_at": at, "reason": reason})


def pending_activations(connection: Connection, *, everything: bool = False) -> list[PolicyPending]:
    """Activations waiting for a second signature (with `everything`, the signed and rejected ones too)."""
    query = select(PolicyPending).order_by(col(PolicyPending.id))
    if not everything:
        query = query.where(col(PolicyPending.state) == PENDING)
    return [PolicyPending.model_validate(row._mapping) for row in connection.execute(query)]


def history(connection: Connection) -> list[PolicyVersion]:
    rows = connection.execute(select(PolicyVersion).order_by(col(PolicyVersion.id)))
    return [PolicyVersion.model_validate(row._mapping) for row in rows]


def version_text(connection: Connection, reference: str, *, files: bool = True) -> tuple[str, str]:
    """(label, text) of `reference`: a stored version (`3`, or `default@3`), or (with `files`, as the CLI
    allows and the API does not) a policy file's path."""
    if files and Path(reference).is_file():
        return reference, Path(reference).read_text(encoding="utf-8")
    name, _, number = reference.rpartition("@")
    if not (number.isascii() and number.isdigit()):  # str.isdigit() also takes "³", which int() refuses
        raise PolicyConflict(f"'{reference}' is neither a policy file nor a version such as 3 or default@3")
    if int(number) > MAX_VERSION:  # no version is stored that high, and the database's integer would overflow
        raise PolicyConflict(f"no activated version '{reference}' (see `stockwarden policy history`)")
    conditions = [col(PolicyVersion.version) == int(number)]
    if name:
        conditions.append(col(PolicyVersion.name) == name)
    row = _row(connection, *conditions)
    if row is None:
        raise PolicyConflict(f"no activated version '{reference}' (see `stockwarden policy history`)")
    return f"{row.name}@{row.version}", row.text


def diff_versions(connection: Connection, a: str, b: str, *, files: bool = True) -> str:
    """A unified diff of two policy texts, headed by the rules added, removed and changed."""
    (label_a, text_a), (label_b, text_b) = version_text(connection, a, files=files), version_text(connection, b, files=files)
    rules_a, rules_b = _rules_by_id(text_a, label_a), _rules_by_id(text_b, label_b)
    added = sorted(rules_b.keys() - rules_a.keys())
    removed = sorted(rules_a.keys() - rules_b.keys())
    changed = sorted(k for k in rules_a.keys() & rules_b.keys() if rules_a[k] != rules_b[k])
    head = [f"rules added: {', '.join(added) or '-'}", f"rules removed: {', '.join(removed) or '-'}",
            f"rules changed: {', '.join(changed) or '-'}"]
    body = difflib.unified_diff(text_a.splitlines(), text_b.splitlines(), label_a, label_b, lineterm="")
    return "\n".join([*head, *body])


def _rules_by_id(text: str, label: str) -> dict[str, object]:
    policy = parse_policy(text, label)
    return {rule.id: rule.model_dump(mode="json") for rule in policy.rules}
