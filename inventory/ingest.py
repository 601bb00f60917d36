"""Loading an ERP export as one snapshot: every row checked, every problem reported, all or nothing.

Rows are checked and written in one database transaction. Once any row is bad, writing stops but
checking goes on to the end of the last file, so the person fixing the export sees every problem in
one run; then the transaction rolls back and nothing of the export remains.
"""

from __future__ import annotations

import difflib
import getpass
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, and_, insert, select, update
from sqlmodel import col

from core.db import inserted_id, refresh_statistics, statistics_due, table
from core.period import is_period
from inventory.bulk import BulkWriter
from inventory.fields import DEFAULT_NUMBER_FORMAT, LARGEST, REPORTED, NumberFormat, Problems, Row, RowError
from inventory.metrics import store_issue_totals
from inventory.models import (
    DemandKind,
    DemandRecord,
    Lifecycle,
    LotPosition,
    Material,
    Movement,
    MovementType,
    PurchaseOrderLine,
    QcStatus,
    RiskClass,
    Site,
    SkuSiteIssues,
    Snapshot,
    SnapshotState,
    Storage,
    UomConversion,
)
from inventory.profiles import Profile, relabel
from inventory.row_count import CountedTable
from inventory.sources import RawTable, read_export
from inventory.suspect import DEFAULT_SUSPECT_DROP, GuardReason, guard, reasons_of
from inventory.udi import UdiError, parse_udi

QTY_QUANTUM = Decimal("0.0001")

COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # table: (required columns, optional columns)
    "materials": (("sku", "category", "base_uom", "unit_cost"),
                  ("name", "currency", "risk_class", "lifecycle", "storage", "shelf_life_days", "supplier",
                   "return_window_days", "substitutes")),
    "uom_conversions": (("sku", "uom", "factor"), ()),
    "lots": (("sku", "site", "qty", "received_on"),
             ("lot", "serial", "uom", "manufactured_on", "expires_on", "last_movement_on", "qc_status", "udi")),
    "movements": (("sku", "site", "type", "qty", "moved_on"), ("lot", "serial", "uom", "reference")),
    "demand": (("sku", "site", "period", "qty"), ("kind",)),
    "purchase_orders": (("po", "line", "sku", "site", "qty_open"),
                        ("uom", "ordered_on", "promised_on", "received_on", "received_qty")),
}


_LOADED_MODELS = (Material, UomConversion, LotPosition, Movement, SkuSiteIssues, DemandRecord, PurchaseOrderLine)
LOADED_TABLES = tuple(table(model).name for model in _LOADED_MODELS)
LOAD_ORDER = ("materials", "uom_conversions", "movements", "lots", "demand", "purchase_orders")
"""Movements before lots: each lot position is stored with its latest movement already known, rather
than updated afterwards (rewriting 200,000 rows took PostgreSQL 9 s)."""


class IngestFailed(Exception):
    """The export has bad rows; nothing was stored. `errors` lists the first REPORTED of them, `total` counts
    them all."""

    def __init__(self, errors: list[RowError], total: int | None = None):
        self.total = len(errors) if total is None else total
        super().__init__(f"{self.total} problem(s) in the export; nothing was stored")
        self.errors = errors[:REPORTED]


@dataclass(frozen=True)
class IngestResult:
    snapshot_id: int
    as_of: date
    row_counts: dict[str, int]
    already_loaded: bool
    state: str = SnapshotState.ACCEPTED
    """accepted, or suspect (stored, used by nothing until a person accepts it: inventory/suspect.py)."""
    held_because: tuple[GuardReason, ...] = ()


@dataclass
class MaterialInfo:
    sku: str
    line: int
    base_uom: str
    units: dict[str, Decimal] = field(default_factory=dict)


class _StoredMaterials(dict[str, MaterialInfo]):
    """The SKU master of a stored snapshot, read one SKU at a time: a file of a few movements should
    not load eight thousand materials."""

    def __init__(self, connection: Connection, snapshot_id: int):
        super().__init__()
        self._connection = connection
        self._snapshot_id = snapshot_id

    def get(self, sku: str, default: MaterialInfo | None = None) -> MaterialInfo | None:  # type: ignore[override]
        if sku not in self:  # the material with its unit conversions, in one round trip
            m, u = table(Material).c, table(UomConversion).c
            rows = self._connection.execute(
                select(m.base_uom, u.uom, u.factor)
                .outerjoin(table(UomConversion), and_(u.snapshot_id == m.snapshot_id, u.sku == m.sku))
                .where(m.snapshot_id == self._snapshot_id, m.sku == sku)).all()
            if not rows:
                return default
            info = MaterialInfo(sku, 0, rows[0].base_uom)
            for _base_uom, uom, factor in rows:
                if uom is not None:
                    info.units[uom] = factor
            self[sku] = info
        return self[sku]


@dataclass(frozen=True, slots=True)
class CheckedMovement:
    """A movement row that passed every check, in the SKU's base unit, not yet stored."""

    line: int
    sku: str
    site: str
    lot: str
    serial: str
    type: str
    qty: Decimal
    moved_on: date
    reference: str


def _lot_key(sku: str, site: str, lot: str, serial: str) -> str:
    """One string for a lot position: the lengths in front keep any two different keys apart."""
    return f"{len(sku)},{len(site)},{len(lot)}|{sku}{site}{lot}{serial}"


class Loader:
    """The state of one load: what is known so far, the errors, and the writers of the open transaction."""

    def __init__(self, connection: Connection, snapshot_id: int, as_of: date,
                 progress: Callable[[str], None], default_currency: str = "CNY",
                 number_format: NumberFormat = DEFAULT_NUMBER_FORMAT):
        self.connection = connection
        self.number_format = number_format
        self.default_currency = default_currency
        self.snapshot_id = snapshot_id
        self.as_of = as_of
        self.progress = progress
        self.errors = Problems()
        self.materials: dict[str, MaterialInfo] = {}
        self.sites: set[str] = set()
        self.row_counts: dict[str, int] = {}
        self.checked_movements: list[CheckedMovement] | None = None
        """When a list (movements applied to a stored snapshot): every good movement row, kept instead of
        written, so the movements already applied are left out first (inventory.movements)."""
        self.latest_movements: dict[str, int] = {}
        """The latest moved_on (a day number) of each lot the movements name, keyed by _lot_key: the lots'
        latest_movement_on. One string and one int per lot: a million movements name some 600,000."""

    @classmethod
    def for_snapshot(cls, connection: Connection, snapshot_id: int, as_of: date,
                     progress: Callable[[str], None] = lambda _message: None,
                     number_format: NumberFormat = DEFAULT_NUMBER_FORMAT) -> Loader:
        """A loader that checks rows added to a stored snapshot later, looking SKUs up as rows name them."""
        load = cls(connection, snapshot_id, as_of, progress, number_format=number_format)
        load.materials = _StoredMaterials(connection, snapshot_id)
        load.checked_movements = []
        return load

    # --- shared checks -------------------------------------------------------------------------

    def iter_rows(self, table: RawTable) -> Iterator[Row]:
        """Rows of a table whose header has every required column and nothing unknown."""
        required, optional = COLUMNS[table.name]
        known = set(required) | set(optional)
        header_ok = True
        for name in table.header:
            if name and name not in known:
                hint = difflib.get_close_matches(name, sorted(known), n=1)
                suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
                self.errors.append(RowError(table.label, table.header_line, name, f"unknown column{suggestion}"))
                header_ok = False
        for name in required:
            if name not in table.header:
                self.errors.append(RowError(table.label, table.header_line, name, "required column is missing"))
                header_ok = False
        if not header_ok:
            return
        index = {name: i for i, name in enumerate(table.header) if name}
        count = 0
        for line, values in table.rows:
            count += 1
            if table.problems:  # found while reading this row (a field beyond sources.FIELD_MAX)
                self._take(table)
            yield Row(values, index, self.errors, table.label, line, self.number_format)
            if count % 200_000 == 0:
                self.progress(f"{table.label}: {count:,} rows checked")
        self._take(table)
        self.row_counts[table.name] = count
        self.progress(f"{table.label}: {count:,} rows checked, {len(self.errors):,} problem(s) so far")

    def _take(self, table: RawTable) -> None:
        for problem in table.problems:
            self.errors.append(problem)
        table.problems.clear()

    def writer(self, model: Any, columns: tuple[str, ...]) -> BulkWriter:
        return BulkWriter(self.connection, model.__table__, ("snapshot_id", *columns))

    def store(self, writer: BulkWriter, row: Row, values: tuple[Any, ...]) -> None:
        """Write a checked row unless this row or an earlier one failed: then the load is lost anyway."""
        if row.ok and not self.errors:
            writer.add((self.snapshot_id, *values))

    def sku(self, row: Row) -> MaterialInfo | None:
        sku = row.text("sku", required=True, max_length=80)
        if not sku:
            return None
        info = self.materials.get(sku)
        if info is None:
            row.error("sku", f"unknown SKU '{sku}' (not in materials)")
        return info

    def site(self, row: Row) -> str:
        site = row.text("site", required=True, max_length=40)
        if site:
            self.sites.add(site)
        return site

    def base_qty(self, row: Row, info: MaterialInfo | None, qty_column: str, *,
                 required: bool = True, signed: bool = False) -> Decimal | None:
        """The quantity converted to the SKU's base unit through the row's `uom`."""
        qty = row.decimal(qty_column, required=required, minimum=None if signed else Decimal(0))
        uom = row.text("uom", max_length=20)
        if info is None:
            return qty
        factor = Decimal(1)
        if uom and uom != info.base_uom:
            found = info.units.get(uom)
            if found is None:
                known = ", ".join([info.base_uom, *info.units])
                row.error("uom", f"unknown unit '{uom}' for SKU {info.sku} (known: {known})")
                return None
            factor = found
        if qty is None:
            return None
        converted = (qty * factor).quantize(QTY_QUANTUM)
        if abs(converted) >= LARGEST:
            row.error(qty_column, f"{qty} {uom} is {converted:,} {info.base_uom}, too large to store")
            return None
        return converted

    def serial_qty(self, row: Row, serial: str, qty: Decimal | None) -> None:
        """A serial number names one unit of the SKU (a position of a serial is that unit, in the base
        unit: 1 while it is here, 0 once it left), so its quantities are whole and at most one. Half an
        implant halved its value, and with it the committee signature its full value needed."""
        if not serial or qty is None:
            return
        amount = f"{abs(qty).normalize():f}"
        if qty != qty.to_integral_value():
            row.error("qty", f"{amount} of serial {serial}: a serial number names one whole unit, write 1 / "
                             f"序列号 {serial} 的数量 {amount} 不是整数：一个序列号对应一件完整的产品，请写 1")
        elif abs(qty) > 1:
            row.error("qty", f"{amount} of serial {serial}: a serial number names one unit, write at most 1 / "
                             f"序列号 {serial} 的数量为 {amount}：一个序列号只对应一件产品，最多写 1")

    def not_after_as_of(self, row: Row, column: str, value: date | None) -> None:
        if value is not None and value > self.as_of:
            row.error(column, f"{value} is after the snapshot date {self.as_of}")

    # --- tables ----------------------------------------------------------------------------------

    def materials_table(self, table: RawTable) -> None:
        pending_rows: list[tuple[Row, str, tuple[Any, ...], list[str]]] = []
        for row in self.iter_rows(table):
            sku = row.text("sku", required=True, max_length=80)
            values = (
                sku,
                row.text("name", max_length=300),
                row.text("category", required=True, max_length=80),
                row.text("base_uom", required=True, max_length=20),
                row.decimal("unit_cost", required=True),
                self.currency(row),
                row.choice("risk_class", RiskClass),
                row.choice("lifecycle", Lifecycle, default=Lifecycle.ACTIVE),
                row.choice("storage", Storage, default=Storage.AMBIENT),
                row.integer("shelf_life_days"),
                row.text("supplier", max_length=200),
                row.integer("return_window_days"),
            )
            substitutes = [s.strip() for s in row.text("substitutes", max_length=2000).split(";") if s.strip()]
            if sku in self.materials:
                row.error("sku", f"duplicate SKU '{sku}' (first on line {self.materials[sku].line})")
            elif sku:
                self.materials[sku] = MaterialInfo(sku, row.line, values[3])
            pending_rows.append((row, sku, values, substitutes))
        writer = self.writer(Material, ("sku", "name", "category", "base_uom", "unit_cost", "currency",
                                         "risk_class", "lifecycle", "storage", "shelf_life_days", "supplier",
                                         "return_window_days", "substitutes"))
        for row, sku, values, substitutes in pending_rows:
            for substitute in substitutes:
                if substitute == sku:
                    row.error("substitutes", f"'{sku}' cannot substitute itself")
                elif substitute not in self.materials:
                    row.error("substitutes", f"unknown SKU '{substitute}' (not in materials)")
            self.store(writer, row, (*values, json.dumps(substitutes)))
        writer.flush()

    def currency(self, row: Row) -> str:
        currency = row.text("currency", max_length=10).upper() or self.default_currency
        if not re.fullmatch(r"[A-Z]{3}", currency):
            row.error("currency", f"'{currency}' is not an ISO 4217 code such as CNY, USD or EUR")
        return currency

    def conversions_table(self, table: RawTable) -> None:
        writer = self.writer(UomConversion, ("sku", "uom", "factor"))
        seen: dict[tuple[str, str], int] = {}
        for row in self.iter_rows(table):
            info = self.sku(row)
            uom = row.text("uom", required=True, max_length=20)
            factor = row.decimal("factor", required=True, positive=True)
            if info is None or not uom or factor is None:
                continue
            key = (row.raw("sku"), uom)
            if key in seen:
                row.error("uom", f"duplicate unit '{uom}' for this SKU (first on line {seen[key]})")
                continue
            seen[key] = row.line
            if uom == info.base_uom:
                if factor != 1:
                    row.error("factor", f"the base unit '{uom}' must have factor 1, not {factor}")
                continue
            info.units[uom] = factor
            self.store(writer, row, (key[0], uom, factor))
        writer.flush()

    def lots_table(self, table: RawTable) -> None:
        writer = self.writer(LotPosition, ("sku", "site", "lot", "serial", "qty", "received_on", "manufactured_on",
                                           "expires_on", "last_movement_on", "qc_status", "udi", "latest_movement_on"))
        seen: dict[tuple[str, str, str, str], int] = {}
        for row in self.iter_rows(table):
            info = self.sku(row)
            site = self.site(row)
            lot = row.text("lot", max_length=80)
            serial = row.text("serial", max_length=80)
            qty = self.base_qty(row, info, "qty")
            received_on = row.date("received_on", required=True)
            manufactured_on = row.date("manufactured_on")
            expires_on = row.date("expires_on")
            last_movement_on = row.date("last_movement_on")
            qc_status = row.choice("qc_status", QcStatus, default=QcStatus.RELEASED)
            udi = row.text("udi", max_length=200)
            if udi:
                lot, serial, manufactured_on, expires_on = _apply_udi(
                    row, udi, lot, serial, manufactured_on, expires_on)
            self.serial_qty(row, serial, qty)
            if manufactured_on and expires_on and expires_on < manufactured_on:
                row.error("expires_on", f"{expires_on} is before manufactured_on {manufactured_on}")
            self.not_after_as_of(row, "received_on", received_on)
            self.not_after_as_of(row, "last_movement_on", last_movement_on)
            key = (str(row.raw("sku")), site, lot, serial)
            if info is not None and site:
                if key in seen:
                    row.error(None, f"duplicate lot row: same sku, site, lot and serial as line {seen[key]}")
                else:
                    seen[key] = row.line
            latest = self.latest_movements.get(_lot_key(*key))
            self.store(writer, row, (*key, qty, received_on, manufactured_on, expires_on, last_movement_on,
                                     qc_status, udi, None if latest is None else date.fromordinal(latest)))
        writer.flush()

    def movements_table(self, table: RawTable) -> None:
        writer = self.writer(Movement, ("sku", "site", "lot", "serial", "type", "qty", "moved_on", "reference"))
        for row in self.iter_rows(table):
            info = self.sku(row)
            site = self.site(row)
            lot = row.text("lot", max_length=80)
            serial = row.text("serial", max_length=80)
            kind = row.choice("type", MovementType, required=True)
            qty = self.base_qty(row, info, "qty", signed=kind == MovementType.ADJUSTMENT)
            self.serial_qty(row, serial, qty)
            moved_on = row.date("moved_on", required=True)
            self.not_after_as_of(row, "moved_on", moved_on)
            values = (row.raw("sku"), site, lot, serial, kind, qty, moved_on, row.text("reference", max_length=120))
            if row.ok:
                if moved_on is not None:
                    key, day = _lot_key(str(values[0]), site, lot, serial), moved_on.toordinal()
                    if day > self.latest_movements.get(key, 0):
                        self.latest_movements[key] = day
                if self.checked_movements is not None:
                    self.checked_movements.append(CheckedMovement(row.line, *values))  # type: ignore[arg-type]
                    continue
            self.store(writer, row, values)
        writer.flush()

    def write_movements(self, movements: list[CheckedMovement], identities: list[str]) -> None:
        """Store checked movements applied to the snapshot, each with its identity."""
        writer = self.writer(Movement, ("sku", "site", "lot", "serial", "type", "qty", "moved_on", "reference",
                                        "identity"))
        for m, identity in zip(movements, identities, strict=True):
            writer.add((self.snapshot_id, m.sku, m.site, m.lot, m.serial, m.type, m.qty, m.moved_on, m.reference,
                        identity))
        writer.flush()

    def demand_table(self, table: RawTable) -> None:
        writer = self.writer(DemandRecord, ("sku", "site", "period", "kind", "qty"))
        seen: dict[tuple[Any, ...], int] = {}
        for row in self.iter_rows(table):
            info = self.sku(row)
            site = self.site(row)
            period = row.text("period", required=True, max_length=20)
            if period and not is_period(period):
                row.error("period", f"'{period}' is not a month (expected YYYY-MM)")
            qty = row.decimal("qty", required=True)
            kind = row.choice("kind", DemandKind, default=DemandKind.ACTUAL)
            key = (row.raw("sku"), site, period, kind)
            if info is not None and row.ok:
                if key in seen:
                    row.error(None, f"duplicate demand row: same sku, site, period and kind as line {seen[key]}")
                seen.setdefault(key, row.line)
            self.store(writer, row, (*key, qty))
        writer.flush()

    def purchase_orders_table(self, table: RawTable) -> None:
        writer = self.writer(PurchaseOrderLine, ("po", "line", "sku", "site", "qty_open", "ordered_on",
                                                 "promised_on", "received_on", "received_qty"))
        seen: dict[tuple[str, str], int] = {}
        for row in self.iter_rows(table):
            po = row.text("po", required=True, max_length=40)
            line = row.text("line", required=True, max_length=20)
            info = self.sku(row)
            site = self.site(row)
            qty_open = self.base_qty(row, info, "qty_open")
            received_qty = self.base_qty(row, info, "received_qty", required=False)
            values = (row.date("ordered_on"), row.date("promised_on"), row.date("received_on"), received_qty)
            if po and line:
                if (po, line) in seen:
                    row.error("line", f"duplicate purchase-order line {po}/{line} (first on line {seen[po, line]})")
                seen.setdefault((po, line), row.line)
            self.store(writer, row, (po, line, row.raw("sku"), site, qty_open, *values))
        writer.flush()

    def register_sites(self) -> None:
        known = set(self.connection.scalars(select(col(Site.code))))
        new = sorted(self.sites - known)
        if new:
            self.connection.execute(insert(Site), [{"code": code, "name": code} for code in new])


def _apply_udi(row: Row, udi: str, lot: str, serial: str, manufactured_on: date | None,
               expires_on: date | None) -> tuple[str, str, date | None, date | None]:
    """Fill what the row left empty from the UDI; a value that disagrees with the UDI is an error."""
    try:
        parsed = parse_udi(udi)
    except UdiError as exc:
        row.error("udi", f"'{udi}' is not a GS1 element string: {exc}")
        return lot, serial, manufactured_on, expires_on

    def merge(column: str, given: Any, from_udi: Any) -> Any:
        if from_udi is None or from_udi == "":
            return given
        if given in (None, ""):
            return from_udi
        if given != from_udi:
            row.error(column, f"'{given}' contradicts the UDI, which says '{from_udi}'")
        return given

    return (merge("lot", lot, parsed.lot), merge("serial", serial, parsed.serial),
            merge("manufactured_on", manufactured_on, parsed.manufactured_on),
            merge("expires_on", expires_on, parsed.expires_on))


def ingest(engine: Engine, path: Path, *, as_of: date | None = None, loaded_by: str | None = None,
           default_currency: str = "CNY", progress: Callable[[str], None] = lambda _message: None,
           profile: Profile | None = None, number_format: NumberFormat | None = None,
           suspect_drop: Decimal = DEFAULT_SUSPECT_DROP) -> IngestResult:
    """Load the export at `path` as a new snapshot, or recognise it as one already loaded. With a mapping
    `profile` the export is read as its ERP wrote it (inventory/profiles.py). A load with no lots, or
    removing more than `suspect_drop` percent of the last accepted snapshot's positions or value (the
    active policy's `snapshots.suspect_drop`: rules/snapshots.py), is stored as suspect.

    Numbers written as text are read in `number_format` (inventory.fields.NumberFormat: the default has
    a decimal point and no thousands separator). Raises SourceError when the export cannot be read at
    all and IngestFailed with every bad row (a declared row count that the rows do not match is one:
    inventory/row_count.py).
    """
    export = read_export(path) if profile is None else profile.read(path, progress)
    number_format = number_format or (profile.numbers.reading() if profile is not None else DEFAULT_NUMBER_FORMAT)
    as_of = as_of or datetime.now(UTC).date()
    with engine.begin() as connection:
        existing = connection.execute(
            select(col(Snapshot.id), col(Snapshot.as_of), col(Snapshot.row_counts), col(Snapshot.state),
                   col(Snapshot.guard)).where(col(Snapshot.checksum) == export.checksum)
        ).first()
        if existing is not None:
            progress(f"{export.source}: already loaded as snapshot {existing.id}; nothing stored")
            return IngestResult(existing.id, existing.as_of, dict(existing.row_counts), already_loaded=True,
                                state=existing.state, held_because=tuple(reasons_of(existing.guard)))
        loaded_at = datetime.now(UTC)
        snapshot_id = inserted_id(connection.execute(
            insert(Snapshot).values(
                as_of=as_of, source=export.source[-500:], checksum=export.checksum, row_counts={},
                loaded_by=(loaded_by or current_user())[:200], loaded_at=loaded_at,
                state=SnapshotState.SUSPECT.value, guard={},  # until the guard has compared it, below
            )
        ))
        load = Loader(connection, snapshot_id, as_of, progress, default_currency, number_format)
        steps = {"materials": load.materials_table, "uom_conversions": load.conversions_table,
                 "lots": load.lots_table, "movements": load.movements_table,
                 "demand": load.demand_table, "purchase_orders": load.purchase_orders_table}
        errors: dict[str, list[RowError]] = {}
        for name in LOAD_ORDER:
            if name in export.tables:
                before = len(load.errors.kept)
                counted = CountedTable.of(export.tables[name], export.source)
                steps[name](counted.table)
                counted.check(load.errors)
                errors[name] = load.errors.kept[before:]
        if load.errors:  # reported file by file in the export's order; leaving the block rolls it all back
            raise IngestFailed(relabel(export, [error for name in steps for error in errors.get(name, [])]),
                               load.errors.count)
        store_issue_totals(connection, snapshot_id, as_of)
        load.register_sites()
        connection.execute(update(Snapshot).where(col(Snapshot.id) == snapshot_id).values(row_counts=load.row_counts))
        statistics_due(connection, LOADED_TABLES)  # paid just below, or by the next load or scan
        comparison = guard(connection, snapshot_id, loaded_at, suspect_drop)
        if comparison.suspect:
            progress(f"snapshot {snapshot_id} held as suspect: " + "; ".join(map(str, comparison.reasons)))
    fault = refresh_statistics(engine, LOADED_TABLES)
    if fault is not None:  # the snapshot is stored: a fault after the commit does not fail the load
        progress(f"snapshot {snapshot_id} is stored; refreshing the planner's statistics failed ({fault}), "
                 f"the next load or scan does it / 快照 {snapshot_id} 已保存；刷新统计信息失败（{fault}），"
                 "下次导入或扫描时完成")
    return IngestResult(snapshot_id, as_of, load.row_counts, already_loaded=False,
                        state=SnapshotState.SUSPECT if comparison.suspect else SnapshotState.ACCEPTED,
                        held_because=tuple(comparison.reasons))


def current_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"
