"""The case mirror: each CaseWorkflow's state, owner, deadlines and lines, so lists need not ask Temporal."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Column, DateTime
from sqlmodel import Field, SQLModel


class CaseRow(SQLModel, table=True):
    __tablename__ = "governance_case"

    id: str = Field(primary_key=True, max_length=200)
    """The workflow id, derived from rule, SKU and site."""
    rule: str = Field(max_length=60, index=True)
    sku: str = Field(max_length=80)
    site: str = Field(max_length=40)
    severity: str = Field(max_length=10)
    state: str = Field(max_length=30, index=True)
    owner: str = Field(max_length=200, index=True)
    assignees: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    escalation_level: int = 0
    acknowledge_due: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    resolve_due: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    value: Decimal = Field(max_digits=20, decimal_places=4)
    lines: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    policy_version: str = Field(max_length=100)
    opened_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    last_event: int = 0
    """The workflow's event number last applied; a retried activity with an older one changes nothing."""
