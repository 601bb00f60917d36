"""Who may see a case: the one check every read and every action goes through (API, pages, links).

Every reading role (admin, viewer, compliance, committee, qa) sees every case. Someone acting only as an
owner sees the cases they own, are assigned to, were asked to sign or signed; the ERP sees the cases it
holds instructions for. Anyone else is answered exactly as for a case that does not exist, 404
"no case X", so a refusal tells nothing about who owns it. The case workflow's own refusals (which name
the people responsible) therefore reach only people who may see the case, and with it those names.
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException
from sqlalchemy import Connection, select

from api.auth import Principal, Role
from governance.models import CaseRow
from notifications.models import Notification

SEES_ALL = frozenset(r.value for r in (Role.ADMIN, Role.VIEWER, Role.COMPLIANCE, Role.COMMITTEE, Role.QA))
ASKED_TO_SIGN = "approval_requested"


def may_see(connection: Connection, principal: Principal, row: Any) -> bool:
    if principal.roles & SEES_ALL:
        return True
    person, proposal = principal.person, row.proposal or {}
    if person == row.owner or person in row.assignees:
        return True
    if Role.ERP.value in principal.roles and proposal.get("instructions"):
        return True
    if Role.OWNER.value not in principal.roles:
        return False
    if any(s.get("signer") == person for s in proposal.get("signatures") or []):
        return True
    asked = select(Notification.id).where(Notification.case_id == row.id, Notification.recipient == person,  # type: ignore[arg-type]
                                          Notification.event == ASKED_TO_SIGN).limit(1)
    return connection.execute(asked).first() is not None


def visible_case(connection: Connection, principal: Principal, case_id: str) -> CaseRow:
    """The case's mirror row if `principal` may see it; otherwise 404, the same as an unknown case."""
    row = connection.execute(select(CaseRow).where(CaseRow.id == case_id)).first()  # type: ignore[arg-type]
    if row is None or not may_see(connection, principal, row):
        raise HTTPException(404, f"no case {case_id}")
    return CaseRow.model_validate(row._mapping)
