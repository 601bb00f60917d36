"""The audit entry table: who did what, when, to what, from what to what, why, under which policy."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime
from sqlmodel import Field, SQLModel


class AuditEntry(SQLModel, table=True):
    """One step of the trail. `hash` covers every other field and the previous entry's hash, so editing,
    removing or reordering any entry breaks the chain from there on (`stockwarden audit verify`).
    Database triggers refuse UPDATE and DELETE on this table."""

    __tablename__ = "audit_entry"

    seq: int = Field(primary_key=True)
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    actor: str = Field(max_length=200)
    action: str = Field(max_length=80, index=True)
    subject: str = Field(max_length=300, index=True)
    before: Any = Field(default=None, sa_column=Column(JSON, nullable=True))
    after: Any = Field(default=None, sa_column=Column(JSON, nullable=True))
    reason: str = Field(default="", max_length=2000)
    policy_version: str = Field(default="", max_length=100)
    workflow_id: str = Field(default="", max_length=200, index=True)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64, unique=True)
