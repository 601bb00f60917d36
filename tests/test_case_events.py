"""Recording a case's steps (governance/service.py) on both databases: a retried step is recorded once, and
a different step under a number already used (a workflow task Temporal refused and the worker replayed with
a signal first) is recorded too, the mirror then showing it."""

from __future__ import annotations

from sqlalchemy import Engine

from audit.trail import entries, verify
from core.case import CaseEvent, CaseLine, CaseStatus
from governance.service import record_event
from tests.support.cases import mirror

CASE = "position/SH01/HIP-1/0123456789ab"


def _event(no: int, action: str, state: CaseStatus, quantity: str, reason: str = "") -> CaseEvent:
    lines = [CaseLine("L1", "", "100", {}, quantity=quantity)] if quantity else []
    return CaseEvent(
        case_id=CASE, event_no=no, action=action, actor="stockwarden", state=state, before=None, after=None,
        reason=reason, rule="idle", sku="HIP-1", site="SH01", severity="medium", owner="zhang.wei@example.com",
        assignees=["zhang.wei@example.com"], escalation_level=0, acknowledge_due="2026-12-08T00:00:00+00:00",
        resolve_due="2027-01-15T00:00:00+00:00", lines=lines, policy_version="1", at="2026-12-04T10:00:00+00:00",
        position=CASE)


def _actions(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return [e.action for e in entries(connection, subject=f"case:{CASE}")]


def test_a_retried_step_is_recorded_once(engine: Engine) -> None:
    with engine.begin() as connection:
        assert record_event(connection, _event(1, "case.opened", CaseStatus.OPEN, "12"))
        assert record_event(connection, _event(2, "case.refreshed", CaseStatus.OPEN, "10", "the latest scan"))
        assert not record_event(connection, _event(2, "case.refreshed", CaseStatus.OPEN, "10", "the latest scan"))
        assert not record_event(connection, _event(1, "case.opened", CaseStatus.OPEN, "12"))
    assert _actions(engine) == ["case.opened", "case.refreshed"]


def test_another_step_under_a_used_number_is_recorded_and_the_mirror_follows_it(engine: Engine) -> None:
    with engine.begin() as connection:
        assert record_event(connection, _event(1, "case.opened", CaseStatus.OPEN, "12"))
        assert record_event(connection, _event(2, "case.refreshed", CaseStatus.OPEN, "10", "the latest scan"))
        # the replayed task took the empty refresh first: number 2 is now the case resolving by itself
        assert record_event(connection, _event(2, "case.resolved_by_itself", CaseStatus.RESOLVED_BY_ITSELF, ""))
        assert not record_event(connection, _event(2, "case.resolved_by_itself", CaseStatus.RESOLVED_BY_ITSELF, ""))
        # same action, other lines: another step too
        assert record_event(connection, _event(3, "case.refreshed", CaseStatus.OPEN, "9", "the latest scan"))
        assert record_event(connection, _event(3, "case.refreshed", CaseStatus.OPEN, "8", "the latest scan"))
    assert _actions(engine) == ["case.opened", "case.refreshed", "case.resolved_by_itself", "case.refreshed",
                                "case.refreshed"]
    row = mirror(engine, CASE)
    assert (row.last_event, row.lines[0]["quantity"]) == (3, "8")
    with engine.connect() as connection:
        assert verify(connection)[1] == []
