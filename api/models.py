"""API tokens and page sessions. Only hashes of their secrets are stored: a token is shown once, when it
is created; a session's id lives only in its person's cookie."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, DateTime, ForeignKey, Integer
from sqlmodel import Field, SQLModel


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    """SHA-256 of the token: tokens are long random strings, so a slow password hash adds nothing."""
    person: str = Field(max_length=200, index=True)
    roles: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    created_by: str = Field(max_length=200)
    """The human who had it made (`token create --by`, the admin calling POST /tokens)."""
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


class PageSession(SQLModel, table=True):
    """A signed-in browser. It names the person and how they signed in, never their roles: those are
    looked up at every request (the token's while it lives, else people.yaml's)."""

    __tablename__ = "page_session"

    id_hash: str = Field(max_length=64, primary_key=True)
    """SHA-256 of the random id in the cookie: a copy of this table opens no session."""
    person: str = Field(max_length=200)
    began_with: str = Field(max_length=20)
    """token, my_cases_link or action_link."""
    token_id: int | None = Field(default=None, sa_column=Column(Integer, ForeignKey("api_token.id"), index=True))
    link_id: str | None = Field(default=None, max_length=64)
    """The action link's id (used_link.jti) for a session an action link began."""
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    ended_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    ended_why: str = Field(default="", max_length=40)
    """logout, token revoked, or replaced (a new sign-in in the same browser)."""


class SigningPin(SQLModel, table=True):
    """A person's signing PIN, the second component of their electronic signature (21 CFR 11.200(a)).

    Only an scrypt hash with its own random salt is kept (PINs are short, so the hash must be slow);
    failed attempts are counted here so that repeated wrong PINs lock signing for a while."""

    __tablename__ = "signing_pin"

    person: str = Field(primary_key=True, max_length=200)
    salt: str = Field(max_length=64)
    pin_hash: str = Field(max_length=128)
    kdf: str = Field(max_length=60)
    """How pin_hash was made (e.g. scrypt:n=16384,r=8,p=1), so parameters can be raised later."""
    set_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    failures: int = 0
    failing_since: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    locked_until: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


class RefusalCount(SQLModel, table=True):
    """Refusals that name nobody (no or unknown token, a forged link, a failed sign-in), counted per
    client address, reason and ten-second window instead of one audit entry each: anyone may cause
    them, so chaining each would let anyone grow the trail without bound."""

    __tablename__ = "refusal_count"

    address: str = Field(primary_key=True, max_length=64)
    reason: str = Field(primary_key=True, max_length=40)
    window_start: datetime = Field(sa_column=Column(DateTime(timezone=True), primary_key=True))
    count: int = 0
