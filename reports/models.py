"""KPIs as computed for a month, kept so a pack can show the last twelve months' trend."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Column, DateTime
from sqlmodel import Field, SQLModel


class KpiValue(SQLModel, table=True):
    __tablename__ = "kpi_value"

    period: str = Field(primary_key=True, max_length=7)
    scope_kind: str = Field(primary_key=True, max_length=10)
    """company, site or category."""
    scope_key: str = Field(primary_key=True, max_length=80)
    name: str = Field(primary_key=True, max_length=60)
    value: Decimal | None = Field(default=None, max_digits=24, decimal_places=6)
    """None where the KPI has no value (turnover days when nothing was issued)."""
    snapshot_id: int | None = Field(default=None, foreign_key="snapshot.id")
    computed_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
