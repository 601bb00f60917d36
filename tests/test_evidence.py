"""A later snapshot confirms an ERP instruction only when it shows that disposition happening to that lot
(issue 15), on both databases: the movement of the lot itself, the stock arriving at the target site, the
purchase-order line cut or postponed; a sale, a count or the lot merely gone is never evidence.

Each story loads a snapshot (as of 2026-11-20, loaded that morning), issues the instruction the next day
through the outbox, then loads the later export (as of 2026-11-25) that the scan would read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, update
from sqlmodel import col

from core.case import Confirmation, InstructionLine, InstructionRequest
from core.db import table
from governance.evidence import Evidence, evidence, snapshot_before
from governance.models import ErpInstruction
from governance.outbox import confirm, instruction, issue
from inventory.ingest import ingest
from inventory.models import Snapshot
from inventory.movements import apply_movements
from tests.support.data import LOT_HEADER, write_export

BEFORE_DAY, ISSUED_AT, LATER_DAY = date(2026, 11, 20), datetime(2026, 11, 21, 9, 0, tzinfo=UTC), date(2026, 11, 25)
MOVEMENT_HEADER = "sku,site,lot,serial,type,qty,uom,moved_on,reference\n"
ORDER_HEADER = "po,line,sku,site,qty_open,uom,ordered_on,promised_on,received_on,received_qty\n"

STOCK = LOT_HEADER + """\
CAT-1,SH01,A,,30,,2026-01-01,,2027-06-01,,released,
CAT-1,SH01,B,,20,,2026-01-01,,2027-06-01,,released,
HIP-1,SH01,L1,S1,1,,2025-05-01,,2029-10-01,,released,
"""
ORDERS = ORDER_HEADER + "P1,10,CAT-1,SH01,100,,2026-11-01,2026-12-01,,\n"


@dataclass
class Story:
    """Two snapshots around one issue time, and instructions issued in between."""

    engine: Engine
    folder: Path
    before: int = 0
    cases: int = 0

    def load(self, name: str, as_of: date, lots: str, movements: str = "", orders: str = "") -> int:
        background = f"CAT-1,SH01,B,,receipt,20,,2026-01-01,GRN-{name}\n"  # no two exports share a checksum
        files = {"lots": lots, "movements": MOVEMENT_HEADER + background + movements,
                 **({"purchase_orders": orders} if orders else {})}
        snapshot = ingest(self.engine, write_export(self.folder / name, **files), as_of=as_of,
                          suspect_drop=Decimal(100)).snapshot_id  # these small stories remove whole lots
        early = datetime(as_of.year, as_of.month, as_of.day, 6, 0, tzinfo=UTC)
        with self.engine.begin() as connection:  # loaded (and accepted) early on its day, as a nightly export would be
            connection.execute(update(Snapshot).where(col(Snapshot.id) == snapshot).values(
                loaded_at=early, accepted_at=early))
        return snapshot

    def issue(self, disposition: str, quantity: str, *, sku: str = "CAT-1", lot: str = "A", serial: str = "",
              target: str = "", postpone_to: str = "") -> ErpInstruction:
        self.cases += 1
        with self.engine.begin() as connection:
            [new] = issue(connection, InstructionRequest(
                f"case/{self.cases}", 1, disposition, sku, "SH01", "Vasc Co", target, postpone_to,
                [InstructionLine(lot, serial, quantity, "0")], ["qa@example.com"], "test v1", ISSUED_AT.isoformat()))
            found = instruction(connection, new)
        assert found is not None
        return found

    def shown(self, instructions: list[ErpInstruction], snapshot: int) -> list[Evidence]:
        with self.engine.connect() as connection:
            return evidence(connection, instructions, snapshot)


def snapshot_before_issue(story: Story) -> int | None:
    with story.engine.connect() as connection:
        return snapshot_before(connection, ISSUED_AT)


def key(instructed: ErpInstruction) -> int:
    assert instructed.id is not None
    return instructed.id


@pytest.fixture
def story(engine: Engine, tmp_path: Path) -> Story:
    story = Story(engine, tmp_path)
    story.before = story.load("before", BEFORE_DAY, STOCK, orders=ORDERS)
    return story


def later(story: Story, movements: str = "", lots: str = STOCK, orders: str = ORDERS) -> int:
    return story.load("later", LATER_DAY, lots, movements, orders)


# --- return and scrap: the lot's own movement ----------------------------------------------------------

def test_a_return_movement_of_the_full_quantity_confirms(story: Story) -> None:
    returned = story.issue("return_to_supplier", "12")
    snapshot = later(story, "CAT-1,SH01,A,,return_to_supplier,12,,2026-11-22,RMA-7\n",
                     STOCK.replace("A,,30", "A,,18"))
    assert story.shown([returned], snapshot) == [
        Evidence(key(returned), Decimal(12), "return_to_supplier movement of 12 on 2026-11-22 (ref RMA-7)")]


def test_a_partial_return_gives_less_than_instructed_summed_over_its_movements(story: Story) -> None:
    returned = story.issue("return_to_supplier", "12")
    snapshot = later(story, "CAT-1,SH01,A,,return_to_supplier,5,,2026-11-22,RMA-7\n"
                            "CAT-1,SH01,A,,return_to_supplier,3,,2026-11-24,RMA-8\n")
    [shown] = story.shown([returned], snapshot)
    assert shown.done == 8
    assert shown.how == "return_to_supplier movements of 5 on 2026-11-22 (ref RMA-7) and 3 on 2026-11-24 (ref RMA-8)"


def test_done_is_capped_at_the_instructed_quantity(story: Story) -> None:
    scrapped = story.issue("scrap", "12")
    snapshot = later(story, "CAT-1,SH01,A,,scrap,30,,2026-11-22,SCR-1\n", STOCK.replace("A,,30", "A,,0"))
    assert [e.done for e in story.shown([scrapped], snapshot)] == [12]


def test_one_movement_is_evidence_for_one_instruction_shared_out_oldest_first(story: Story) -> None:
    """Two plans scrap lot A (20, then 22 on the same day): one scrap of 20 is the first plan's, not both;
    a second scrap of 22 is the second's. A confirmed instruction keeps what it was confirmed with."""
    first, second = story.issue("scrap", "20"), story.issue("scrap", "22")
    snapshot = later(story, "CAT-1,SH01,A,,scrap,20,,2026-11-22,SCR-1\n", STOCK.replace("A,,30", "A,,10"))
    assert [(e.instruction_id, e.done) for e in story.shown([first, second], snapshot)] == [(key(first), 20)]
    assert [e.done for e in story.shown([second], snapshot)] == []  # asked alone, it still shows nothing
    with story.engine.begin() as connection:  # the ERP confirms the first itself, with 20
        confirm(connection, Confirmation(f"case/{1}", [key(first)], "erp", "SCR-1", "test v1",
                                         LATER_DAY.isoformat() + "T08:00:00+00:00", ["20"], 1))
    snapshot = story.load("latest", date(2026, 11, 26), STOCK.replace("A,,30", "A,,0"),
                          "CAT-1,SH01,A,,scrap,20,,2026-11-22,SCR-1\nCAT-1,SH01,A,,scrap,10,,2026-11-25,SCR-2\n")
    [shown] = story.shown([second], snapshot)
    assert (shown.instruction_id, shown.done) == (key(second), 10)
    assert shown.how == "scrap movement of 10 on 2026-11-25 (ref SCR-2)"


@pytest.mark.parametrize("disposition", ["return_to_supplier", "scrap"])
@pytest.mark.parametrize("movement", [
    "CAT-1,SH01,A,,issue,12,,2026-11-22,SO-9",  # sold: the case of issue 15
    "CAT-1,SH01,A,,transfer_out,12,,2026-11-22,TO-9",
    "CAT-1,SH01,A,,adjustment,-12,,2026-11-22,CNT-9",
])
def test_a_sale_transfer_or_count_of_the_same_lot_and_quantity_is_not_evidence(story: Story, disposition: str,
                                                                               movement: str) -> None:
    instructed = story.issue(disposition, "12")
    snapshot = later(story, movement + "\n", STOCK.replace("A,,30", "A,,18"))
    assert story.shown([instructed], snapshot) == []


@pytest.mark.parametrize("disposition", ["return_to_supplier", "scrap"])
def test_a_drop_or_a_vanished_lot_without_a_movement_is_not_evidence(story: Story, disposition: str) -> None:
    reduced, gone = story.issue(disposition, "12"), story.issue(disposition, "20", lot="B")
    snapshot = later(story, lots=STOCK.replace("A,,30", "A,,18").replace("CAT-1,SH01,B,,20,,2026-01-01,,2027-06-01,,released,\n", ""))
    assert story.shown([reduced, gone], snapshot) == []


def test_a_scrap_before_the_issue_date_is_not_evidence_one_on_the_issue_day_is(story: Story) -> None:
    early, same_day = story.issue("scrap", "4"), story.issue("scrap", "6", lot="B")
    snapshot = later(story, "CAT-1,SH01,A,,scrap,4,,2026-11-19,SCR-1\nCAT-1,SH01,B,,scrap,6,,2026-11-21,SCR-2\n")
    assert [(e.instruction_id, e.done) for e in story.shown([early, same_day], snapshot)] == [(key(same_day), 6)]


def test_the_movement_must_be_of_that_lot_serial_and_disposition(story: Story) -> None:
    returned = story.issue("return_to_supplier", "1", sku="HIP-1", lot="L1", serial="S1")
    scrapped = story.issue("scrap", "12")
    snapshot = later(story, "HIP-1,SH01,L1,S2,return_to_supplier,1,,2026-11-22,other serial\n"
                            "HIP-1,SH01,L1,S1,scrap,1,,2026-11-22,scrapped not returned\n"
                            "CAT-1,SH01,B,,scrap,12,,2026-11-22,other lot\n"
                            "CAT-1,BJ02,A,,scrap,12,,2026-11-22,other site\n"
                            "CAT-1,SH01,A,,return_to_supplier,12,,2026-11-22,returned not scrapped\n")
    assert story.shown([returned, scrapped], snapshot) == []


def test_a_movement_is_counted_once_across_an_applied_file_and_the_next_export(story: Story) -> None:
    """A movement file applied to a snapshot adds to what that snapshot shows; the next export repeats the
    movement, and reading one snapshot at a time never counts it twice."""
    returned = story.issue("return_to_supplier", "12")
    first = later(story, "CAT-1,SH01,A,,return_to_supplier,5,,2026-11-22,RMA-7\n", STOCK.replace("A,,30", "A,,25"))
    applied = story.folder / "applied.csv"
    applied.write_text(MOVEMENT_HEADER + "CAT-1,SH01,A,,return_to_supplier,7,,2026-11-25,RMA-8\n", encoding="utf-8")
    with story.engine.begin() as connection:
        stored = connection.execute(table(Snapshot).select().where(col(Snapshot.id) == first)).one()
        apply_movements(connection, Snapshot.model_validate(stored._mapping), applied, actor="erp-feed")
    assert [e.done for e in story.shown([returned], first)] == [12]
    repeated = story.load("repeated", date(2026, 11, 26), STOCK.replace("A,,30", "A,,18"),
                          "CAT-1,SH01,A,,return_to_supplier,5,,2026-11-22,RMA-7\n"
                          "CAT-1,SH01,A,,return_to_supplier,7,,2026-11-25,RMA-8\n", ORDERS)
    assert [e.done for e in story.shown([returned], repeated)] == [12]


# --- reallocate: the stock arriving at the target site ---------------------------------------------------

def test_a_transfer_in_at_the_target_confirms_once_not_twice_with_the_grown_position(story: Story) -> None:
    moved = story.issue("reallocate", "30", target="BJ02")
    snapshot = later(story, "CAT-1,SH01,A,,transfer_out,30,,2026-11-23,TO-5\n"
                            "CAT-1,BJ02,A,,transfer_in,30,,2026-11-24,TO-5\n",
                     STOCK.replace("CAT-1,SH01,A,,30", "CAT-1,BJ02,A,,30"))
    assert story.shown([moved], snapshot) == [
        Evidence(key(moved), Decimal(30), "transfer_in movement of 30 on 2026-11-24 (ref TO-5) at BJ02")]


def test_the_lot_grown_at_the_target_confirms_without_a_movement(story: Story) -> None:
    moved = story.issue("reallocate", "30", target="BJ02")
    snapshot = later(story, lots=STOCK.replace("A,,30", "A,,10") + "CAT-1,BJ02,A,,20,,2026-11-24,,2027-06-01,,released,\n")
    [shown] = story.shown([moved], snapshot)
    assert (shown.done, shown.how) == (20, f"lot A at BJ02 grew from 0 to 20 (snapshot {story.before} to {snapshot})")


def test_the_lot_merely_gone_from_the_source_is_not_evidence_of_a_reallocation(story: Story) -> None:
    moved = story.issue("reallocate", "30", target="BJ02")
    snapshot = later(story, "CAT-1,SH01,A,,transfer_out,30,,2026-11-23,TO-5\n"
                            "CAT-1,GZ03,A,,transfer_in,30,,2026-11-24,TO-5 to the wrong site\n",
                     STOCK.replace("CAT-1,SH01,A,,30", "CAT-1,GZ03,A,,30"))
    assert story.shown([moved], snapshot) == []


# --- reduce_purchase_order: the line itself ----------------------------------------------------------------

def test_a_purchase_order_line_cut_by_enough_confirms(story: Story) -> None:
    cut = story.issue("reduce_purchase_order", "40", lot="", target="P1/10")
    snapshot = later(story, orders=ORDERS.replace(",100,", ",60,"))
    assert story.shown([cut], snapshot) == [Evidence(key(cut), Decimal(40), (
        f"PO P1/10 open quantity cut from 100 to 60 (snapshot {story.before} to {snapshot})"))]


def test_a_purchase_order_line_cut_by_less_is_a_partial(story: Story) -> None:
    """Partial, as for lots: the cut made is shown, and the rest goes back to the owner."""
    cut = story.issue("reduce_purchase_order", "50", lot="", target="P1/10")
    snapshot = later(story, orders=ORDERS.replace(",100,", ",70,"))
    assert [e.done for e in story.shown([cut], snapshot)] == [30]


def test_open_quantity_lowered_by_a_delivery_is_not_a_cut(story: Story) -> None:
    cut = story.issue("reduce_purchase_order", "40", lot="", target="P1/10")
    delivered = later(story, orders=ORDERS.replace(",100,,2026-11-01,2026-12-01,,", ",60,,2026-11-01,2026-12-01,2026-11-24,40"))
    assert story.shown([cut], delivered) == []


def test_a_postponement_to_the_date_confirms_and_an_unmoved_date_does_not(story: Story) -> None:
    postponed = story.issue("reduce_purchase_order", "0", lot="", target="P1/10", postpone_to="2027-01-15")
    unmoved = later(story)
    assert story.shown([postponed], unmoved) == []
    moved = story.load("moved", date(2026, 11, 26), STOCK, orders=ORDERS.replace("2026-12-01", "2027-01-15"))
    assert story.shown([postponed], moved) == [Evidence(key(postponed), Decimal(0), (
        f"PO P1/10 delivery moved from 2026-12-01 to 2027-01-15 (snapshot {story.before} to {moved})"))]


def test_a_line_already_promised_after_the_date_shows_no_postponement_until_it_moves(story: Story) -> None:
    """Nothing checks the date against the line's promise when it is proposed: a line promised for February
    asked to move to 15 January must not count as postponed while nothing changed."""
    february = story.load("february", date(2026, 11, 21), STOCK, orders=ORDERS.replace("2026-12-01", "2027-02-01"))
    postponed = story.issue("reduce_purchase_order", "0", lot="", target="P1/10", postpone_to="2027-01-15")
    assert snapshot_before_issue(story) == february
    assert story.shown([postponed], later(story, orders=ORDERS.replace("2026-12-01", "2027-02-01"))) == []


# --- no snapshot evidence at all ----------------------------------------------------------------------------

@pytest.mark.parametrize("disposition", ["substitute", "sell_or_donate"])
def test_substitute_and_sell_or_donate_wait_for_the_erp(story: Story, disposition: str) -> None:
    instructed = story.issue(disposition, "12", target="CAT-2" if disposition == "substitute" else "")
    snapshot = later(story, "CAT-1,SH01,A,,issue,12,,2026-11-22,SO-9\n", STOCK.replace("A,,30", "A,,18"))
    assert story.shown([instructed], snapshot) == []


def test_a_confirmed_instruction_is_skipped(story: Story) -> None:
    returned = story.issue("return_to_supplier", "12")
    with story.engine.begin() as connection:
        confirm(connection, Confirmation(returned.case_id, [key(returned)], "erp", "", "test v1",
                                         datetime(2026, 11, 23, tzinfo=UTC).isoformat()))
        confirmed = instruction(connection, key(returned))
    assert confirmed is not None
    snapshot = later(story, "CAT-1,SH01,A,,return_to_supplier,12,,2026-11-22,RMA-7\n")
    assert story.shown([confirmed], snapshot) == []


def test_snapshot_before_is_the_latest_loaded_at_that_time(story: Story) -> None:
    snapshot = later(story)
    with story.engine.connect() as connection:
        assert snapshot_before(connection, datetime(2026, 11, 20, 5, 59, tzinfo=UTC)) is None
        assert snapshot_before(connection, ISSUED_AT) == story.before
        assert snapshot_before(connection, datetime(2026, 11, 25, 6, 0, tzinfo=UTC)) == snapshot


def test_a_suspect_snapshot_is_never_the_baseline_of_an_instruction(story: Story) -> None:
    """A header-only export loaded the morning of the issue is held as suspect: the instruction is measured
    against the snapshot in use then (the accepted one before it), so the stock at the target cannot look
    grown from nothing; once accepted, the suspect one counts from its acceptance on, not its load."""
    with story.engine.connect() as connection:
        assert snapshot_before(connection, ISSUED_AT) == story.before
    held = ingest(story.engine, write_export(story.folder / "empty", lots=LOT_HEADER), as_of=date(2026, 11, 21))
    assert held.state == "suspect"
    with story.engine.begin() as connection:
        connection.execute(update(Snapshot).where(col(Snapshot.id) == held.snapshot_id).values(
            loaded_at=datetime(2026, 11, 21, 6, 0, tzinfo=UTC)))
    with story.engine.connect() as connection:
        assert snapshot_before(connection, ISSUED_AT) == story.before
    with story.engine.begin() as connection:
        connection.execute(update(Snapshot).where(col(Snapshot.id) == held.snapshot_id).values(
            state="accepted", accepted_at=datetime(2026, 11, 21, 12, 0, tzinfo=UTC)))
    with story.engine.connect() as connection:
        assert snapshot_before(connection, ISSUED_AT) == story.before  # issued at 09:00, accepted at noon
        assert snapshot_before(connection, datetime(2026, 11, 21, 12, 0, tzinfo=UTC)) == held.snapshot_id
