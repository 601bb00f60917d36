"""The rules a disposition proposal and its signatures must keep, decided from what the case carries.

Pure functions of the case and the request: the CaseWorkflow's validators call them, so a wrong
proposal or signature is refused before it enters history, and the same answer comes back on replay.
What only the database knows (does the target site have demand, is the purchase-order line open) is
checked by an activity in the Update handler (activities.cases.CaseActivities.check_target).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation

from core.case import (
    APPROVED_MEANING,
    COMMITTEE,
    MEANINGS,
    QA,
    REALLOCATE,
    REDUCE_PURCHASE_ORDER,
    RETURN_TO_SUPPLIER,
    REVIEWED_MEANING,
    SUBSTITUTE,
    CaseInput,
    CaseLine,
    Proposal,
    Propose,
)

NEEDS_TARGET = {REALLOCATE: "a target site", SUBSTITUTE: "a substitute SKU",
                REDUCE_PURCHASE_ORDER: "a purchase-order line as PO/LINE"}
PO_LINE = REDUCE_PURCHASE_ORDER


def _quantity(text: str) -> Decimal | None:
    try:
        quantity = Decimal(text)
    except (InvalidOperation, TypeError):
        return None
    return quantity if quantity.is_finite() else None


def proposal_problems(case: CaseInput, lines: list[CaseLine], request: Propose, today: date) -> list[str]:
    """Everything wrong with `request` on this case today; empty when it may be proposed."""
    problems: list[str] = []
    if request.disposition not in case.dispositions:
        return [f"rule {case.rule} allows {', '.join(case.dispositions)}, not '{request.disposition}'"]
    if request.disposition in NEEDS_TARGET and not request.target.strip():
        problems.append(f"{request.disposition} needs {NEEDS_TARGET[request.disposition]}")
    if request.disposition == REALLOCATE and request.target == case.site:
        problems.append(f"the stock is already at {case.site}; reallocate to another site")
    if request.disposition == SUBSTITUTE and request.target and request.target not in case.substitutes:
        allowed = ", ".join(case.substitutes) or "none"
        problems.append(f"{request.target} is not a substitute of {case.sku} (substitutes: {allowed})")
    if request.postpone_to and request.disposition != PO_LINE:
        problems.append("only reduce_purchase_order can postpone a delivery")
    if request.postpone_to:
        try:
            if date.fromisoformat(request.postpone_to) <= today:
                problems.append(f"postpone to a date after {today.isoformat()}")
        except ValueError:
            problems.append(f"postpone_to '{request.postpone_to}' is not a date (YYYY-MM-DD)")
    if not request.lines:
        return [*problems, "a proposal needs at least one line with a quantity"]
    if request.disposition == PO_LINE:
        return problems + _po_cut_problems(request)
    by_key = {(line.lot, line.serial): line for line in lines}
    seen: set[tuple[str, str]] = set()
    for proposed in request.lines:
        key = (proposed.lot, proposed.serial)
        name = f"lot {proposed.lot or '-'}" + (f" serial {proposed.serial}" if proposed.serial else "")
        line = by_key.get(key)
        if line is None:
            problems.append(f"{name} is not a line of this case")
            continue
        if key in seen:
            problems.append(f"{name} appears twice")
        seen.add(key)
        quantity = _quantity(proposed.quantity)
        if quantity is None or quantity <= 0:
            problems.append(f"{name}: quantity '{proposed.quantity}' is not a positive number")
        elif quantity > Decimal(line.quantity):
            problems.append(f"{name}: {quantity} is more than the {line.quantity} in stock")
        if request.disposition == RETURN_TO_SUPPLIER:
            if not line.return_by:
                problems.append(f"{name}: the supplier takes no returns of {case.sku}")
            elif date.fromisoformat(line.return_by) < today:
                problems.append(f"{name}: the supplier's return window closed on {line.return_by}")
    if request.disposition == RETURN_TO_SUPPLIER and not case.supplier:
        problems.append(f"{case.sku} has no supplier on record to return it to")
    return problems


def _po_cut_problems(request: Propose) -> list[str]:
    if len(request.lines) != 1 or request.lines[0].lot or request.lines[0].serial:
        return ["reduce_purchase_order takes one line without lot: the quantity to cut from the PO line"]
    quantity = _quantity(request.lines[0].quantity)
    if quantity is None or quantity < 0 or (quantity == 0 and not request.postpone_to):
        return [f"cut quantity '{request.lines[0].quantity}' must be positive (or 0 with postpone_to)"]
    return []


def unit_value(lines: list[CaseLine]) -> Decimal:
    """The case's stock value per unit: every line is the same SKU, so one price serves a PO cut too."""
    quantity = sum((Decimal(line.quantity) for line in lines), Decimal(0))
    return sum((Decimal(line.value) for line in lines), Decimal(0)) / quantity if quantity else Decimal(0)


def proposal_value(lines: list[CaseLine], request: Propose) -> Decimal:
    """The stock value the proposal disposes of; it decides whether the committee must sign."""
    if request.disposition == PO_LINE:
        return (Decimal(request.lines[0].quantity) * unit_value(lines)).quantize(Decimal("0.01"))
    by_key = {(line.lot, line.serial): line for line in lines}
    total = Decimal(0)
    for proposed in request.lines:
        line = by_key[(proposed.lot, proposed.serial)]
        per_unit = Decimal(line.value) / Decimal(line.quantity) if Decimal(line.quantity) else Decimal(0)
        total += Decimal(proposed.quantity) * per_unit
    return total.quantize(Decimal("0.01"))


def required_signatures(case: CaseInput, disposition: str, value: Decimal) -> list[str]:
    approval = case.approvals.get(disposition)
    if approval is None:
        return []
    required = [QA] if approval.qa_signoff else []
    if approval.committee_over_value is not None and value > Decimal(approval.committee_over_value):
        required.append(COMMITTEE)
    return required


def signers_for(case: CaseInput, role: str) -> list[str]:
    return list(case.qa if role == QA else case.committee)


def signature_problem(case: CaseInput, proposal: Proposal, actor: str, meaning: str, reason: str,
                      responsible: list[str]) -> str | None:
    """Why `actor` may not sign `proposal` with `meaning`, or None. The proposer never approves their own
    proposal, each person signs a proposal once, and an approval must fill a signature still needed."""
    if meaning not in MEANINGS:
        return f"a signature means one of {', '.join(MEANINGS)}, not '{meaning}'"
    if any(s.signer == actor for s in proposal.signatures):
        return f"{actor} has already signed this proposal"
    approvers = {person for role in proposal.requires for person in signers_for(case, role)}
    if meaning == REVIEWED_MEANING:
        if actor not in approvers | set(responsible) | set(case.qa) | set(case.committee):
            return f"{actor} has no part in this case and cannot sign it as reviewed"
        return None
    if actor == proposal.by:
        return f"{actor} proposed this disposition and cannot {'approve' if meaning == APPROVED_MEANING else 'reject'} it"
    if actor not in approvers:
        wanted = "; ".join(f"{role}: {', '.join(signers_for(case, role))}" for role in proposal.requires)
        return f"{actor} may not sign for this proposal (still needed: {wanted})"
    if meaning != APPROVED_MEANING and not reason.strip():
        return "a rejection needs a reason"
    return None


def role_filled(case: CaseInput, proposal: Proposal, actor: str) -> str:
    """The first still-needed signature that `actor` may give (checked by signature_problem first)."""
    return next(role for role in proposal.requires if actor in signers_for(case, role))
