"""Page sessions, kept on the server. The browser's cookie holds only a random id; the session table
holds its hash, the person, how they signed in (which token, or which link), when it began and ends.
Roles are never stored with a session: web.session_of looks them up at each request, so a forged
cookie names no role, and a role taken away (a token revoked, people.yaml changed) is gone at the next
request. Callers own the transaction."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, and_, insert, or_, select, update
from sqlmodel import col

from api.models import ApiToken, PageSession

BEGINNINGS = ("token", "my_cases_link", "action_link")
"""How a session can begin: an API token pasted on /pages/login, a "my cases" link, a used action link."""


@dataclass(frozen=True)
class FoundSession:
    person: str
    token_roles: frozenset[str] | None
    """The roles of the token the session began with (it is live, or the session is not found); None
    for a session a link began, whose person acts in the roles people.yaml gives them now."""


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def begin_session(connection: Connection, person: str, *, began_with: str, hours: float,
                  token_id: int | None = None, link_id: str | None = None) -> str:
    """A new session; returns its id, for the cookie only."""
    if began_with not in BEGINNINGS:
        raise ValueError(f"a session begins with one of {', '.join(BEGINNINGS)}, not {began_with!r}")
    session_id = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    connection.execute(insert(PageSession).values(
        id_hash=_hash(session_id), person=person, began_with=began_with, token_id=token_id, link_id=link_id,
        created_at=now, expires_at=now + timedelta(hours=hours), ended_at=None, ended_why=""))
    return session_id


def find_session(connection: Connection, session_id: str) -> FoundSession | None:
    """The session, if it has not ended or expired and the token it began with (if any) still lives."""
    now = datetime.now(UTC)
    s, t = PageSession, ApiToken
    row = connection.execute(
        select(col(s.person), col(s.token_id), col(t.roles))
        .select_from(s).outerjoin(t, col(t.id) == col(s.token_id))
        .where(col(s.id_hash) == _hash(session_id), col(s.ended_at).is_(None), col(s.expires_at) > now,
               or_(col(s.token_id).is_(None), and_(col(t.revoked_at).is_(None), col(t.expires_at) > now)))
    ).first()
    if row is None:
        return None
    return FoundSession(row.person, None if row.token_id is None else frozenset(row.roles))


def end_session(connection: Connection, session_id: str, why: str) -> str | None:
    """End one session (logout); the person it was, if it was still open."""
    row = connection.execute(update(PageSession).where(col(PageSession.id_hash) == _hash(session_id),
                                                       col(PageSession.ended_at).is_(None))
                             .values(ended_at=datetime.now(UTC), ended_why=why).returning(col(PageSession.person))).first()
    return None if row is None else str(row.person)


def end_sessions_of_tokens(connection: Connection, token_ids: list[int], why: str) -> int:
    """End every open session begun with these tokens; how many."""
    result = connection.execute(update(PageSession).where(col(PageSession.token_id).in_(token_ids),
                                                          col(PageSession.ended_at).is_(None))
                                .values(ended_at=datetime.now(UTC), ended_why=why))
    return int(result.rowcount)
