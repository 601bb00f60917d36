"""Tables of the rule engine: activated policy versions, scans, and the findings each scan stored."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel


class PolicyVersion(SQLModel, table=True):
    """Every activation of a policy file, kept verbatim; exactly one row is active."""

    __tablename__ = "policy_version"
    __table_args__ = (
        Index("uq_policy_version_one_active", "active", unique=True,
              sqlite_where=text("active"), postgresql_where=text("active")),
    )

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=60)
    version: int
    text_hash: str = Field(max_length=64)
    policy_hash: str = Field(max_length=64)
    text: str = Field(sa_column=Column(Text, nullable=False))
    path: str = Field(default="", max_length=500)
    activated_by: str = Field(max_length=200)
    activated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    active: bool = False


class PolicyPending(SQLModel, table=True):
    """A policy text that moves duties (owners, signers, approvals), waiting for a second person's
    signature before it becomes a PolicyVersion; kept after it is signed or rejected, as the record."""

    __tablename__ = "policy_pending"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=60)
    version: int
    text: str = Field(sa_column=Column(Text, nullable=False))
    text_hash: str = Field(max_length=64)
    path: str = Field(default="", max_length=500)
    base_version_id: int | None = Field(default=None, foreign_key="policy_version.id")
    """The version active when it was proposed: its changes were judged against that one."""
    changes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    proposed_by: str = Field(max_length=200)
    proposed_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    state: str = Field(default="pending", max_length=10)
    signed_by: str = Field(default="", max_length=200)
    signed_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    reason: str = Field(default="", max_length=2000)


class Scan(SQLModel, table=True):
    """One evaluation of a snapshot against a policy; its findings are the ones that held then."""

    id: int | None = Field(default=None, primary_key=True)
    snapshot_id: int = Field(foreign_key="snapshot.id", index=True)
    policy_version_id: int | None = Field(default=None, foreign_key="policy_version.id")
    policy_name: str = Field(max_length=60)
    policy_version: int
    policy_hash: str = Field(max_length=64)
    scanned_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    completed_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    """Set when every partition's findings are stored; only completed scans count as the latest."""
    finding_count: int = 0


class FindingRow(SQLModel, table=True):
    """A stored finding: which rule fired on which lot or SKU-site, and the numbers that made it fire."""

    __tablename__ = "finding"
    # Leading with (scan_id, sku, site): re-evaluating one SKU-site finds its findings through this index.
    __table_args__ = (UniqueConstraint("scan_id", "sku", "site", "rule", "lot", "serial", name="uq_finding_subject"),)

    id: int | None = Field(default=None, primary_key=True)
    scan_id: int = Field(foreign_key="scan.id", index=True)
    rule: str = Field(max_length=60)
    level: str = Field(max_length=3)
    sku: str = Field(max_length=80)
    site: str = Field(max_length=40)
    lot: str = Field(default="", max_length=80)
    serial: str = Field(default="", max_length=80)
    severity: str = Field(max_length=10)
    value: Decimal = Field(max_digits=20, decimal_places=4)
    metrics: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    reasons: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    title: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
