"""What the action forms send (the signed-link pages and the case page), read into the case's messages.
A quantity that is not a number raises InvalidOperation; everything else the case's Update checks."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from workflows.case_messages import ProposalLine, Propose, Sign


def propose_from_form(form: Any, person: str, lines: list[dict[str, Any]]) -> Propose:
    """`qty_<n>` per case line (empty: the line is left out), `disposition`, `target`, `reason`."""
    chosen = []
    for index, line in enumerate(lines):
        quantity = str(form.get(f"qty_{index}", "")).strip()
        if quantity:
            Decimal(quantity)
            chosen.append(ProposalLine(line["lot"], line["serial"], quantity))
    return Propose(person, str(form.get("disposition", "")), chosen, target=str(form.get("target", "")),
                   reason=str(form.get("reason", "")))


def sign_from_form(form: Any, person: str, action: str) -> Sign:
    """`reject` signs rejected; `approve` signs the chosen meaning (approved or reviewed)."""
    chosen = str(form.get("meaning", "approved"))
    meaning = "rejected" if action == "reject" else chosen if chosen in ("approved", "reviewed") else "approved"
    return Sign(person, meaning, str(form.get("reason", "")))
