"""Who is calling: a bearer token names a person and the roles they act in. Every route states the roles
it allows; a refusal is answered 401 (no, unknown, expired or revoked token) or 403 (a role missing). A refusal
of a known person is audited; one that names nobody is counted per address instead (api/refusals.py). Tokens are made, listed and revoked here (the CLI's `token` commands and the API's /tokens);
each expires, and its creation and revocation are audited in the name of the human who asked."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from fastapi import HTTPException, Request
from sqlalchemy import Connection, Engine, insert, select, update
from sqlmodel import col

from api.models import ApiToken
from api.refusals import count
from api.sessions import end_sessions_of_tokens
from audit.trail import append
from core.db import as_utc
from core.settings import get_settings
from governance.visibility import Principal, Role

POLICY_EDITORS = (Role.COMPLIANCE, Role.ADMIN)
"""Who validates, previews and activates policies (the API and the preview page)."""
KPI_READERS = (Role.ADMIN, Role.COMMITTEE, Role.VIEWER, Role.COMPLIANCE)
"""Who reads the month's KPIs (the API and the KPI page)."""
OWNERS = (Role.OWNER, Role.ADMIN)
"""Who acknowledges, reassigns, snoozes a case and proposes its disposition."""
SIGNERS = (Role.COMMITTEE, Role.QA, *OWNERS)
COMMENTERS = (*OWNERS, Role.COMMITTEE, Role.QA)
ERP = (Role.ERP, Role.ADMIN)
"""Who sends the ERP's feeds and confirms its instructions."""
CASE_READERS = (Role.ADMIN, Role.VIEWER, Role.COMPLIANCE, Role.COMMITTEE, Role.QA, Role.OWNER)
"""Who may read cases; an owner (and nobody else among these) sees only their own."""
FINDING_READERS = (Role.ADMIN, Role.VIEWER, Role.COMPLIANCE, Role.COMMITTEE, Role.QA)
SCANNERS = (Role.ADMIN, Role.COMPLIANCE)
PACK_READERS = (Role.ADMIN, Role.COMMITTEE)
"""Who downloads the governance pack (the API and the KPI page)."""
OUTBOX_READERS = (*ERP, Role.VIEWER, Role.COMMITTEE)
SNAPSHOT_READERS = (Role.ERP, Role.ADMIN, Role.VIEWER, Role.COMPLIANCE, Role.COMMITTEE)
POLICY_READERS = (Role.COMPLIANCE, Role.ADMIN, Role.COMMITTEE, Role.VIEWER)
AUDITORS = (Role.ADMIN, Role.COMPLIANCE, Role.COMMITTEE)
PEOPLE_READERS = (Role.ADMIN, Role.COMPLIANCE, Role.COMMITTEE)
PERSON = r"^[^\s@\x00-\x1f\x7f-\x9f]+@[^\s@\x00-\x1f\x7f-\x9f]+$"
"""Whom a token is for: an email address (admin@localhost, as `up` makes, included). Control characters
are named, not left to \\s, which Python's re and pydantic's (Rust) regex draw differently."""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class TokenInfo:
    """A token as listed: everything but its secret (and the secret's hash)."""

    id: int
    person: str
    roles: list[str]
    created_at: datetime
    created_by: str
    expires_at: datetime
    revoked_at: datetime | None

    def state(self, now: datetime | None = None) -> str:
        """live, expired or revoked."""
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.expires_at <= (now or datetime.now(UTC)) else "live"


@dataclass(frozen=True)
class IssuedToken:
    """A new token: `token` is its secret, shown this once."""

    token: str
    info: TokenInfo


class UnknownToken(Exception):
    """No token has this id."""


def _info(row: Any) -> TokenInfo:
    return TokenInfo(id=row.id, person=row.person, roles=list(row.roles), created_at=as_utc(row.created_at),
                     created_by=row.created_by, expires_at=as_utc(row.expires_at),
                     revoked_at=None if row.revoked_at is None else as_utc(row.revoked_at))


def issue_token(engine: Engine, person: str, roles: list[Role], *, by: str = "stockwarden",
                days: float | None = None, expires_at: datetime | None = None) -> IssuedToken:
    """A new token for `person`, made at the request of `by` (the audit entry's actor; "stockwarden" is
    the service itself), working for `days` or until `expires_at` (default: STOCKWARDEN_TOKEN_DAYS)."""
    if not re.fullmatch(PERSON, person) or len(person) > 200:
        raise ValueError(f"'{person}' is not an email address (a token is for one person)")
    if not roles:
        raise ValueError("a token needs at least one role")
    token = "sw_" + secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    expires_at = expires_at or now + timedelta(days=days if days is not None else get_settings().token_days)
    values = list(dict.fromkeys(Role(r).value for r in roles))  # each role once, in the order given
    with engine.begin() as connection:
        token_id = cast(int, connection.execute(insert(ApiToken).values(  # a stored row has its id
            token_hash=_hash(token), person=person, roles=values, created_at=now, created_by=by,
            expires_at=expires_at).returning(col(ApiToken.id))).scalar_one())
        append(connection, actor=by, action="api.token_created", subject=f"person:{person}",
               after={"token": token_id, "roles": values, "expires_at": expires_at.isoformat()})
    return IssuedToken(token, TokenInfo(token_id, person, values, now, by, expires_at, None))


def create_token(engine: Engine, person: str, roles: list[Role], *, by: str = "stockwarden",
                 days: float | None = None, expires_at: datetime | None = None) -> str:
    """issue_token's secret alone (tests and callers that need nothing else)."""
    return issue_token(engine, person, roles, by=by, days=days, expires_at=expires_at).token


def list_tokens(connection: Connection, person: str | None = None) -> list[TokenInfo]:
    query = select(ApiToken).order_by(col(ApiToken.id))
    if person is not None:
        query = query.where(col(ApiToken.person) == person)
    return [_info(row) for row in connection.execute(query)]


def _revoke(connection: Connection, rows: list[TokenInfo], by: str) -> list[TokenInfo]:
    """Revoke the live ones among `rows` (an expired token is revoked too: it must not come back);
    their sessions end with them. One audit entry per token."""
    now = datetime.now(UTC)
    done = []
    for row in rows:
        if row.revoked_at is not None:
            done.append(row)
            continue
        connection.execute(update(ApiToken).where(col(ApiToken.id) == row.id, col(ApiToken.revoked_at).is_(None))
                           .values(revoked_at=now))
        ended = end_sessions_of_tokens(connection, [row.id], "token revoked")
        append(connection, actor=by, action="api.token_revoked", subject=f"person:{row.person}",
               after={"token": row.id, "roles": row.roles, "sessions_ended": ended})
        done.append(TokenInfo(row.id, row.person, row.roles, row.created_at, row.created_by, row.expires_at, now))
    return done


def revoke_token(engine: Engine, token_id: int, *, by: str) -> TokenInfo:
    """Revoke one token (a token already revoked stays as it was); raises UnknownToken."""
    with engine.begin() as connection:
        row = connection.execute(select(ApiToken).where(col(ApiToken.id) == token_id)).first()
        if row is None:
            raise UnknownToken(f"no token {token_id} (see `stockwarden token list`)")
        return _revoke(connection, [_info(row)], by)[0]


def revoke_tokens_of(engine: Engine, person: str, *, by: str) -> list[TokenInfo]:
    """Revoke every token of `person` not yet revoked; the ones revoked now."""
    with engine.begin() as connection:
        rows = [t for t in list_tokens(connection, person) if t.revoked_at is None]
        return _revoke(connection, rows, by)


def bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    return header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""


def live_token(engine: Engine, token: str) -> TokenInfo | None:
    """The token, if it is known, unrevoked and unexpired; an expired one is refused like an unknown one."""
    if not token:
        return None
    with engine.connect() as connection:
        row = connection.execute(select(ApiToken).where(col(ApiToken.token_hash) == _hash(token),
                                                        col(ApiToken.revoked_at).is_(None),
                                                        col(ApiToken.expires_at) > datetime.now(UTC))).first()
    return None if row is None else _info(row)


def principal_of(engine: Engine, token: str) -> Principal | None:
    """The holder of a live token, in the token's roles."""
    found = live_token(engine, token)
    return None if found is None else Principal(found.person, frozenset(found.roles))


def require(*roles: Role) -> Callable[[Request], Principal]:
    """A FastAPI dependency: the caller, if their token carries one of `roles`."""
    allowed = frozenset(r.value for r in roles)

    def dependency(request: Request) -> Principal:
        engine: Engine = request.app.state.engine
        principal = principal_of(engine, bearer(request))
        if principal is None:
            refused(engine, request, "anonymous", "no valid token")
            raise HTTPException(401, "a valid API token is required (Authorization: Bearer ...; "
                                     "an expired or revoked token is not valid)",
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
