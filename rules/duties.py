"""Which changes of a policy move duties, and so wait for a second person's signature (rules/versions.py).

A policy names who owns stock (owner scopes and their escalation), who signs (qa, committee) and what
needs signatures (approvals). A compliance officer who could change those alone could name themselves
the QA signer of a scrap, or remove the committee's approval over a value, and then act under the rules
they wrote. So activating a text that changes any duty does not activate it: it is stored as a pending
activation until a second person (an admin or another compliance officer) signs it; nobody signs what
they proposed. Thresholds, SLAs and rules alone take effect at once, as before.

The very first activation (nothing active yet, as on a new installation) has no duties to move and is
taken alone; it is audited like any other.
"""

from __future__ import annotations

from dataclasses import dataclass

from rules.policy import Policy


@dataclass(frozen=True)
class DutyChange:
    """One duty a draft changes: `what` is owners, qa, committee or approvals."""

    what: str
    before: list[str]
    after: list[str]

    def __str__(self) -> str:
        removed = sorted(set(self.before) - set(self.after))
        added = sorted(set(self.after) - set(self.before))
        parts = [f"+ {a}" for a in added] + [f"- {r}" for r in removed]
        return f"{self.what}: {', '.join(parts) if parts else 'order or scopes changed'}"


def _owners(policy: Policy) -> list[str]:
    return [f"{o.scope.model_dump_json(exclude_none=True)} -> {o.owner.lower()} "
            f"(escalation {', '.join(e.lower() for e in o.escalation) or '-'})" for o in policy.owners]


def _approvals(policy: Policy) -> list[str]:
    return [f"{d.value}: qa_signoff={a.qa_signoff}, committee_over_value={a.committee_over_value}"
            for d, a in sorted(policy.approvals.items(), key=lambda item: item[0].value)]


def duty_changes(current: Policy | None, draft: Policy) -> list[DutyChange]:
    """What `draft` changes in owners, signers and approvals against the active policy (none: nothing)."""
    if current is None:
        return []
    views = {"owners": _owners, "qa": lambda p: sorted(e.lower() for e in p.qa),
             "committee": lambda p: sorted(e.lower() for e in p.committee), "approvals": _approvals}
    changes = []
    for what, view in views.items():
        before, after = view(current), view(draft)
        if before != after:
            changes.append(DutyChange(what, before, after))
    return changes
