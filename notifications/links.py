"""Signed action links: bound to one case, one person and one action; they expire and work once. And
the "my cases" link of every message: bound to one person, it expires but may be used again.

Signing and expiry are itsdangerous's (HMAC-SHA1 over the payload and a timestamp, with the server's
secret, never an empty one: core.secret.require); "once" is the used_link table, whose primary
key refuses a second use of the same link."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import Connection, insert, select
from sqlmodel import col

from core.secret import require
from notifications.models import UsedLink

SALT = "stockwarden.action-link"
MY_CASES_SALT = "stockwarden.my-cases"


@dataclass(frozen=True)
class ActionLink:
    case_id: str
    person: str
    action: str
    jti: str


class LinkRefused(Exception):
    """Why a link cannot be used: `reason` is expired, invalid or used (pages say it in the reader's language).
    `person` is whom the link was issued to when its signature holds (expired, used), else empty."""

    def __init__(self, reason: str, message: str, person: str = ""):
        super().__init__(message)
        self.reason = reason
        self.person = person


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(require(secret), salt=SALT)


def sign(secret: str, case_id: str, person: str, action: str) -> str:
    return _serializer(secret).dumps({"c": case_id, "p": person, "a": action, "j": secrets.token_urlsafe(12)})


def read(secret: str, token: str, max_age_seconds: int) -> ActionLink:
    serializer = _serializer(secret)
    try:
        data = serializer.loads(token, max_age=max_age_seconds)
    except SignatureExpired as expired:  # the signature held (itsdangerous checks it first): its person is known
        person = str(serializer.load_payload(expired.payload).get("p", "")) if expired.payload else ""
        raise LinkRefused("expired", "this link has expired", person) from None
    except BadSignature:
        raise LinkRefused("invalid", "this link is not valid (it was changed or not issued by Stockwarden)") from None
    return ActionLink(case_id=data["c"], person=data["p"], action=data["a"], jti=data["j"])


def sign_my_cases(secret: str, person: str) -> str:
    """A reusable link that signs `person` in on the pages and opens their cases."""
    return URLSafeTimedSerializer(require(secret), salt=MY_CASES_SALT).dumps(person)


def read_my_cases(secret: str, token: str, max_age_seconds: int) -> str:
    try:
        return str(URLSafeTimedSerializer(require(secret), salt=MY_CASES_SALT).loads(token, max_age=max_age_seconds))
    except SignatureExpired:
        raise LinkRefused("expired", "this link has expired") from None
    except BadSignature:
        raise LinkRefused("invalid", "this link is not valid (it was changed or not issued by Stockwarden)") from None


def check_unused(connection: Connection, link: ActionLink) -> None:
    if connection.execute(select(col(UsedLink.jti)).where(col(UsedLink.jti) == link.jti)).first() is not None:
        raise LinkRefused("used", "this link was already used", link.person)


def mark_used(connection: Connection, link: ActionLink) -> None:
    """In the caller's transaction; a concurrent second use collides on the primary key."""
    connection.execute(insert(UsedLink).values(jti=link.jti, case_id=link.case_id, person=link.person,
                                               action=link.action, used_at=datetime.now(UTC)))
