"""Holds on a lot's units by open plans, so that the quantities proposed for a lot, across every case and
every open plan, never exceed what the latest snapshot holds.

A plan line reserves its quantity when the plan is proposed (`reserve`), and its hold ends when the plan
is rejected, cancelled or replaced or the line is dropped (`release`), shrinks with a line trimmed to
less (`shrink`), or ends when its instruction is
confirmed and the stock has left (`consume`). A movement or a snapshot can still take stock from under
held units; `overcommitted` names the holds that no longer fit, so their case can trim its plan.

Why a lock row and not a check: "read what is held, then insert if it fits" lets two transactions both
read 20 of 42 held and both add 20 (PostgreSQL's READ COMMITTED shows each only what was committed
before its statement; Python's sqlite3 reads outside any transaction until the first write). So a
reservation first writes the lot's row in `lot_reservation_lock` if it is missing (INSERT ... ON
CONFLICT DO NOTHING) and then locks it (SELECT ... FOR UPDATE), lots in sorted order so that two plans
sharing two lots cannot deadlock; only then does it count what is held and decide. On PostgreSQL the
second reservation waits at the row lock until the first commits, and its next statement (a new
snapshot, in READ COMMITTED) sees the first one's rows. On SQLite the INSERT takes the database's write
lock (a write that changes nothing takes it too), so the second one waits there, and a write transaction
always reads the newest data. What is held is summed from the reservations themselves, not kept in a
counter beside them, so there is no second number to drift. The lock row is chosen over locking the
lot's `lot_position` row because a new snapshot brings new position rows: two reservations on either side
of a load would lock different rows. Locks are per lot, so plans on different lots never wait for each
other.

The trail's appends are serialised by one PostgreSQL lock taken at the first append of a transaction
(audit/trail.py), and a reservation appends after it has locked its lots: call `reserve` before anything
else in the transaction appends to the trail, or two transactions can each wait for the other (PostgreSQL
then ends one with a deadlock error, and a retried activity succeeds).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, insert, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col

from audit.trail import append
from core.db import table
from core.numbers import plain
from governance.models import LotReservation, LotReservationLock
from inventory.metrics import latest_snapshot_id
from inventory.models import LotPosition

HELD, RELEASED, CONSUMED = "held", "released", "consumed"
ACTOR = "stockwarden"
PLACES = 4
"""Quantities are stored as lot_position.qty is: four decimal places in the SKU's base unit."""
LARGEST = Decimal(10) ** (18 - PLACES)
"""lot_position.qty has 18 digits: no lot holds this much."""
NAMED_HOLDERS = 5
"""A refusal names at most this many of the holds on the lot (and counts the rest)."""

LotKey = tuple[str, str, str, str]
"""(sku, site, lot, serial), with '' for no lot or no serial as everywhere."""


@dataclass(frozen=True)
class Hold:
    """What one plan line asks of one lot: `quantity` units in the SKU's base unit."""

    line_no: int
    sku: str
    site: str
    lot: str
    serial: str
    quantity: Decimal

    @property
    def key(self) -> LotKey:
        return (self.sku, self.site, self.lot, self.serial)


@dataclass(frozen=True)
class Overcommit:
    """A hold that no longer fits the lot's stock. Holds keep their stock in the order they were reserved
    (earliest first), so `excess` is how much this line must give up (all of `held` when the stock is gone)."""

    case_id: str
    plan_no: int
    line_no: int
    sku: str
    site: str
    lot: str
    serial: str
    held: Decimal
    on_hand: Decimal
    """The lot's stock in the latest snapshot."""
    held_in_all: Decimal
    """What every open plan holds of the lot, this line included."""
    excess: Decimal

    def __str__(self) -> str:
        return (f"{_lot_words((self.sku, self.site, self.lot, self.serial))}: line {self.line_no} of plan "
                f"{self.plan_no} of {self.case_id} holds {plain(self.held)}, but {plain(self.on_hand)} are in "
                f"stock and open plans hold {plain(self.held_in_all)}; trim it by {plain(self.excess)}")


@dataclass(frozen=True)
class _Holding:
    case_id: str
    plan_no: int
    line_no: int
    held: Decimal
    reserved_at: datetime


def _lot_words(key: LotKey) -> str:
    sku, site, lot, serial = key
    return f"lot {lot or '(none)'}" + (f", serial {serial}" if serial else "") + f" of {sku} at {site}"


def lot_subject(key: LotKey) -> str:
    """The audit subject of a lot's holds: `lot:SKU/SITE/LOT`, with `/SERIAL` for a serial."""
    sku, site, lot, serial = key
    return f"lot:{sku}/{site}/{lot}" + (f"/{serial}" if serial else "")


def _key_of(row: Any) -> LotKey:
    return (row.sku, row.site, row.lot, row.serial)


def _latest_snapshot_id(connection: Connection) -> int | None:
    """The latest snapshot is the newest accepted one (inventory.metrics.latest_snapshot: never a suspect
    load); movements applied after it change its positions in place (inventory.movements), so its
    lot_position rows are the stock."""
    return latest_snapshot_id(connection)


def _stock(connection: Connection, keys: Iterable[LotKey]) -> dict[LotKey, Decimal]:
    """The latest snapshot's quantity of each lot; a lot it does not hold is absent (no stock)."""
    wanted = list(keys)
    snapshot_id = _latest_snapshot_id(connection)
    if snapshot_id is None or not wanted:
        return {}
    lp = table(LotPosition).c
    rows = connection.execute(select(lp.sku, lp.site, lp.lot, lp.serial, lp.qty).where(
        lp.snapshot_id == snapshot_id, tuple_(lp.sku, lp.site, lp.lot, lp.serial).in_(wanted)))
    return {_key_of(row): Decimal(row.qty) for row in rows}


def on_hand(connection: Connection, sku: str, site: str, lot: str, serial: str) -> Decimal:
    """What the latest snapshot holds of the lot (0 when it holds none, or no snapshot is loaded)."""
    return _stock(connection, [(sku, site, lot, serial)]).get((sku, site, lot, serial), Decimal(0))


def _holdings(connection: Connection, keys: Iterable[LotKey] | None) -> dict[LotKey, list[_Holding]]:
    """The held reservations of the lots (of every lot with one when `keys` is None), earliest first."""
    r = table(LotReservation).c
    query = select(r.case_id, r.plan_no, r.line_no, r.sku, r.site, r.lot, r.serial, r.quantity, r.consumed,
                   r.reserved_at).where(r.state == HELD).order_by(r.reserved_at, r.case_id, r.plan_no, r.line_no)
    if keys is not None:
        wanted = list(keys)
        if not wanted:
            return {}
        query = query.where(tuple_(r.sku, r.site, r.lot, r.serial).in_(wanted))
    found: dict[LotKey, list[_Holding]] = defaultdict(list)
    for row in connection.execute(query):
        found[_key_of(row)].append(_Holding(row.case_id, row.plan_no, row.line_no,
                                            Decimal(row.quantity) - Decimal(row.consumed), row.reserved_at))
    return found


def held_by_others(connection: Connection, case_id: str, sku: str, site: str, lot: str, serial: str) -> Decimal:
    """What open plans of other cases hold of the lot: what a form for `case_id` cannot offer."""
    holdings = _holdings(connection, [(sku, site, lot, serial)]).get((sku, site, lot, serial), [])
    return sum((h.held for h in holdings if h.case_id != case_id), Decimal(0))


def _lock(connection: Connection, keys: list[LotKey]) -> None:
    """Make sure each lot has its lock row, then lock them, in sorted order (see the module's docstring)."""
    lock = table(LotReservationLock)
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    rows = [{"sku": sku, "site": site, "lot": lot, "serial": serial} for sku, site, lot, serial in sorted(keys)]
    connection.execute(dialect.insert(lock).values(rows).on_conflict_do_nothing())
    c = lock.c
    for key in sorted(keys):  # one statement per lot, so the order is Python's on every database
        connection.execute(select(c.sku).where(tuple_(c.sku, c.site, c.lot, c.serial) == key).with_for_update()).all()


def _malformed(holds: list[Hold]) -> list[str]:
    problems: list[str] = []
    seen: set[int] = set()
    for hold in holds:
        if hold.line_no in seen:
            problems.append(f"line {hold.line_no} appears twice in the plan")
        seen.add(hold.line_no)
        if not hold.quantity.is_finite() or hold.quantity <= 0:
            problems.append(f"line {hold.line_no}: {_lot_words(hold.key)}: the quantity must be more than 0, "
                            f"not {hold.quantity}")
        elif hold.quantity >= LARGEST:
            problems.append(f"line {hold.line_no}: {_lot_words(hold.key)}: {hold.quantity} is more than any lot holds")
        elif hold.quantity != round(hold.quantity, PLACES):
            problems.append(f"line {hold.line_no}: {_lot_words(hold.key)}: {hold.quantity} has more than "
                            f"{PLACES} decimal places")
    return problems


def _already_reserved(connection: Connection, case_id: str, plan_no: int, holds: list[Hold]) -> tuple[list[Hold], list[str]]:
    """The holds not yet written for this plan, and problems for lines written before with other content.
    A retried activity finds its lines (in whatever state they are now) and writes nothing twice."""
    r = table(LotReservation).c
    stored = {row.line_no: row for row in connection.execute(select(
        r.line_no, r.sku, r.site, r.lot, r.serial, r.quantity).where(r.case_id == case_id, r.plan_no == plan_no))}
    new: list[Hold] = []
    problems: list[str] = []
    for hold in holds:
        row = stored.get(hold.line_no)
        if row is None:
            new.append(hold)
        elif _key_of(row) != hold.key or Decimal(row.quantity) != hold.quantity:
            problems.append(f"line {hold.line_no} of plan {plan_no} of {case_id} is already reserved as "
                            f"{plain(Decimal(row.quantity))} of {_lot_words(_key_of(row))}; a plan's lines do "
                            f"not change: propose a new plan")
    return new, problems


def _holders_words(holdings: list[_Holding]) -> str:
    named = [f"{h.case_id} (plan {h.plan_no}, line {h.line_no}: {plain(h.held)})" for h in holdings[:NAMED_HOLDERS]]
    more = len(holdings) - len(named)
    return ", ".join(named) + (f" and {more} more" if more else "")


def reserve(connection: Connection, case_id: str, plan_no: int, holds: list[Hold], at: datetime) -> list[str]:
    """Hold each line's quantity of its lot for the plan, all lines or none, in the caller's transaction.

    Returns the problems in plain English, naming the lot and the numbers; empty means every line is
    held. On problems no hold is written (a lot's lock row may be, which holds nothing). Reserving a plan
    again with the same lines returns [] and holds nothing twice; a line already reserved with another lot
    or quantity is a problem, because a plan's lines do not change. Every open plan counts against the
    stock, the case's own other plans too: release a plan before proposing its replacement.
    """
    problems = _malformed(holds)
    if problems:
        return problems
    new, problems = _already_reserved(connection, case_id, plan_no, holds)
    if problems or not new:
        return problems
    if _latest_snapshot_id(connection) is None:
        return ["no snapshot is loaded, so there is no stock to reserve"]
    _lock(connection, sorted({hold.key for hold in new}))
    new, problems = _already_reserved(connection, case_id, plan_no, new)  # a concurrent retry may have won
    if problems or not new:
        return problems
    keys = sorted({hold.key for hold in new})
    stock = _stock(connection, keys)
    holdings = _holdings(connection, keys)
    asked: dict[LotKey, Decimal] = defaultdict(Decimal)
    for hold in new:
        asked[hold.key] += hold.quantity
    for key in keys:
        in_stock, others = stock.get(key, Decimal(0)), holdings.get(key, [])
        held = sum((h.held for h in others), Decimal(0))
        if asked[key] + held > in_stock:
            words = f"{_lot_words(key)}: {plain(asked[key])} asked, {plain(in_stock)} in stock"
            if others:
                free = max(in_stock - held, Decimal(0))
                words += f" of which {plain(held)} held by {_holders_words(others)}, so {plain(free)} free"
            problems.append(words)
    if problems:
        return problems
    connection.execute(insert(LotReservation), [
        {"case_id": case_id, "plan_no": plan_no, "line_no": hold.line_no, "sku": hold.sku, "site": hold.site,
         "lot": hold.lot, "serial": hold.serial, "quantity": hold.quantity, "consumed": Decimal(0), "state": HELD,
         "reason": "", "reserved_at": at, "changed_at": at} for hold in new])
    for key in keys:
        held = sum((h.held for h in holdings.get(key, [])), Decimal(0)) + asked[key]
        append(connection, actor=ACTOR, action="lot.reserved", subject=lot_subject(key),
               after={"case": case_id, "plan": plan_no,
                      "lines": {str(h.line_no): plain(h.quantity) for h in new if h.key == key},
                      "held": plain(held), "on_hand": plain(stock.get(key, Decimal(0)))},
               workflow_id=case_id, at=at)
    return []


def release(connection: Connection, case_id: str, plan_no: int, reason: str, at: datetime,
            line_nos: list[int] | None = None) -> int:
    """End the holds of a plan (rejected, cancelled, replaced) or of some of its lines (trimmed); returns
    how many lines were still held. A retry finds them released and changes nothing."""
    r = table(LotReservation).c
    query = select(r.line_no, r.sku, r.site, r.lot, r.serial, r.quantity, r.consumed).where(
        r.case_id == case_id, r.plan_no == plan_no, r.state == HELD)
    if line_nos is not None:
        query = query.where(r.line_no.in_(line_nos))
    released: dict[LotKey, dict[str, str]] = defaultdict(dict)
    for row in connection.execute(query).all():
        done = connection.execute(update(LotReservation).where(
            col(LotReservation.case_id) == case_id, col(LotReservation.plan_no) == plan_no,
            col(LotReservation.line_no) == row.line_no, col(LotReservation.state) == HELD,
        ).values(state=RELEASED, reason=reason[:2000], changed_at=at)).rowcount
        if done:
            released[_key_of(row)][str(row.line_no)] = plain(Decimal(row.quantity) - Decimal(row.consumed))
    for key, lines in sorted(released.items()):
        append(connection, actor=ACTOR, action="lot.released", subject=lot_subject(key),
               before={"case": case_id, "plan": plan_no, "lines": lines}, reason=reason, workflow_id=case_id, at=at)
    return sum(len(lines) for lines in released.values())


def shrink(connection: Connection, case_id: str, plan_no: int, quantities: dict[int, Decimal], reason: str,
           at: datetime) -> int:
    """Cut the holds of some lines of a plan to `quantities` (line number: what the trimmed line keeps),
    so that the units a trim gave up are free for other plans at once; never below what was consumed, and
    a line asked to keep as much or more is left as it is. Returns how many lines were cut; a retry finds
    them cut and changes nothing."""
    r = table(LotReservation).c
    rows = connection.execute(select(r.line_no, r.sku, r.site, r.lot, r.serial, r.quantity, r.consumed).where(
        r.case_id == case_id, r.plan_no == plan_no, r.state == HELD, r.line_no.in_(list(quantities)))).all()
    cut: dict[LotKey, dict[str, dict[str, str]]] = defaultdict(dict)
    for row in rows:
        before, consumed = Decimal(row.quantity), Decimal(row.consumed)
        after = max(round(quantities[row.line_no], PLACES), consumed)
        if after >= before:
            continue
        done = connection.execute(update(LotReservation).where(
            col(LotReservation.case_id) == case_id, col(LotReservation.plan_no) == plan_no,
            col(LotReservation.line_no) == row.line_no, col(LotReservation.state) == HELD,
            col(LotReservation.quantity) == before,
        ).values(quantity=after, state=CONSUMED if after == consumed and after > 0 else (RELEASED if after == 0 else HELD),
                 reason=reason[:2000], changed_at=at)).rowcount
        if done:
            cut[_key_of(row)][str(row.line_no)] = {"before": plain(before), "after": plain(after)}
    for key, lines in sorted(cut.items()):
        append(connection, actor=ACTOR, action="lot.trimmed", subject=lot_subject(key),
               before={"case": case_id, "plan": plan_no, "lines": {n: q["before"] for n, q in lines.items()}},
               after={"case": case_id, "plan": plan_no, "lines": {n: q["after"] for n, q in lines.items()}},
               reason=reason, workflow_id=case_id, at=at)
    return sum(len(lines) for lines in cut.values())


def consume(connection: Connection, case_id: str, plan_no: int, line_no: int, quantity: Decimal,
            at: datetime) -> Decimal:
    """Record that `quantity` of the line's lot has left in all so far (its instruction confirmed, in full
    or in part): that much of the hold ends, and the line is consumed once all of it has. `quantity` is
    the line's confirmed total, not an increment, so a retried activity consumes nothing twice; a smaller
    total than recorded changes nothing. Returns what the line still holds (0 for a line that is not held,
    or was never reserved)."""
    r = table(LotReservation).c
    row = connection.execute(select(r.sku, r.site, r.lot, r.serial, r.quantity, r.consumed, r.state).where(
        r.case_id == case_id, r.plan_no == plan_no, r.line_no == line_no)).first()
    if row is None or row.state != HELD:
        return Decimal(0)
    reserved, before = Decimal(row.quantity), Decimal(row.consumed)
    after = min(max(before, round(quantity, PLACES)), reserved)
    if after == before:
        return reserved - before
    state = CONSUMED if after == reserved else HELD
    done = connection.execute(update(LotReservation).where(
        col(LotReservation.case_id) == case_id, col(LotReservation.plan_no) == plan_no,
        col(LotReservation.line_no) == line_no, col(LotReservation.state) == HELD,
        col(LotReservation.consumed) < after,
    ).values(consumed=after, state=state, reason=f"{plain(after)} of {plain(reserved)} confirmed",
             changed_at=at)).rowcount
    if not done:  # a concurrent retry got there first
        return consume(connection, case_id, plan_no, line_no, quantity, at)
    append(connection, actor=ACTOR, action="lot.consumed", subject=lot_subject(_key_of(row)),
           before={"case": case_id, "plan": plan_no, "line": line_no, "consumed": plain(before)},
           after={"case": case_id, "plan": plan_no, "line": line_no, "consumed": plain(after), "state": state},
           workflow_id=case_id, at=at)
    return reserved - after


def overcommitted(connection: Connection, keys: list[LotKey] | None = None) -> list[Overcommit]:
    """The holds that no longer fit their lot's stock (a movement or a snapshot took it), of the given
    lots or of every held lot. Earlier reservations keep their stock; each later one is told how much to
    give up. Sorted by lot, then by reservation."""
    holdings = _holdings(connection, keys)
    stock = _stock(connection, holdings)
    found: list[Overcommit] = []
    for key in sorted(holdings):
        in_stock, lines = stock.get(key, Decimal(0)), holdings[key]
        held_in_all = sum((h.held for h in lines), Decimal(0))
        if held_in_all <= in_stock:
            continue
        running = Decimal(0)
        for h in lines:
            running += h.held
            if running > in_stock:
                found.append(Overcommit(h.case_id, h.plan_no, h.line_no, *key, h.held, in_stock, held_in_all,
                                        min(h.held, running - in_stock)))
    return found
