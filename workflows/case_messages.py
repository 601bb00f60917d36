"""Moved to core/case.py; these names stay importable from here for api/ and stockwarden/ until merge
(their import lines then read `from core.case import ...` and this module goes)."""

from core.case import (  # noqa: F401  (for api/ and stockwarden/ until merge)
    AUTHENTICATIONS,
    STATES,
    Acknowledge,
    Cancel,
    Comment,
    Confirm,
    ProposalLine,
    Propose,
    Reassign,
    Sign,
    Snooze,
)
