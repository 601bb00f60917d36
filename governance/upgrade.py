"""The upgrade from cases per (rule, SKU, site) to one case per stock position: which new case takes over
each open case of the per-rule model, and ending the old case with an audit entry that names it.

A per-rule case's mirror row has no position (migration 0018 left it empty). At the first scan after the
upgrade each such case still open is merged into the new case of its SKU-site: the one whose lines hold the
old case's lots (an owner split may give a SKU-site several), else the first. The new case is started with
the old cases' timelines (rebuilt from the audit trail, which holds every step the old workflow recorded),
signatures and pending plan (`CaseInput.merged`); only then is the old case ended (`record_merge`), so a
crash in between loses nothing: the next scan finds the old row still open and ends it. An old case whose
SKU-site has no new case at all (its findings cleared) is ended naming none.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, select, update
from sqlmodel import col

from audit.models import AuditEntry
from audit.trail import append
from core.case import (
    APPROVED,
    AWAITING_APPROVAL,
    CANCELLED,
    DISPOSITION_PROPOSED,
    FINAL_STATES,
    CaseLine,
    MergedCase,
    Proposal,
    Signature,
    from_json,
)
from core.db import as_utc, table
from governance.models import CaseRow, ErpInstruction
from governance.opening import CaseRequest
from governance.outbox import CONFIRMED

MERGED = "case.merged"
"""The audit action that ends a per-rule case: its `after` is the new case's id (None when there is none)."""
NO_FINDING = "resolved at upgrade: the finding no longer holds"
PENDING = frozenset({DISPOSITION_PROPOSED, AWAITING_APPROVAL, APPROVED})
"""The states in which an old case's plan waits for signatures or instructions: the plans worth carrying over."""
INSTRUCTIONS_OUT = ("its instructions were issued under {old} and stay in the ERP outbox under that id; "
                    "the plan is not carried over")
"""Said only when no new case takes the old one over (its findings cleared); otherwise its instructions move."""


@dataclass
class Merge:
    """One per-rule case and the position's case that takes it over (`new_case_id` empty: none does)."""

    old_case_id: str
    new_case_id: str
    sku: str
    site: str
    rule: str
    timeline: list[str]
    signatures: list[Signature]
    pending: Proposal | None
    """The plan still waiting for its signatures or instructions, to carry over where it still validates."""
    reason_if_returned: str
    """Why the old case's plan is not carried over, when that is known here (no new case)."""
    state: str = ""
    """The old case's state when it was merged (the audit entry's `before`)."""
    policy_version: str = ""
    instructed: Proposal | None = None
    """The plan whose instructions are out, unconfirmed: they move to the new case."""

    def merged_case(self) -> MergedCase:
        return MergedCase(self.old_case_id, self.rule, list(self.timeline), list(self.signatures), self.pending,
                          self.instructed)


def open_per_rule_cases(connection: Connection) -> list[CaseRow]:
    """The per-rule cases the mirror holds open (none once the upgrade has merged them all)."""
    return [CaseRow.model_validate(row._mapping) for row in connection.execute(
        select(CaseRow).where(col(CaseRow.position) == "", col(CaseRow.state).not_in(FINAL_STATES))
        .order_by(col(CaseRow.id)))]


def per_rule_merges(connection: Connection, requests: list[CaseRequest]) -> list[Merge]:
    """Each open per-rule case with the new case (among this scan's `requests`) that takes it over."""
    old = open_per_rule_cases(connection)
    if not old:
        return []
    by_sku_site: dict[tuple[str, str], list[CaseRequest]] = {}
    for request in requests:
        if request.case is not None and request.lines:
            by_sku_site.setdefault((request.case.sku, request.case.site), []).append(request)
    timelines = _timelines(connection, [row.id for row in old])
    merges = []
    for row in old:
        candidates = by_sku_site.get((row.sku, row.site), [])
        lots = {(line.lot, line.serial) for line in from_json(list[CaseLine], row.lines) if line.lot or line.serial}
        holding = [r for r in candidates if lots & {(line.lot, line.serial) for line in r.lines if not line.po}]
        chosen = next(iter(holding or candidates), None)
        proposal = row.case_proposal()
        pending = proposal if proposal is not None and row.state in PENDING and not proposal.instructions else None
        out = proposal is not None and any(not i.confirmed_by for i in proposal.instructions)
        returned, instructed = "", None
        if chosen is None:
            pending, returned = None, NO_FINDING + ("; " + INSTRUCTIONS_OUT.format(old=row.id) if out else "")
        elif out:
            instructed = proposal
        merges.append(Merge(
            old_case_id=row.id, new_case_id=chosen.case_id if chosen is not None else "", sku=row.sku,
            site=row.site, rule=row.rule, timeline=timelines.get(row.id, []),
            signatures=list(proposal.signatures) if proposal is not None else [], pending=pending,
            reason_if_returned=returned, state=row.state, policy_version=row.policy_version,
            instructed=instructed))
    return merges


def attach_merges(connection: Connection, requests: list[CaseRequest]) -> list[Merge]:
    """Give each new case of `requests` the per-rule cases it takes over (`CaseInput.merged`), in place."""
    merges = per_rule_merges(connection, requests)
    taking = {request.case_id: request.case for request in requests if request.case is not None}
    for merge in merges:
        case = taking.get(merge.new_case_id)
        if case is not None:
            case.merged.append(merge.merged_case())
    return merges


def record_merge(connection: Connection, merge: Merge, at: datetime) -> bool:
    """End the per-rule case in the mirror (cancelled) and append its `case.merged` audit entry, in the
    caller's transaction (one per merge). False when it was ended before (a retried activity)."""
    state = connection.execute(select(col(CaseRow.state)).where(col(CaseRow.id) == merge.old_case_id)).scalar()
    if state is None or state in FINAL_STATES:
        return False
    connection.execute(update(CaseRow).where(col(CaseRow.id) == merge.old_case_id)
                       .values(state=CANCELLED.value, updated_at=at))
    if merge.new_case_id:
        reason = f"merged into {merge.new_case_id}: one case per stock position; its lots are lines of that case"
        if merge.reason_if_returned:
            reason += f"; {merge.reason_if_returned}"
    else:
        reason = NO_FINDING
    append(connection, actor="stockwarden", action=MERGED, subject=f"case:{merge.old_case_id}",
           before=state, after=merge.new_case_id or None, reason=reason, policy_version=merge.policy_version,
           workflow_id=merge.old_case_id, at=at)
    if merge.new_case_id and merge.instructed is not None:
        _move_instructions(connection, merge, at)
    return True


def _move_instructions(connection: Connection, merge: Merge, at: datetime) -> None:
    """The old case's unconfirmed instructions belong to the new case from now on: a confirmation (the
    ERP's, or a later snapshot's evidence) reaches the case that waits for it. Each move is in the trail."""
    e = table(ErpInstruction).c
    moving = connection.execute(select(e.id).where(e.case_id == merge.old_case_id, e.state != CONFIRMED)
                                .order_by(e.id)).scalars().all()
    if not moving:
        return
    connection.execute(update(ErpInstruction).where(col(ErpInstruction.id).in_(moving))
                       .values(case_id=merge.new_case_id))
    for instruction_id in moving:
        append(connection, actor="stockwarden", action="instruction.moved", subject=f"instruction:{instruction_id}",
               before={"case": merge.old_case_id}, after={"case": merge.new_case_id},
               reason="one case per stock position: the instruction awaits its confirmation under the new case",
               policy_version=merge.policy_version, workflow_id=merge.new_case_id, at=at)


def _timelines(connection: Connection, case_ids: list[str]) -> dict[str, list[str]]:
    """The old cases' timelines as their workflows kept them ("<at> <action> by <actor>: <reason>"), from the
    audit trail, which holds every step a case recorded."""
    timelines: dict[str, list[str]] = {case: [] for case in case_ids}
    for start in range(0, len(case_ids), 500):
        subjects = [f"case:{case}" for case in case_ids[start:start + 500]]
        for entry in connection.execute(
                select(col(AuditEntry.subject), col(AuditEntry.at), col(AuditEntry.action), col(AuditEntry.actor),
                       col(AuditEntry.reason))
                .where(col(AuditEntry.subject).in_(subjects)).order_by(col(AuditEntry.seq))):
            timelines[entry.subject.removeprefix("case:")].append(
                f"{as_utc(entry.at).astimezone(UTC).isoformat()} {entry.action} by {entry.actor}"
                + (f": {entry.reason}" if entry.reason else ""))
    return timelines
