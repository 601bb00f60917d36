"""The case mirror: each CaseWorkflow's state, owner, deadlines and lines, so lists need not ask Temporal."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index
from sqlmodel import Field, SQLModel

from core.case import CaseLine, CaseStatus, MirroredCase, Proposal, from_json

SORTED_BY = ("value", "resolve_due", "opened_at", "updated_at")
"""The orders a case list may take besides the id (governance/listing.py); each has its (column, id) index."""


class CaseRow(SQLModel, table=True):
    __tablename__ = "governance_case"
    __table_args__ = tuple(Index(f"ix_governance_case_{column}_id", column, "id") for column in SORTED_BY)

    id: str = Field(primary_key=True, max_length=200)
    """The workflow id, derived from the position and the generation (core.case.case_id)."""
    position: str = Field(default="", max_length=200, index=True)
    """The stock position the case governs (core.case.position_key); empty for cases of the per-rule model."""
    generation: int = 1
    snapshot_id: int = 0
    """The snapshot the case's lines last came from: a re-scan of it never opens the position again."""
    rule: str = Field(max_length=60, index=True)
    sku: str = Field(max_length=80)
    site: str = Field(max_length=40)
    severity: str = Field(max_length=10)
    title_en: str = Field(default="", max_length=200)
    title_zh: str = Field(default="", max_length=200)
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
    proposal: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    """The disposition under way: what, how much, who proposed and signed, which instructions went out."""
    last_event: int = 0
    """The workflow's event number last applied; a retried activity with an older one changes nothing."""

    def case_lines(self) -> list[CaseLine]:
        return from_json(list[CaseLine], self.lines)

    def case_proposal(self) -> Proposal | None:
        return None if self.proposal is None else from_json(Proposal, self.proposal)

    def mirrored(self) -> MirroredCase:
        """The row as the case's typed view (what decides the actions a person may take, among others)."""
        return MirroredCase(self.id, self.rule, self.sku, self.site, CaseStatus(self.state), list(self.assignees),
                            self.acknowledge_due, self.resolve_due, self.value, self.title_en, self.title_zh,
                            self.case_proposal(), self.severity)


class ErpInstruction(SQLModel, table=True):
    """One instruction for the ERP (return, move, cut a PO line, sell or donate, scrap) in the outbox.

    The idempotency key (case, proposal, line) is unique: an activity retried after its commit finds the
    instruction it wrote and never issues a second one; the ERP can use the key the same way on import.
    """

    __tablename__ = "erp_instruction"

    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(max_length=260, unique=True)
    case_id: str = Field(max_length=200, index=True)
    proposal_no: int
    disposition: str = Field(max_length=30)
    sku: str = Field(max_length=80)
    site: str = Field(max_length=40)
    lot: str = Field(default="", max_length=80)
    serial: str = Field(default="", max_length=80)
    quantity: Decimal = Field(max_digits=20, decimal_places=6)
    value: Decimal = Field(max_digits=20, decimal_places=4)
    target: str = Field(default="", max_length=120)
    """The site, the substitute SKU or the PO/LINE; the supplier for a return."""
    postpone_to: date | None = None
    approved_by: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    state: str = Field(default="pending", max_length=20, index=True)
    """pending, then exported once written to a file for the ERP, then confirmed."""
    issued_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    exported_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    confirmed_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    confirmed_by: str = Field(default="", max_length=200)
    done: Decimal | None = Field(default=None, max_digits=20, decimal_places=6)
    """What was confirmed carried out: less than `quantity` when partial; None until confirmed (or, for
    instructions confirmed before partial confirmations, all of it)."""


class LotReservation(SQLModel, table=True):
    """A plan line's hold on the units of one lot (governance/reservations.py): what the case means to
    dispose of, so no other plan can promise the same units. Written once per (case, plan, line); its state
    moves from held to released (plan rejected, cancelled, replaced, or the line trimmed) or consumed (the
    instruction confirmed: the stock left); `consumed` counts a partial confirmation."""

    __tablename__ = "lot_reservation"
    __table_args__ = (Index("ix_lot_reservation_lot_state", "sku", "site", "lot", "serial", "state"),)

    case_id: str = Field(primary_key=True, max_length=200)
    plan_no: int = Field(primary_key=True)
    line_no: int = Field(primary_key=True)
    sku: str = Field(max_length=80)
    site: str = Field(max_length=40)
    lot: str = Field(default="", max_length=80)
    serial: str = Field(default="", max_length=80)
    quantity: Decimal = Field(max_digits=18, decimal_places=4)
    """As reserved, in the SKU's base unit (the precision of lot_position.qty)."""
    consumed: Decimal = Field(default=Decimal(0), max_digits=18, decimal_places=4)
    state: str = Field(default="held", max_length=10)
    reason: str = Field(default="", max_length=2000)
    """Why it was released, or what confirmed it."""
    reserved_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    changed_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class LotReservationLock(SQLModel, table=True):
    """One row per lot that was ever reserved, and nothing in it but the lot: the row a reservation locks
    before it counts what is held, so two reservations of one lot take turns (governance/reservations.py)."""

    __tablename__ = "lot_reservation_lock"

    sku: str = Field(primary_key=True, max_length=80)
    site: str = Field(primary_key=True, max_length=40)
    lot: str = Field(primary_key=True, max_length=80)
    serial: str = Field(primary_key=True, max_length=80)


class CaseLot(SQLModel, table=True):
    """The lots of a case's lines, one row each (purchase-order lines are on order and have none): the
    mirror's lines as rows, so a list filtered by lot finds its case through an index instead of reading
    every case's JSON. Written with the mirror row whenever the lines' lots change (governance/service.py)."""

    __tablename__ = "case_lot"
    __table_args__ = (Index("ix_case_lot_sku_site_lot", "sku", "site", "lot"), Index("ix_case_lot_lot", "lot"))
    """A lot alone (a label scanned, SKU unknown) is found by the second index: without it PostgreSQL reads
    the whole table (measured at 10,000 cases: 16 ms a list instead of 2)."""

    case_id: str = Field(primary_key=True, max_length=200)
    sku: str = Field(max_length=80)
    site: str = Field(max_length=40)
    lot: str = Field(primary_key=True, max_length=80)
    serial: str = Field(primary_key=True, max_length=80)
