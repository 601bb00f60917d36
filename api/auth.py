"""Who is calling: a bearer token names a person and the roles they act in. Every route states the roles
it allows; a refusal is answered 401 (no or unknown token) or 403 (a role missing). A refusal of a known
person is audited; one that names nobody is counted per address instead (api/refusals.py)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from fastapi import HTTPException, Request
from sqlalchemy import Engine, insert, select

from api.models import ApiToken
from api.refusals import count
from audit.trail import append


class Role(StrEnum):
    ADMIN = "admin"
    COMPLIANCE = "compliance"
    OWNER = "owner"
    COMMITTEE = "committee"
    QA = "qa"
    VIEWER = "viewer"
    ERP = "erp"


POLICY_EDITORS = (Role.COMPLIANCE, Role.ADMIN)
"""Who validates, previews and activates policies (the API and the preview page)."""
KPI_READERS = (Role.ADMIN, Role.COMMITTEE, Role.VIEWER, Role.COMPLIANCE)
"""Who reads the month's KPIs (the API and the KPI page)."""


@dataclass(frozen=True)
class Principal:
    person: str
    roles: frozenset[str]


def only_own(principal: Principal) -> bool:
    """An owner (or the ERP) sees only the cases they own or are assigned to; any reading role sees all."""
    return not (principal.roles - {Role.OWNER.value, Role.ERP.value})


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(engine: Engine, person: str, roles: list[Role]) -> str:
    token = "sw_" + secrets.token_urlsafe(32)
    with engine.begin() as connection:
        connection.execute(insert(ApiToken).values(token_hash=_hash(token), person=person,
                                                   roles=[r.value for r in roles], created_at=datetime.now(UTC)))
        append(connection, actor="stockwarden", action="api.token_created", subject=f"person:{person}",
               after={"roles": [r.value for r in roles]})
    return token


def bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    return header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""


def principal_of(engine: Engine, token: str) -> Principal | None:
    """The holder of a live, unrevoked token."""
    if not token:
        return None
    with engine.connect() as connection:
        row = connection.execute(select(ApiToken).where(ApiToken.token_hash == _hash(token),  # type: ignore[arg-type]
                                                        ApiToken.revoked_at.is_(None))).first()  # type: ignore[union-attr]
    return None if row is None else Principal(row.person, frozenset(row.roles))


def require(*roles: Role) -> Callable[[Request], Principal]:
    """A FastAPI dependency: the caller, if their token carries one of `roles`."""
    allowed = frozenset(r.value for r in roles)

    def dependency(request: Request) -> Principal:
        engine: Engine = request.app.state.engine
        principal = principal_of(engine, bearer(request))
        if principal is None:
            refused(engine, request, "anonymous", "no valid token")
            raise HTTPException(401, "a valid API token is required (Authorization: Bearer ...)",
                                headers={"WWW-Authenticate": "Bearer"})
        if not principal.roles & allowed:
            refused(engine, request, principal.person, f"roles {sorted(principal.roles)}; needs one of {sorted(allowed)}")
            raise HTTPException(403, f"this needs one of the roles {', '.join(sorted(allowed))}")
        return principal

    dependency.roles = allowed  # type: ignore[attr-defined]  # read by the role-matrix test and the OpenAPI text
    return dependency


def refused(engine: Engine, request: Request, actor: str, why: str) -> None:
    """Audit a refusal of `actor`; an anonymous one is counted, not chained (anyone can cause any number)."""
    if actor == "anonymous":
        count(engine, request, why)
        return
    with engine.begin() as connection:
        append(connection, actor=actor, action="api.refused", subject=f"{request.method} {request.url.path}", reason=why)
