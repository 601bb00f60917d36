"""The suspect-snapshot guard: a load that looks like a broken export is stored but used by nothing.

A header-only lots file once loaded as "lots 0", and the next scan took it for the truth: it resolved all
860 open cases by itself and confirmed 4 pending instructions. A file cut at a row boundary (111 of 200
lots) looks just as good row by row. So every load is compared with the last accepted snapshot before it
is committed: one that has no lots, or that removes more than the policy's share (`snapshots.suspect_drop`,
20 % by default) of the positions with stock or of the stock's value in any currency, is held as suspect.
Scans, cases, KPIs and pages read only accepted snapshots (inventory.metrics.latest_snapshot), so a
suspect one changes nothing until a person accepts it (rules/snapshots.py, audited); a rejected one
stays stored and unused.

"Removed positions" are the previous snapshot's positions with stock that hold none in the new one; a
lot sold out in the normal course is one of them, which is why the share is a policy setting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Select, and_, except_, func, select, update
from sqlmodel import col

from core.db import table
from inventory.models import LotPosition, Material, Snapshot, SnapshotState

DEFAULT_SUSPECT_DROP = Decimal(20)
"""Percent of the positions or of the value that a load may remove before it is held as suspect."""
SHARE_QUANTUM = Decimal("0.1")
CENT = Decimal("0.01")
"""Values are compared to the cent: SQLite multiplies quantity and cost as floating point."""


@dataclass(frozen=True)
class GuardReason:
    """Why a snapshot is held, in both languages: `code` is one of no_lots, positions, value."""

    code: str
    en: str
    zh_cn: str

    def __str__(self) -> str:
        return f"{self.en} / {self.zh_cn}"


@dataclass(frozen=True)
class Stock:
    """What a snapshot holds, as the guard compares it: positions with stock and their value per currency."""

    lots: int
    positions: int
    value: dict[str, Decimal]


@dataclass(frozen=True)
class Comparison:
    """A load measured against the last accepted snapshot (`previous`, None for the first load)."""

    previous: int | None
    stock: Stock
    previous_stock: Stock | None
    removed_positions: int
    suspect_drop: Decimal
    reasons: list[GuardReason] = field(default_factory=list)

    @property
    def suspect(self) -> bool:
        return bool(self.reasons)

    def as_json(self) -> dict[str, Any]:
        before = self.previous_stock
        return {
            "previous": self.previous, "suspect_drop_pct": str(self.suspect_drop),
            "lots": self.stock.lots, "positions": self.stock.positions,
            "value": {k: str(v) for k, v in sorted(self.stock.value.items())},
            "previous_positions": None if before is None else before.positions,
            "previous_value": None if before is None else {k: str(v) for k, v in sorted(before.value.items())},
            "removed_positions": self.removed_positions,
            "reasons": [{"code": r.code, "en": r.en, "zh-CN": r.zh_cn} for r in self.reasons],
        }


def reasons_of(guard: dict[str, Any]) -> list[GuardReason]:
    """The reasons stored with a snapshot (Snapshot.guard), for lists and messages."""
    return [GuardReason(r["code"], r["en"], r["zh-CN"]) for r in guard.get("reasons", [])]


def _share(part: Decimal | int, whole: Decimal | int) -> Decimal:
    return (Decimal(100) * Decimal(part) / Decimal(whole)).quantize(SHARE_QUANTUM)


def stock_of(connection: Connection, snapshot_id: int) -> Stock:
    lp, mt = table(LotPosition).c, table(Material).c
    lots, positions = connection.execute(
        select(func.count(), func.count().filter(lp.qty > 0)).where(lp.snapshot_id == snapshot_id)).one()
    value = {currency: Decimal(total).quantize(CENT) for currency, total in connection.execute(
        select(mt.currency, func.sum(lp.qty * mt.unit_cost))
        .join(table(Material), and_(mt.snapshot_id == lp.snapshot_id, mt.sku == lp.sku))
        .where(lp.snapshot_id == snapshot_id, lp.qty > 0).group_by(mt.currency))}
    return Stock(int(lots), int(positions), value)


def removed_positions(connection: Connection, previous: int, snapshot_id: int) -> int:
    """Positions with stock in `previous` that hold none in `snapshot_id`: the keys of one EXCEPT the other's
    (the position key is unique in a snapshot, so the set difference counts positions)."""
    lp = table(LotPosition).c

    def keys(of: int) -> Select[Any]:
        return select(lp.sku, lp.site, lp.lot, lp.serial).where(lp.snapshot_id == of, lp.qty > 0)

    gone = except_(keys(previous), keys(snapshot_id)).subquery()
    return int(connection.execute(select(func.count()).select_from(gone)).scalar_one())


def previous_accepted(connection: Connection, snapshot_id: int) -> int | None:
    s = table(Snapshot).c
    return connection.execute(select(func.max(s.id)).where(s.id < snapshot_id,
                                                           s.state == SnapshotState.ACCEPTED.value)).scalar()


def compare(connection: Connection, snapshot_id: int, suspect_drop: Decimal = DEFAULT_SUSPECT_DROP) -> Comparison:
    """Measure a load (in the loading transaction) against the last accepted snapshot before it."""
    stock = stock_of(connection, snapshot_id)
    previous = previous_accepted(connection, snapshot_id)
    reasons: list[GuardReason] = []
    if stock.lots == 0:
        reasons.append(GuardReason("no_lots", "the export has no lots (a lots file with a header only?)",
                                   "导出没有任何批次库存（批次文件只有表头？）"))
    if previous is None:
        return Comparison(None, stock, None, 0, suspect_drop, reasons)
    before = stock_of(connection, previous)
    removed = removed_positions(connection, previous, snapshot_id)
    if before.positions and _share(removed, before.positions) > suspect_drop:
        share = _share(removed, before.positions)
        reasons.append(GuardReason(
            "positions",
            f"{removed:,} of the {before.positions:,} positions with stock in snapshot {previous} hold none here "
            f"({share} %, more than {suspect_drop} %): a file cut short?",
            f"快照 {previous} 中有库存的 {before.positions:,} 个批次库位有 {removed:,} 个在此没有库存"
            f"（{share}%，超过 {suspect_drop}%）：文件被截断？"))
    for currency, old_value in sorted(before.value.items()):
        new_value = stock.value.get(currency, Decimal(0))
        if old_value > 0 and new_value < old_value and _share(old_value - new_value, old_value) > suspect_drop:
            share = _share(old_value - new_value, old_value)
            reasons.append(GuardReason(
                "value",
                f"the stock value in {currency} falls from {old_value:,.2f} (snapshot {previous}) to {new_value:,.2f} "
                f"({share} % less, more than {suspect_drop} %)",
                f"{currency} 库存金额从 {old_value:,.2f}（快照 {previous}）降至 {new_value:,.2f}"
                f"（减少 {share}%，超过 {suspect_drop}%）"))
    return Comparison(previous, stock, before, removed, suspect_drop, reasons)


def guard(connection: Connection, snapshot_id: int, loaded_at: datetime,
          suspect_drop: Decimal = DEFAULT_SUSPECT_DROP) -> Comparison:
    """Compare a load and store the verdict on its row: accepted at its load, or held as suspect.

    On PostgreSQL the two tables compared are analysed first, inside the load's transaction (ANALYZE counts
    the transaction's own new rows): without it the planner takes the new snapshot for a handful of rows,
    and the comparison of a second 200,000-lot load took 94 s instead of about one (benchmarks/suspect_guard.py)."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f'ANALYZE "{table(LotPosition).name}", "{table(Material).name}"')
    comparison = compare(connection, snapshot_id, suspect_drop)
    state = SnapshotState.SUSPECT if comparison.suspect else SnapshotState.ACCEPTED
    connection.execute(update(table(Snapshot)).where(col(Snapshot.id) == snapshot_id).values(
        state=state.value, guard=comparison.as_json(),
        accepted_at=None if comparison.suspect else loaded_at))
    return comparison
