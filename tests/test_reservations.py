"""Holds on lots (governance/reservations.py): open plans never hold more of a lot than the latest snapshot
holds, whole plans or nothing, retries hold nothing twice, and two cases racing for one lot cannot both win."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import col

from audit.trail import entries, verify
from core.db import make_engine
from governance.models import LotReservation
from governance.reservations import (
    CONSUMED,
    HELD,
    RELEASED,
    Hold,
    consume,
    held_by_others,
    on_hand,
    overcommitted,
    release,
    reserve,
    shrink,
)
from inventory.ingest import ingest
from inventory.metrics import latest_snapshot
from inventory.movements import apply_movements
from tests.support.data import LOT_HEADER, write_export

AS_OF = datetime(2026, 11, 25, tzinfo=UTC).date()
AT = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
QA = "position/SH01/CAT-1/qa@example.com"
"""Two cases of different owners at one SKU-site: the quarantined stock's (QA) and the rest's (planning)."""
PLANNING = "position/SH01/CAT-1/planning@example.com"

LOTS = LOT_HEADER + """\
CAT-1,SH01,L1,,42,,2026-01-01,,2027-06-01,,released,
CAT-1,SH01,L2,,10,,2026-01-01,,2027-06-01,,quarantine,
HIP-1,SH01,L7,S1,1,,2025-01-01,,2029-10-01,,released,
"""
L1 = ("CAT-1", "SH01", "L1", "")
L2 = ("CAT-1", "SH01", "L2", "")
S1 = ("HIP-1", "SH01", "L7", "S1")


def hold(line_no: int, key: tuple[str, str, str, str], quantity: str) -> Hold:
    return Hold(line_no, *key, Decimal(quantity))


@pytest.fixture
def company(engine: Engine, tmp_path: Path) -> Engine:
    ingest(engine, write_export(tmp_path / "export", lots=LOTS), as_of=AS_OF)
    return engine


def held_rows(engine: Engine) -> list[tuple[str, int, int, str, Decimal, Decimal, str]]:
    with engine.connect() as connection:
        rows = connection.execute(select(LotReservation).order_by(
            col(LotReservation.case_id), col(LotReservation.plan_no), col(LotReservation.line_no))).all()
    return [(r.case_id, r.plan_no, r.line_no, r.lot, Decimal(r.quantity).normalize(),
             Decimal(r.consumed).normalize(), r.state) for r in rows]


def held_in_all(engine: Engine, lot: str) -> Decimal:
    with engine.connect() as connection:
        total = connection.execute(select(func.coalesce(func.sum(col(LotReservation.quantity) - col(LotReservation.consumed)), 0))
                                   .where(col(LotReservation.lot) == lot, col(LotReservation.state) == HELD)).scalar_one()
    return Decimal(total)


def test_a_plan_that_asks_more_than_is_free_is_refused_with_the_numbers(company: Engine) -> None:
    with company.begin() as connection:
        assert reserve(connection, QA, 1, [hold(1, L1, "20")], AT) == []
    with company.begin() as connection:
        assert reserve(connection, PLANNING, 1, [hold(1, L1, "30")], AT) == [
            f"lot L1 of CAT-1 at SH01: 30 asked, 42 in stock of which 20 held by {QA} (plan 1, line 1: 20), "
            "so 22 free"]
        assert reserve(connection, PLANNING, 2, [hold(1, L1, "43")], AT)[0].startswith(
            "lot L1 of CAT-1 at SH01: 43 asked, 42 in stock of which 20 held")
        assert reserve(connection, PLANNING, 3, [hold(1, S1, "2")], AT) == [
            "lot L7, serial S1 of HIP-1 at SH01: 2 asked, 1 in stock"]
        assert reserve(connection, PLANNING, 4, [hold(1, ("CAT-1", "SH01", "L9", ""), "1")], AT) == [
            "lot L9 of CAT-1 at SH01: 1 asked, 0 in stock"]
        assert reserve(connection, PLANNING, 5, [hold(1, L1, "0"), hold(1, L2, "1.00001"), hold(2, L1, "1E+20")],
                       AT) == [
            "line 1: lot L1 of CAT-1 at SH01: the quantity must be more than 0, not 0",
            "line 1 appears twice in the plan",
            "line 1: lot L2 of CAT-1 at SH01: 1.00001 has more than 4 decimal places",
            "line 2: lot L1 of CAT-1 at SH01: 1E+20 is more than any lot holds"]
        assert reserve(connection, PLANNING, 6, [hold(1, L1, "22")], AT) == []  # exactly what is free
        assert held_by_others(connection, PLANNING, *L1) == 20
        assert held_by_others(connection, QA, *L1) == 22
        assert held_by_others(connection, "position/SH01/CAT-1/nobody", *L1) == 42
    assert held_rows(company) == [(PLANNING, 6, 1, "L1", 22, 0, HELD), (QA, 1, 1, "L1", 20, 0, HELD)]


def test_a_plan_is_held_whole_or_not_at_all(company: Engine) -> None:
    with company.begin() as connection:
        assert reserve(connection, QA, 1, [hold(1, L2, "10")], AT) == []
    with company.begin() as connection:
        problems = reserve(connection, PLANNING, 1, [hold(1, L1, "12"), hold(2, L2, "1"), hold(3, S1, "1")], AT)
        assert problems == [f"lot L2 of CAT-1 at SH01: 1 asked, 10 in stock of which 10 held by {QA} "
                            "(plan 1, line 1: 10), so 0 free"]
    assert held_rows(company) == [(QA, 1, 1, "L2", 10, 0, HELD)]  # neither L1 nor the serial is held
    with company.begin() as connection:  # two lines on one lot count together
        assert reserve(connection, PLANNING, 2, [hold(1, L1, "30"), hold(2, L1, "13")], AT) == [
            "lot L1 of CAT-1 at SH01: 43 asked, 42 in stock"]
        assert reserve(connection, PLANNING, 3, [hold(1, L1, "30"), hold(2, L1, "12"), hold(3, S1, "1")], AT) == []
    assert [row[:4] for row in held_rows(company)] == [
        (PLANNING, 3, 1, "L1"), (PLANNING, 3, 2, "L1"), (PLANNING, 3, 3, "L7"), (QA, 1, 1, "L2")]


def test_a_retried_reservation_holds_nothing_twice(company: Engine) -> None:
    plan = [hold(1, L1, "30"), hold(2, S1, "1")]
    for _attempt in range(3):
        with company.begin() as connection:
            assert reserve(connection, QA, 1, plan, AT) == []
    assert held_in_all(company, "L1") == 30
    with company.connect() as connection:
        assert len(entries(connection, subject="lot:CAT-1/SH01/L1")) == 1
        assert [e.action for e in entries(connection, subject="lot:HIP-1/SH01/L7/S1")] == ["lot.reserved"]
    with company.begin() as connection:  # a line is never re-written with other content
        assert reserve(connection, QA, 1, [hold(1, L1, "31")], AT) == [
            f"line 1 of plan 1 of {QA} is already reserved as 30 of lot L1 of CAT-1 at SH01; a plan's lines do "
            "not change: propose a new plan"]
        release(connection, QA, 1, "rejected by QA", AT)
        assert reserve(connection, QA, 1, plan, AT) == []  # a retry after the release holds nothing again
    assert held_in_all(company, "L1") == 0


def test_releasing_and_consuming_free_the_quantity(company: Engine) -> None:
    later = AT + timedelta(days=1)
    with company.begin() as connection:
        assert reserve(connection, QA, 1, [hold(1, L1, "30"), hold(2, L2, "10")], AT) == []
        assert reserve(connection, PLANNING, 1, [hold(1, L1, "13")], AT) != []
    with company.begin() as connection:
        assert release(connection, QA, 1, "line trimmed by the owner", later, line_nos=[2]) == 1
        assert release(connection, QA, 1, "line trimmed by the owner", later, line_nos=[2]) == 0  # a retry
        assert consume(connection, QA, 1, 1, Decimal("18"), later) == 12  # a partial confirmation
        assert consume(connection, QA, 1, 1, Decimal("18"), later) == 12  # retried: the total, not more
        assert consume(connection, QA, 1, 1, Decimal("5"), later) == 12  # an older total changes nothing
        assert held_by_others(connection, PLANNING, *L1) == 12
        assert reserve(connection, PLANNING, 1, [hold(1, L1, "30"), hold(2, L2, "10")], later) == []
    assert held_rows(company) == [(PLANNING, 1, 1, "L1", 30, 0, HELD), (PLANNING, 1, 2, "L2", 10, 0, HELD),
                                  (QA, 1, 1, "L1", 30, 18, HELD), (QA, 1, 2, "L2", 10, 0, RELEASED)]
    with company.begin() as connection:
        assert consume(connection, QA, 1, 1, Decimal("31"), later) == 0  # confirmed in full (and more)
        assert consume(connection, QA, 1, 2, Decimal("10"), later) == 0  # released: nothing to consume
        assert consume(connection, QA, 9, 1, Decimal("10"), later) == 0  # never reserved
        assert release(connection, PLANNING, 1, "plan cancelled", later) == 2
        assert release(connection, QA, 1, "plan replaced", later) == 0  # nothing of it is held any more
    assert [row[4:] for row in held_rows(company)] == [
        (30, 0, RELEASED), (10, 0, RELEASED), (30, 30, CONSUMED), (10, 0, RELEASED)]
    with company.connect() as connection:
        assert [(e.action, e.before, e.after, e.reason) for e in entries(connection, subject="lot:CAT-1/SH01/L2")] == [
            ("lot.reserved", None, {"case": QA, "plan": 1, "lines": {"2": "10"}, "held": "10", "on_hand": "10"}, ""),
            ("lot.released", {"case": QA, "plan": 1, "lines": {"2": "10"}}, None, "line trimmed by the owner"),
            ("lot.reserved", None, {"case": PLANNING, "plan": 1, "lines": {"2": "10"}, "held": "10", "on_hand": "10"},
             ""),
            ("lot.released", {"case": PLANNING, "plan": 1, "lines": {"2": "10"}}, None, "plan cancelled")]
        assert [e.action for e in entries(connection, case=QA)] == [
            "lot.reserved", "lot.reserved", "lot.released", "lot.consumed", "lot.consumed"]
        assert verify(connection)[1] == []


def test_a_trimmed_line_gives_up_what_it_no_longer_needs_but_not_what_was_consumed(company: Engine) -> None:
    with company.begin() as connection:
        assert reserve(connection, PLANNING, 1, [hold(1, L1, "40"), hold(2, L1, "2")], AT) == []
        consume(connection, PLANNING, 1, 1, Decimal("5"), AT)
    with company.begin() as connection:
        assert reserve(connection, QA, 1, [hold(1, L1, "30")], AT) != []  # 42 of 42 held
        assert shrink(connection, PLANNING, 1, {1: Decimal("12"), 2: Decimal("3")}, "a movement took 28", AT) == 1
        assert shrink(connection, PLANNING, 1, {1: Decimal("12")}, "retried", AT) == 0
        assert held_by_others(connection, QA, *L1) == Decimal("9")  # 12 - 5 consumed + 2
        assert reserve(connection, QA, 1, [hold(1, L1, "30")], AT) == []  # the 28 given up are free
        assert shrink(connection, PLANNING, 1, {1: Decimal("1")}, "below what left", AT) == 1
        held = connection.execute(select(col(LotReservation.quantity), col(LotReservation.state)).where(
            col(LotReservation.case_id) == PLANNING, col(LotReservation.line_no) == 1)).one()
        assert (held.quantity, held.state) == (Decimal(5), CONSUMED)  # never below the 5 consumed
        assert [e.action for e in entries(connection, subject="lot:CAT-1/SH01/L1")].count("lot.trimmed") == 2
        assert verify(connection)[1] == []


def test_stock_taken_from_under_a_hold_is_reported_for_trimming(company: Engine, tmp_path: Path) -> None:
    with company.begin() as connection:
        assert reserve(connection, QA, 1, [hold(1, L1, "20")], AT) == []
        assert reserve(connection, PLANNING, 1, [hold(1, L1, "20"), hold(2, S1, "1")], AT + timedelta(hours=1)) == []
        assert overcommitted(connection) == []
    movements = tmp_path / "movements.csv"
    movements.write_text("sku,site,lot,serial,type,qty,uom,moved_on,reference\n"
                         "CAT-1,SH01,L1,,issue,10,,2026-11-25,SO-9\n", encoding="utf-8")
    with company.begin() as connection:
        snapshot = latest_snapshot(connection)
        assert snapshot is not None
        apply_movements(connection, snapshot, movements, actor="erp")
        assert on_hand(connection, *L1) == 32
        found = overcommitted(connection, [L1])
    assert [(o.case_id, o.plan_no, o.line_no, o.lot, o.held, o.on_hand, o.held_in_all, o.excess) for o in found] == [
        (PLANNING, 1, 1, "L1", 20, 32, 40, 8)]  # the earlier hold keeps its stock
    assert str(found[0]) == (f"lot L1 of CAT-1 at SH01: line 1 of plan 1 of {PLANNING} holds 20, but 32 are in stock "
                             "and open plans hold 40; trim it by 8")
    with company.begin() as connection:  # trimmed: released, proposed again with what is free
        release(connection, PLANNING, 1, "stock issued under the plan", AT, line_nos=[1])
        assert overcommitted(connection) == []
        assert reserve(connection, PLANNING, 2, [hold(1, L1, "12")], AT + timedelta(hours=2)) == []

    # A new snapshot without the lot: every hold on it is stock that is gone (in a company this small, one
    # lot gone is more than the 20 % that holds a snapshot as suspect: inventory/suspect.py).
    ingest(company, write_export(tmp_path / "next", lots=LOT_HEADER + "CAT-1,SH01,L2,,10,,2026-01-01,,,,released,\n"),
           as_of=AS_OF, suspect_drop=Decimal(100))
    with company.connect() as connection:
        assert on_hand(connection, *L1) == 0 and on_hand(connection, *L2) == 10
        assert [(o.case_id, o.plan_no, o.line_no, o.lot, o.held, o.excess) for o in overcommitted(connection)] == [
            (QA, 1, 1, "L1", 20, 20), (PLANNING, 2, 1, "L1", 12, 12), (PLANNING, 1, 2, "L7", 1, 1)]


def test_two_cases_racing_for_one_lot_never_hold_more_than_it_holds(company: Engine, database_url: str) -> None:
    """Two cases of different owners at one SKU-site each ask 30 of the 42 of lot L1 at the same moment,
    each through its own engine; a barrier lines the two transactions up just before they reserve. Without
    the lot's lock, PostgreSQL lets both read 0 held and both insert (tried: most rounds held 60)."""
    engines = [make_engine(database_url), make_engine(database_url)]
    rounds = 20
    try:
        for round_no in range(1, rounds + 1):
            barrier = threading.Barrier(2)
            results: dict[str, list[str]] = {}
            failures: list[Exception] = []

            def propose(engine: Engine, case_id: str, round_no: int = round_no,
                        barrier: threading.Barrier = barrier, results: dict[str, list[str]] = results,
                        failures: list[Exception] = failures) -> None:
                try:
                    with engine.begin() as connection:
                        barrier.wait()
                        results[case_id] = reserve(connection, case_id, round_no, [hold(1, L1, "30")], AT)
                except Exception as failure:  # reported by the main thread below
                    failures.append(failure)

            threads = [threading.Thread(target=propose, args=(engine, case_id))
                       for engine, case_id in zip(engines, (QA, PLANNING), strict=True)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert failures == []
            assert held_in_all(company, "L1") == 30, f"round {round_no}"
            assert sorted(len(problems) for problems in results.values()) == [0, 1], f"round {round_no}"
            winner = next(case_id for case_id, problems in results.items() if not problems)
            loser = next(case_id for case_id, problems in results.items() if problems)
            assert results[loser] == [f"lot L1 of CAT-1 at SH01: 30 asked, 42 in stock of which 30 held by {winner} "
                                      f"(plan {round_no}, line 1: 30), so 12 free"]
            with company.begin() as connection:
                assert release(connection, winner, round_no, "next round", AT) == 1
    finally:
        for engine in engines:
            engine.dispose()
    with company.connect() as connection:
        assert len(entries(connection, subject="lot:CAT-1/SH01/L1")) == 2 * rounds
        assert verify(connection)[1] == []


def test_a_plan_reserved_twice_at_once_is_held_once(company: Engine, database_url: str) -> None:
    """An activity retried while its first attempt is still running: both reserve the same plan at the
    same moment; both are told it is reserved, and it is held once (the second looks again once it has
    the lot's lock, rather than counting the first attempt's lines against its own)."""
    engines = [make_engine(database_url), make_engine(database_url)]
    try:
        for plan_no in range(1, 11):
            barrier = threading.Barrier(2)
            results: list[list[str]] = []

            def attempt(engine: Engine, plan_no: int = plan_no, barrier: threading.Barrier = barrier,
                        results: list[list[str]] = results) -> None:
                with engine.begin() as connection:
                    barrier.wait()
                    results.append(reserve(connection, QA, plan_no, [hold(1, L1, "30")], AT))

            threads = [threading.Thread(target=attempt, args=(engine,)) for engine in engines]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert results == [[], []], f"plan {plan_no}"
            assert held_in_all(company, "L1") == 30, f"plan {plan_no}"
            with company.begin() as connection:
                assert release(connection, QA, plan_no, "next plan", AT) == 1
    finally:
        for engine in engines:
            engine.dispose()
