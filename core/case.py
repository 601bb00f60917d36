"""The case's vocabulary: what opening a case takes, its lines, states, plan (proposal, signatures,
instructions), the events it records, the messages people send it and the words of the policy it uses.

One module of plain dataclasses and enums (standard library only), so the workflow sandbox, governance,
activities, notifications, the API and the CLI all speak of a case the same way. JSON kept in the
database (the mirror's lines and proposal, a queued message's snapshot) is written by `to_json` and read
back by `from_json` into these types; Temporal's converter carries the same dataclasses on the wire.
"""

from __future__ import annotations

import dataclasses
import hashlib
import types
import typing
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import Enum, StrEnum
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
D = TypeVar("D")

CASE_WORKFLOW = "PositionCase"
"""The case's workflow type name: an activity that starts a case uses it, not the workflow class."""
REFRESH = "refresh"
"""The signal a scan sends a case with its lines (signal-with-start opens the case)."""


class CaseStatus(StrEnum):
    """The states of a case, in the order a case normally passes them; each compares equal to its name."""

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


OPEN = CaseStatus.OPEN
ACKNOWLEDGED = CaseStatus.ACKNOWLEDGED
DISPOSITION_PROPOSED = CaseStatus.DISPOSITION_PROPOSED
AWAITING_APPROVAL = CaseStatus.AWAITING_APPROVAL
APPROVED = CaseStatus.APPROVED
EXECUTING = CaseStatus.EXECUTING
AWAITING_CONFIRMATION = CaseStatus.AWAITING_CONFIRMATION
RESOLVED = CaseStatus.RESOLVED
RESOLVED_BY_ITSELF = CaseStatus.RESOLVED_BY_ITSELF
CANCELLED = CaseStatus.CANCELLED
STATES = tuple(CaseStatus)
"""Every state a case can be in, in the order a case moves through them."""
FINAL = frozenset({RESOLVED, RESOLVED_BY_ITSELF, CANCELLED})
FINAL_STATES = (RESOLVED.value, RESOLVED_BY_ITSELF.value, CANCELLED.value)
"""The final states as plain text, for queries on the mirror's state column."""

# The meanings an electronic signature may carry (21 CFR 11.50: every signature states its meaning).
APPROVED_MEANING, REJECTED_MEANING, REVIEWED_MEANING = "approved", "rejected", "reviewed"
MEANINGS = (APPROVED_MEANING, REJECTED_MEANING, REVIEWED_MEANING)
# How a signer proved, at signing time, that they are the signer (21 CFR 11.200(a): a second component
# beside their identity); the service checks it before it sends the Sign (api/pins.py).
AUTHENTICATIONS = ("pin",)

# The policy's words the case uses (rules/vocabulary.py spells the whole policy).
QA, COMMITTEE = "qa", "committee"
"""The signatures a disposition may need; COMMITTEE in an escalation chain means every committee member."""
RETURN_TO_SUPPLIER, REALLOCATE, SUBSTITUTE = "return_to_supplier", "reallocate", "substitute"
REDUCE_PURCHASE_ORDER = "reduce_purchase_order"


SELL_OR_DONATE, SCRAP = "sell_or_donate", "scrap"
SEVERITIES = ("critical", "high", "medium", "low")
"""Most severe first: a line's governing finding is the most severe one, a case's severity its most severe line's."""
UNUSABLE_QC = frozenset({"quarantine", "hold", "rejected"})
"""QC states whose stock may go back to the supplier or be scrapped, never to a patient."""
NEVER_FOR_UNUSABLE = frozenset({REALLOCATE, SUBSTITUTE, SELL_OR_DONATE})
"""Dispositions that put stock to use: never for unusable (QC) or expired stock, whatever the policy says."""


def severity_rank(severity: str) -> int:
    """0 for critical, growing with less severe; an unknown severity ranks last."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)


def position_key(sku: str, site: str, owner: str) -> str:
    """The stock position a case governs: one SKU at one site, for one owner (the owner scopes may give
    some lots, e.g. quarantined ones, to another owner). The owner is named by a digest of their address:
    workflow ids are stored in Temporal unencrypted (the codec covers payloads only), and a person's
    address must not be readable there."""
    return f"position/{site}/{sku}/{owner_tag(owner)}"


def owner_tag(owner: str) -> str:
    """A short, stable name for an owner in ids: 12 hex digits of the SHA-256 of the address."""
    return hashlib.sha256(owner.strip().lower().encode()).hexdigest()[:12]


def case_id(position: str, generation: int = 1) -> str:
    """The workflow id: a later scan of the same position reaches the same case. Once a case has ended, new
    findings on its position open the next generation, never a new run of the ended case."""
    return position if generation <= 1 else f"{position}~{generation}"


def deadline_of(state: str, acknowledge_due: T, resolve_due: T) -> T | None:
    """The deadline a case is working to: acknowledge while open, then resolve; none once it ended."""
    if state in FINAL:
        return None
    return acknowledge_due if state == OPEN else resolve_due


# --- what opening a case takes ----------------------------------------------------------------


@dataclass
class Condition:
    """One condition of a rule that held: the metric, how it was compared, the policy's threshold and the value."""

    metric: str
    operator: str
    threshold: Any
    value: Any


@dataclass
class LineFinding:
    """A rule that fired on a line: on its lot, or (level "sku") on the whole SKU-site the lot belongs to."""

    rule: str
    severity: str
    level: str
    conditions: list[Condition] = field(default_factory=list)
    title_en: str = ""
    title_zh: str = ""


@dataclass
class CaseLine:
    """One lot of the position (or one open purchase-order line, `po` "PO/LINE", lot empty), with every
    finding on it, the rule that governs it and the dispositions it allows."""

    lot: str
    serial: str
    value: str
    metrics: dict[str, Any]
    quantity: str = "0"
    return_by: str = ""
    """The last day the supplier takes the lot back (ISO date); empty when it takes no returns."""
    expires_on: str = ""
    findings: list[LineFinding] = field(default_factory=list)
    rule: str = ""
    """The governing rule: the most severe finding (policy order breaks ties)."""
    dispositions: list[str] = field(default_factory=list)
    """What every lot rule on it allows (else the governing rule's), less what the QC and expiry guard forbids."""
    qc_status: str = ""
    po: str = ""
    """For a purchase-order line: "PO/LINE"; its quantity is the open quantity, its value is on order, not stock."""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.lot, self.serial, self.po)

    @property
    def name(self) -> str:
        if self.po:
            return f"PO line {self.po}"
        return f"lot {self.lot or '-'}" + (f" serial {self.serial}" if self.serial else "")


def stock_value(lines: list[CaseLine]) -> Decimal:
    """The value of the stock the lines hold; purchase-order lines are on order, not stock, and never count."""
    return sum((Decimal(line.value) for line in lines if not line.po), Decimal(0))


@dataclass
class Approval:
    qa_signoff: bool = False
    committee_over_value: str | None = None
    """A decimal as text, so the amount crosses Temporal exactly."""


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
    position: str = ""
    """The stock position (position_key) this case governs."""
    generation: int = 1
    snapshot_id: int = 0
    """The snapshot whose scan opened the case."""
    merged: list[MergedCase] = field(default_factory=list)
    """Cases of the per-rule model this case takes over at its opening (governance/upgrade.py)."""


# --- the plan ---------------------------------------------------------------------------------


@dataclass
class ProposalLine:
    """One line of a plan: what to do with how much of one lot (or a cut of one PO line). An empty
    disposition or target takes the Propose's own, so a one-disposition plan is written once."""

    lot: str
    serial: str
    quantity: str
    disposition: str = ""
    target: str = ""
    """The site (reallocate), the substitute SKU (substitute) or the purchase-order line "PO/LINE"."""
    postpone_to: str = ""
    line_no: int = 0
    """The line's number in the plan as proposed (1-based), kept when a trim drops lines before it: the
    hold on its lot and its instruction's idempotency key name it."""

    @property
    def name(self) -> str:
        if self.disposition == REDUCE_PURCHASE_ORDER:
            return f"PO line {self.target or '-'}"
        return f"lot {self.lot or '-'}" + (f" serial {self.serial}" if self.serial else "")


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
    """One ERP instruction of an approved plan (one per plan line), as the outbox numbered it."""

    id: int
    lot: str
    serial: str
    quantity: str
    stock_before: str = ""
    """The line's quantity when the instruction went out."""
    confirmed_by: str = ""
    confirmed_at: str = ""
    disposition: str = ""
    target: str = ""
    done: str = ""
    """The quantity confirmed carried out; less than `quantity` for a partial confirmation."""
    how: str = ""
    """What confirmed it: the ERP's note, or the movement a later snapshot shows."""


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
class MergedCase:
    """A case of the per-rule model (one rule, SKU and site) that a position's new case takes over at the
    upgrade: its timeline and signatures are kept, its pending plan is carried over where it still validates."""

    case_id: str
    rule: str
    timeline: list[str]
    signatures: list[Signature]
    pending: Proposal | None
    instructed: Proposal | None = None
    """A plan whose ERP instructions were out when it was merged: they await their confirmation under the
    new case (the outbox rows move to it), never sent twice."""


@dataclass
class CaseState:
    """What a case carries into its next run when it continues as new."""

    state: CaseStatus
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
    snapshot_id: int = 0
    opened_at: str = ""


# --- what people and scans send a case, and what it shows --------------------------------------


@dataclass
class Lines:
    """What a scan found for this case now; no lines means every finding cleared. Beside the lines, what
    they make of the case (its severity, governing rule, tightest deadlines, dispositions), and the
    instructions this scan's snapshot shows carried out (governance/evidence.py)."""

    lines: list[CaseLine] = field(default_factory=list)
    severity: str = ""
    rule: str = ""
    title_en: str = ""
    title_zh: str = ""
    acknowledge_seconds: float = 0.0
    resolve_seconds: float = 0.0
    dispositions: list[str] = field(default_factory=list)
    snapshot_id: int = 0
    evidenced: list[Evidenced] = field(default_factory=list)


@dataclass
class Evidenced:
    """An instruction a snapshot shows carried out (a return or scrap movement of that lot, the stock arriving
    at the target, the PO line cut), and how much of it."""

    instruction: int
    done: str
    how: str


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
    quantity: str = ""
    """What was carried out, when less than instructed (a partial confirmation); empty: all of it."""


@dataclass
class Cancel:
    actor: str
    reason: str


@dataclass
class CaseView:
    case_id: str
    state: CaseStatus
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


# --- what a case records and asks of the database -----------------------------------------------


@dataclass
class Notify:
    """The messages a step queues in its own transaction: one template, one message per recipient."""

    event: str
    recipients: list[str]


@dataclass
class Change:
    """One thing a step changed, as data that each message words in its reader's language (the reason the
    workflow writes into the trail is English). `kind`: severity, acknowledge_due or resolve_due (a case
    tightened); cut or dropped (a plan line trimmed); left (what a carried-out plan left governed)."""

    kind: str
    lot: str = ""
    serial: str = ""
    po: str = ""
    before: str = ""
    after: str = ""
    why: str = ""
    """For a dropped line: the lot's QC status or "expired" (it may no longer be put to use), "closed" (a PO
    line no longer open) or "" (the stock is gone); for a severity, the rule that raised it."""


@dataclass
class CaseEvent:
    """One recorded step of a case: the mirror row, the audit entry and the step's messages."""

    case_id: str
    event_no: int
    action: str
    actor: str
    state: CaseStatus
    before: Any
    """The audit entry's before and after: plain JSON (a state, a list of people, a summary)."""
    after: Any
    reason: str
    rule: str
    sku: str
    site: str
    severity: str
    owner: str
    assignees: list[str]
    escalation_level: int
    acknowledge_due: str
    resolve_due: str
    lines: list[CaseLine]
    policy_version: str
    at: str
    proposal: Proposal | None = None
    """The open disposition proposal with its signatures and instructions."""
    notify: Notify | None = None
    title_en: str = ""
    title_zh: str = ""
    position: str = ""
    generation: int = 1
    snapshot_id: int = 0
    changes: list[Change] = field(default_factory=list)


@dataclass
class FailedDelivery:
    """What a delivery-failing notice to the administrators is about."""

    recipient: str
    event: str
    attempts: int
    error: str


@dataclass
class CaseSnapshot:
    """The case as one step left it: what a queued message tells (stored with the message as JSON)."""

    case_id: str
    event_no: int | str
    """The step's number; a delivery-failing notice numbers itself after the failed message ("3-failing-17")."""
    rule: str
    sku: str
    site: str
    severity: str
    state: CaseStatus
    owner: str
    assignees: list[str]
    escalation_level: int
    acknowledge_due: str
    resolve_due: str
    lines: list[CaseLine]
    policy_version: str
    proposal: Proposal | None = None
    title_en: str | None = None
    title_zh: str | None = None
    reason: str | None = None
    actor: str | None = None
    failed_delivery: FailedDelivery | None = None
    changes: list[Change] = field(default_factory=list)

    @classmethod
    def of(cls, event: CaseEvent) -> CaseSnapshot:
        return cls(event.case_id, event.event_no, event.rule, event.sku, event.site, event.severity, event.state,
                   event.owner, list(event.assignees), event.escalation_level, event.acknowledge_due,
                   event.resolve_due, list(event.lines), event.policy_version, event.proposal, event.title_en,
                   event.title_zh, event.reason, event.actor, changes=list(event.changes))

    def value(self) -> Decimal:
        return stock_value(self.lines)


@dataclass
class MirroredCase:
    """A case as the mirror holds it now (not as a step left it): what a digest lists and links to."""

    case_id: str
    rule: str
    sku: str
    site: str
    state: CaseStatus
    assignees: list[str]
    acknowledge_due: datetime
    resolve_due: datetime
    value: Decimal
    title_en: str = ""
    title_zh: str = ""
    proposal: Proposal | None = None
    severity: str = ""
    """The case's severity (critical, high, medium, low): a digest lists the most severe first."""


class AtAStep(Protocol):
    """What decides the actions a person may take on a case: its state, who is responsible, the proposal."""

    @property
    def state(self) -> str: ...
    @property
    def assignees(self) -> list[str]: ...
    @property
    def proposal(self) -> Proposal | None: ...


@dataclass
class TargetCheck:
    sku: str
    site: str
    disposition: str
    target: str
    quantity: str


@dataclass
class InstructionLine:
    lot: str
    serial: str
    quantity: str
    value: str
    disposition: str = ""
    target: str = ""
    postpone_to: str = ""
    line_no: int = 0
    """The plan line it carries out (0: its place in the request, as before plans kept their numbers)."""


@dataclass
class InstructionRequest:
    """An approved proposal to turn into ERP instructions, one per line, each with an idempotency key."""

    case_id: str
    proposal_no: int
    disposition: str
    sku: str
    site: str
    supplier: str
    target: str
    postpone_to: str
    lines: list[InstructionLine]
    approved_by: list[str]
    policy_version: str
    at: str


@dataclass
class Confirmation:
    case_id: str
    instructions: list[int]
    actor: str
    note: str
    policy_version: str
    at: str
    done: list[str] = field(default_factory=list)
    """Beside `instructions`: the quantity carried out of each ("" for all of it)."""
    plan_no: int = 0
    """The plan whose holds on the stock the confirmed quantities release."""


@dataclass
class HoldRequest:
    """A plan's lots to hold against every other plan in the company (governance/reservations.py), or,
    with no lines, its holds to let go."""

    case_id: str
    plan_no: int
    sku: str
    site: str
    lines: list[ProposalLine]
    reason: str
    at: str
    line_nos: list[int] = field(default_factory=list)
    """For a release: only these plan lines (1-based); empty: the whole plan."""


@dataclass
class StockCheck:
    """The plan lines to check against what the latest snapshot holds now (less what other plans hold),
    before instructions go out."""

    sku: str
    site: str
    lines: list[ProposalLine]
    case_id: str = ""


# --- JSON in the database ---------------------------------------------------------------------


def to_json(value: Any) -> Any:
    """A case dataclass (or a list of them) as plain JSON data: states as their names."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    if isinstance(value, dict):
        return {key: to_json(item) for key, item in value.items()}
    return value


def from_json(kind: type[D], data: Any) -> D:
    """Read JSON written by `to_json` (or by earlier versions) back into `kind`. Keys it does not know
    are ignored, and a missing or null field takes its default, so rows stored before a field was added
    still read."""
    return typing.cast(D, _read(kind, data))


def _read(hint: Any, data: Any) -> Any:
    if data is None or hint is Any or hint is object:
        return data
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [option for option in typing.get_args(hint) if option is not type(None)]
        for option in options:  # a value already of one of the plain types stays as it is
            if isinstance(option, type) and not dataclasses.is_dataclass(option) and isinstance(data, option):
                return _read(option, data)
        return _read(options[0], data)
    if origin is list:
        (item,) = typing.get_args(hint) or (Any,)
        return [_read(item, value) for value in data]
    if origin is dict:
        _, item = typing.get_args(hint) or (str, Any)
        return {key: _read(item, value) for key, value in data.items()}
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        hints = _hints(hint)
        given = {}
        for f in dataclasses.fields(hint):
            value = data.get(f.name)
            if value is None and (f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING):
                continue
            given[f.name] = _read(hints[f.name], value) if value is not None else _empty(hints[f.name])
        return hint(**given)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(data)
    if hint is float and isinstance(data, int):
        return float(data)
    return data


def _empty(hint: Any) -> Any:
    """What a field that a stored row lacks reads as: nothing of its type (a partial proposal still reads)."""
    origin = typing.get_origin(hint) or hint
    if hint is Any or hint is object or (origin in (typing.Union, types.UnionType) and type(None) in typing.get_args(hint)):
        return None
    if origin in (str, int, float, bool, list, dict):
        return origin()
    raise ValueError(f"a stored value lacks a field of type {hint}")


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(kind: type) -> dict[str, Any]:
    if kind not in _HINTS:
        _HINTS[kind] = typing.get_type_hints(kind)
    return _HINTS[kind]
