"""Who may see a case: the one check every read and every action goes through (API, pages, links, the
case actions of governance/actions.py), and the roles a person acts in when they ask.

Every reading role (admin, viewer, compliance, committee, qa) sees every case. Someone acting only as an
owner sees the cases they own, are assigned to, were asked to sign or signed; the ERP sees the cases it
holds instructions for. Anyone else is answered exactly as for a case that does not exist, 404
"no case X", so a refusal tells nothing about who owns it. The case workflow's own refusals (which name
the people responsible) therefore reach only people who may see the case, and with it those names.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Connection, select
from sqlmodel import col

from governance.models import CaseRow
from notifications.models import Notification


class Role(StrEnum):
    # The roles a person acts in (an API token's, or people.yaml's for a page session); a comment, not a
    # docstring, which the OpenAPI schema would carry as the enum's description.
    ADMIN = "admin"
    COMPLIANCE = "compliance"
    OWNER = "owner"
    COMMITTEE = "committee"
    QA = "qa"
    VIEWER = "viewer"
    ERP = "erp"


@dataclass(frozen=True)
class Principal:
    """A person and the roles they act in now."""

    person: str
    roles: frozenset[str]


SEES_ALL = frozenset(r.value for r in (Role.ADMIN, Role.VIEWER, Role.COMPLIANCE, Role.COMMITTEE, Role.QA))
ASKED_TO_SIGN = "approval_requested"


class CaseRefused(Exception):
    """A case action or read refused: `status` is the HTTP answer, `message` the words a person reads (the
    case's own refusal, in its languages, or "no case X"). `kind` says why, for the console's wording;
    `temporal` is Temporal's own message when the refusal came from it rather than from the case."""

    NOT_VISIBLE = "not_visible"
    """No such case, or not one this person may see (the same answer for both)."""
    REFUSED = "refused"
    """The case's validator refused the action (not responsible, wrong state, bad input)."""
    NOT_RUNNING = "not_running"
    """The case is no longer running in Temporal."""
    UNAVAILABLE = "unavailable"
    """Temporal refused the request for another reason."""
    UNKNOWN_INSTRUCTION = "unknown_instruction"
    """An ERP instruction the outbox does not hold."""

    def __init__(self, status: int, message: str, kind: str, temporal: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.temporal = temporal


def only_own(principal: Principal) -> bool:
    """An owner (or the ERP) sees only the cases they own or are assigned to; any reading role sees all."""
    return not (principal.roles - {Role.OWNER.value, Role.ERP.value})


def may_see(connection: Connection, principal: Principal, row: CaseRow) -> bool:
    if principal.roles & SEES_ALL:
        return True
    person, proposal = principal.person, row.case_proposal()
    if person == row.owner or person in row.assignees:
        return True
    if Role.ERP.value in principal.roles and proposal is not None and proposal.instructions:
        return True
    if Role.OWNER.value not in principal.roles:
        return False
    if proposal is not None and any(s.signer == person for s in proposal.signatures):
        return True
    asked = select(col(Notification.id)).where(col(Notification.case_id) == row.id,
                                               col(Notification.recipient) == person,
                                               col(Notification.event) == ASKED_TO_SIGN).limit(1)
    return connection.execute(asked).first() is not None


def case_seen_by(connection: Connection, principal: Principal, case_id: str) -> CaseRow | None:
    """The case's mirror row if `principal` may see it; None for a case they may not see or that does not exist."""
    found = connection.execute(select(CaseRow).where(col(CaseRow.id) == case_id)).first()
    if found is None:
        return None
    row = CaseRow.model_validate(found._mapping)
    return row if may_see(connection, principal, row) else None


def visible_case(connection: Connection, principal: Principal, case_id: str) -> CaseRow:
    """The case's mirror row if `principal` may see it; otherwise CaseRefused 404, the same as an unknown case."""
    row = case_seen_by(connection, principal, case_id)
    if row is None:
        raise CaseRefused(404, f"no case {case_id}", CaseRefused.NOT_VISIBLE)
    return row
