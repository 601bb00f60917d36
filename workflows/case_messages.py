"""What a CaseWorkflow takes and gives: its input, the state it carries across runs, the Updates people
send it and the view its query returns. Plain dataclasses, so the API, the CLI and the tests share them."""

from __future__ import annotations

from dataclasses import dataclass, field

from activities.cases import CaseLine

# Case states, in the order a case normally passes them.
OPEN = "open"
ACKNOWLEDGED = "acknowledged"
DISPOSITION_PROPOSED = "disposition_proposed"
AWAITING_APPROVAL = "awaiting_approval"
APPROVED = "approved"
EXECUTING = "executing"
AWAITING_CONFIRMATION = "awaiting_confirmation"
RESOLVED = "resolved"
RESOLVED_BY_ITSELF = "resolved_by_itself"
CANCELLED = "cancelled"
FINAL = frozenset({RESOLVED, RESOLVED_BY_ITSELF, CANCELLED})
STATES = (OPEN, ACKNOWLEDGED, DISPOSITION_PROPOSED, AWAITING_APPROVAL, APPROVED, EXECUTING, AWAITING_CONFIRMATION,
          RESOLVED, RESOLVED_BY_ITSELF, CANCELLED)
"""Every state a case can be in, in the order a case moves through them."""

# The meanings an electronic signature may carry (21 CFR 11.50: every signature states its meaning).
APPROVED_MEANING, REJECTED_MEANING, REVIEWED_MEANING = "approved", "rejected", "reviewed"
MEANINGS = (APPROVED_MEANING, REJECTED_MEANING, REVIEWED_MEANING)
# How a signer proved, at signing time, that they are the signer (21 CFR 11.200(a): a second component
# beside their identity); the service checks it before it sends the Sign (api/pins.py).
AUTHENTICATIONS = ("pin",)


@dataclass
class CaseInput:
    case_id: str
    rule: str
    sku: str
    site: str
    severity: str
    title_en: str
    title_zh: str
    policy_version: str
    owner: str
    escalation: list[str]
    committee: list[str]
    acknowledge_seconds: float
    resolve_seconds: float
    dispositions: list[str]
    snooze_max_seconds: float = 0.0
    qa: list[str] = field(default_factory=list)
    approvals: dict[str, Approval] = field(default_factory=dict)
    """The policy's approvals for each disposition this rule allows."""
    supplier: str = ""
    substitutes: list[str] = field(default_factory=list)
    history_limit: int = 5_000
    """History events after which the case continues as new, so a case open for years stays light."""
    carried: CaseState | None = None


@dataclass
class Approval:
    qa_signoff: bool = False
    committee_over_value: str | None = None
    """A decimal as text, so the amount crosses Temporal exactly."""


@dataclass
class ProposalLine:
    lot: str
    serial: str
    quantity: str


@dataclass
class Signature:
    signer: str
    meaning: str
    role: str
    """What the signature counts as: qa, committee, or "" for a review that decides nothing."""
    at: str
    reason: str = ""
    authenticated_by: str = ""
    """How the signer was authenticated at signing time ("pin"); empty on signatures made before it was asked."""


@dataclass
class Instruction:
    """One ERP instruction of an approved proposal, as the outbox numbered it."""

    id: int
    lot: str
    serial: str
    quantity: str
    stock_before: str = ""
    """The line's quantity when the instruction went out; a later scan showing less confirms it."""
    confirmed_by: str = ""
    confirmed_at: str = ""


@dataclass
class Proposal:
    no: int
    disposition: str
    by: str
    at: str
    lines: list[ProposalLine]
    target: str
    postpone_to: str
    reason: str
    value: str
    requires: list[str]
    """The signatures still needed: "qa", "committee"; empty once approved."""
    signatures: list[Signature] = field(default_factory=list)
    instructions: list[Instruction] = field(default_factory=list)


@dataclass
class CaseState:
    """What a case carries into its next run when it continues as new."""

    state: str
    lines: list[CaseLine]
    assignees: list[str]
    level: int
    events: int
    acknowledge_due: str
    resolve_due: str
    snoozed_seconds: float
    reminded: str
    timeline: list[str]
    proposals: int = 0
    proposal: Proposal | None = None


@dataclass
class Lines:
    """What a scan found for this case now; no lines means the finding cleared."""

    lines: list[CaseLine] = field(default_factory=list)


@dataclass
class Acknowledge:
    actor: str


@dataclass
class Comment:
    actor: str
    text: str


@dataclass
class Reassign:
    actor: str
    to: str
    reason: str


@dataclass
class Snooze:
    actor: str
    days: float
    reason: str


@dataclass
class Propose:
    """A disposition for some or all of the case's lots; `target` is the site (reallocate), the substitute
    SKU (substitute) or the purchase-order line "PO/LINE" (reduce_purchase_order)."""

    actor: str
    disposition: str
    lines: list[ProposalLine]
    target: str = ""
    postpone_to: str = ""
    """For reduce_purchase_order: a new delivery date instead of (or beside) a cut quantity."""
    reason: str = ""


@dataclass
class Sign:
    actor: str
    meaning: str
    reason: str = ""
    authenticated_by: str = ""
    """How the service authenticated the signer at signing time (one of AUTHENTICATIONS); required."""


@dataclass
class Confirm:
    actor: str
    instruction: int
    note: str = ""


@dataclass
class Cancel:
    actor: str
    reason: str


@dataclass
class CaseView:
    case_id: str
    state: str
    owner: str
    assignees: list[str]
    escalation_level: int
    acknowledge_due: str
    resolve_due: str
    lines: int
    timeline: list[str]
    proposal: Proposal | None = None
    dispositions: list[str] = field(default_factory=list)
    """What the rule allows, for the forms that propose one."""
