"""The message queue and the record of used action links.

A case's messages are queued in the transaction that records its step, so a message exists exactly when
the step does; the dispatcher (workflows/notifications.py) delivers them with retries and backoff and
records each attempt, so a channel that is down never stalls a case and nothing is silently lost."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Date, DateTime
from sqlmodel import Field, SQLModel

from core.case import CaseSnapshot, from_json

QUEUED, SENT, DIGESTED = "queued", "sent", "digested"
URGENT_EVENTS = frozenset({"escalated", "approval_requested", "delivery_failing"})
"""Sent at once even to people who take a daily digest."""


class Notification(SQLModel, table=True):
    __tablename__ = "notification"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=300, unique=True)
    """case#event_no#recipient: one message per recipient per recorded step."""
    case_id: str = Field(max_length=200, index=True)
    event: str = Field(max_length=40)
    recipient: str = Field(max_length=200, index=True)
    urgent: bool = False
    state: str = Field(default=QUEUED, max_length=12, index=True)
    attempts: int = 0
    failing: bool = False
    """Set after repeated failures: shown on the case and told to the administrator; retries go on."""
    next_attempt_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    last_error: str = Field(default="", max_length=2000)
    snapshot: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    """The case as the step left it (state, lines, deadlines, proposal), so the message tells that moment."""
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))

    def case(self) -> CaseSnapshot:
        """The stored snapshot read back into its type (rows queued by earlier versions read too)."""
        return from_json(CaseSnapshot, self.snapshot)


class UsedLink(SQLModel, table=True):
    """An action link that was used; a second use finds its row and is refused."""

    __tablename__ = "used_link"

    jti: str = Field(primary_key=True, max_length=64)
    case_id: str = Field(max_length=200)
    person: str = Field(max_length=200)
    action: str = Field(max_length=30)
    used_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


DIGEST_SENDING, DIGEST_SENT, DIGEST_PARTIAL = "sending", "sent", "partial"


class DigestSent(SQLModel, table=True):
    """A person's digest of one day (UTC). The row is written before the digest is sent, and its key
    (person, day) lets only one round write it: a concurrent round, a retried activity or a restarted
    `stockwarden up` finds it and sends nothing. It is deleted again only when no channel took the digest."""

    __tablename__ = "digest_sent"

    person: str = Field(primary_key=True, max_length=200)
    day: date = Field(sa_column=Column(Date, primary_key=True))
    state: str = Field(default=DIGEST_SENDING, max_length=12)
    """sending (claimed), sent (every channel took it) or partial (some did: the rest wait for tomorrow)."""
    messages: int = 0
    """The queued messages it told (marked digested when every channel took it)."""
    cases: int = 0
    claimed_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
