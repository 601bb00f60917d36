"""The rules a disposition proposal and its signatures must keep, decided from what the case carries.

Pure functions of the case and the request: the CaseWorkflow's validators call them, so a wrong
proposal or signature is refused before it enters history, and the same answer comes back on replay.
What only the database knows (does the target site have demand, is the purchase-order line open) is
checked by an activity in the Update handler (activities.cases.CaseActivities.check_target).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal, InvalidOperation

from core.case import (
    APPROVED_MEANING,
    COMMITTEE,
    MEANINGS,
    NEVER_FOR_UNUSABLE,
    QA,
    REALLOCATE,
    REDUCE_PURCHASE_ORDER,
    RETURN_TO_SUPPLIER,
    REVIEWED_MEANING,
    SCRAP,
    SELL_OR_DONATE,
    SUBSTITUTE,
    UNUSABLE_QC,
    CaseInput,
    CaseLine,
    Proposal,
    ProposalLine,
    Propose,
)

DISPOSITION_WORDS = (REALLOCATE, SUBSTITUTE, RETURN_TO_SUPPLIER, REDUCE_PURCHASE_ORDER, SELL_OR_DONATE, SCRAP)
NEEDS_TARGET = {REALLOCATE: "a target site", SUBSTITUTE: "a substitute SKU",
                REDUCE_PURCHASE_ORDER: "a purchase-order line as PO/LINE"}
PO_LINE = REDUCE_PURCHASE_ORDER


def _quantity(text: str) -> Decimal | None:
    try:
        quantity = Decimal(text)
    except (InvalidOperation, TypeError):
        return None
    return quantity if quantity.is_finite() else None


def plan_lines(request: Propose) -> list[ProposalLine]:
    """The plan's lines, each with its own disposition, target and postponement (a line that names none
    takes the Propose's)."""
    return [replace(line, disposition=line.disposition or request.disposition, target=line.target or request.target,
                    postpone_to=line.postpone_to or (request.postpone_to if
                                                     (line.disposition or request.disposition) == PO_LINE else ""))
            for line in request.lines]


def unusable(line: CaseLine, today: date) -> str:
    """Why the line's stock may not be put to use ("quarantine", "expired", ...), or ""."""
    if line.qc_status in UNUSABLE_QC:
        return line.qc_status
    if line.expires_on and date.fromisoformat(line.expires_on) < today:
        return "expired"
    return ""


def proposal_problems(case: CaseInput, lines: list[CaseLine], request: Propose, today: date) -> list[str]:
    """Everything wrong with the plan `request` on this case today; empty when it may be proposed."""
    plan = plan_lines(request)
    if not plan:
        return ["a plan needs at least one line with a quantity"]
    unknown = sorted({line.disposition for line in plan} - set(DISPOSITION_WORDS))
    if unknown:
        return [f"this case allows {', '.join(case.dispositions)}, not '{unknown[0]}'"]
    problems: list[str] = []
    stock = {(line.lot, line.serial): line for line in lines if not line.po}
    orders = {line.po: line for line in lines if line.po}
    seen: set[tuple[str, str, str]] = set()
    for proposed in plan:
        disposition, name = proposed.disposition, proposed.name
        problems += _target_problems(case, proposed, today)
        if disposition == PO_LINE:
            if PO_LINE not in case.dispositions:
                problems.append(f"{name}: this case allows {', '.join(case.dispositions)}, not '{disposition}'")
                continue
            key = ("", "", proposed.target)
            problems += _po_cut_problems(proposed, orders)
        else:
            key = (proposed.lot, proposed.serial, "")
            line = stock.get((proposed.lot, proposed.serial))
            if line is None:
                problems.append(f"{name} is not a line of this case")
                continue
            problems += _lot_problems(case, line, proposed, today)
        if key in seen:
            problems.append(f"{name} appears twice")
        seen.add(key)
    if any(line.disposition == RETURN_TO_SUPPLIER for line in plan) and not case.supplier:
        problems.append(f"{case.sku} has no supplier on record to return it to")
    return problems


def _target_problems(case: CaseInput, proposed: ProposalLine, today: date) -> list[str]:
    problems = []
    disposition, name = proposed.disposition, proposed.name
    if disposition in NEEDS_TARGET and not proposed.target.strip():
        problems.append(f"{name}: {disposition} needs {NEEDS_TARGET[disposition]}")
    if disposition == REALLOCATE and proposed.target == case.site:
        problems.append(f"{name}: the stock is already at {case.site}; reallocate to another site")
    if disposition == SUBSTITUTE and proposed.target and proposed.target not in case.substitutes:
        allowed = ", ".join(case.substitutes) or "none"
        problems.append(f"{proposed.target} is not a substitute of {case.sku} (substitutes: {allowed})")
    if proposed.postpone_to and disposition != PO_LINE:
        problems.append("only reduce_purchase_order can postpone a delivery")
    if proposed.postpone_to:
        try:
            if date.fromisoformat(proposed.postpone_to) <= today:
                problems.append(f"postpone to a date after {today.isoformat()}")
        except ValueError:
            problems.append(f"postpone_to '{proposed.postpone_to}' is not a date (YYYY-MM-DD)")
    return problems


def _lot_problems(case: CaseInput, line: CaseLine, proposed: ProposalLine, today: date) -> list[str]:
    problems = []
    disposition, name = proposed.disposition, proposed.name
    allowed = line.dispositions or case.dispositions
    why = unusable(line, today)
    if why and disposition in NEVER_FOR_UNUSABLE:
        problems.append(f"{name} is {why}: it may be returned or scrapped, never {disposition}")
    elif disposition not in allowed:
        rules = ", ".join(dict.fromkeys(f.rule for f in line.findings)) or case.rule
        problems.append(f"{name}: its findings ({rules}) allow {', '.join(allowed)}, not '{disposition}'")
    quantity = _quantity(proposed.quantity)
    if quantity is None or quantity <= 0:
        problems.append(f"{name}: quantity '{proposed.quantity}' is not a positive number")
    elif quantity > Decimal(line.quantity):
        problems.append(f"{name}: {quantity} is more than the {line.quantity} in stock")
    if disposition == RETURN_TO_SUPPLIER:
        if not line.return_by:
            problems.append(f"{name}: the supplier takes no returns of {case.sku}")
        elif date.fromisoformat(line.return_by) < today:
            problems.append(f"{name}: the supplier's return window closed on {line.return_by}")
    return problems


def _po_cut_problems(proposed: ProposalLine, orders: dict[str, CaseLine]) -> list[str]:
    if proposed.lot or proposed.serial:
        return ["reduce_purchase_order takes a line without lot: the quantity to cut from the PO line"]
    quantity = _quantity(proposed.quantity)
    if quantity is None or quantity < 0 or (quantity == 0 and not proposed.postpone_to):
        return [f"cut quantity '{proposed.quantity}' must be positive (or 0 with postpone_to)"]
    if orders:  # a case of a SKU rule that cuts orders carries its open PO lines; older cases ask the database
        line = orders.get(proposed.target)
        if line is None:
            return [f"PO line {proposed.target} is not a line of this case (its PO lines: {', '.join(orders)})"]
        if quantity > Decimal(line.quantity):
            return [f"PO line {proposed.target}: {quantity} is more than the {line.quantity} still open"]
    return []


def unit_value(lines: list[CaseLine]) -> Decimal:
    """The case's stock value per unit: every line is the same SKU, so one price serves a PO cut too."""
    stock = [line for line in lines if not line.po] or lines
    quantity = sum((Decimal(line.quantity) for line in stock), Decimal(0))
    return sum((Decimal(line.value) for line in stock), Decimal(0)) / quantity if quantity else Decimal(0)


def line_value(lines: list[CaseLine], proposed: ProposalLine) -> Decimal:
    """The value one plan line disposes of (stock, or for a PO cut the orders not bought)."""
    match = next((line for line in lines if (proposed.disposition == PO_LINE and line.po == proposed.target)
                  or (proposed.disposition != PO_LINE and not line.po
                      and (line.lot, line.serial) == (proposed.lot, proposed.serial))), None)
    if match is not None and Decimal(match.quantity):
        per_unit = Decimal(match.value) / Decimal(match.quantity)
    else:
        per_unit = unit_value(lines)
    return (Decimal(proposed.quantity) * per_unit).quantize(Decimal("0.01"))


def values_by_disposition(lines: list[CaseLine], plan: list[ProposalLine]) -> dict[str, Decimal]:
    """What the plan disposes of, per disposition: each disposition's value decides its own committee threshold."""
    values: dict[str, Decimal] = {}
    for proposed in plan:
        values[proposed.disposition] = values.get(proposed.disposition, Decimal(0)) + line_value(lines, proposed)
    return values


def proposal_value(lines: list[CaseLine], request: Propose) -> Decimal:
    """The value the whole plan disposes of."""
    return sum(values_by_disposition(lines, plan_lines(request)).values(), Decimal(0)).quantize(Decimal("0.01"))


def required_signatures(case: CaseInput, values: dict[str, Decimal]) -> list[str]:
    """The signatures the plan's actions need together: QA if any line's disposition asks for QA sign-off,
    the committee where a disposition's value in the plan passes its threshold."""
    required = []
    approvals = [case.approvals[d] for d in values if d in case.approvals]
    if any(a.qa_signoff for a in approvals):
        required.append(QA)
    if any(case.approvals[d].committee_over_value is not None
           and value > Decimal(case.approvals[d].committee_over_value or 0)
           for d, value in values.items() if d in case.approvals):
        required.append(COMMITTEE)
    return required


def plan_name(plan: list[ProposalLine]) -> str:
    """The plan's disposition when its lines share one, else its dispositions joined with "+"."""
    return "+".join(dict.fromkeys(line.disposition for line in plan))


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
