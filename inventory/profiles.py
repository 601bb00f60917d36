"""Mapping profiles: how one ERP's exports, as the ERP writes them, become Stockwarden's tables.

People export from their ERP; they do not write Stockwarden's CSV layout. A profile (one YAML file per ERP
under erp_profiles/, data that an IT or compliance person copies and edits) says which file or sheet holds
which table, which of the ERP's column labels (English, Chinese, technical names) is which Stockwarden
column, how the ERP's codes (movement types, QC states, units) translate, and how it writes dates and
numbers. Applying it renames and translates the rows before the ingest checks them, and keeps each row's
file and line, so every error still points at the ERP's own file, row and column.

A profile is read like a policy (rules/loader.py): structure by pydantic, every problem placed at its
file:line:column, anchors and aliases refused, never a traceback. The reading is repeated here rather
than imported because inventory/ sits below rules/.
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
import hashlib
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, WithJsonSchema, model_validator

from core.problems import FileProblem
from core.settings import get_settings
from inventory.fields import NumberFormat, RowError
from inventory.models import Lifecycle, MovementType, QcStatus, RiskClass, Storage
from inventory.sources import REQUIRED_TABLES, TABLES, Export, RawTable, SourceError, read_export

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
SKIP = "skip"
"""A value map's target that leaves the row out (SAP's 321, a transfer between stock types of one lot)."""

KEYS = {"lots": ("sku", "site", "lot", "serial"), "purchase_orders": ("po", "line")}
"""What makes a row one lot or one PO line: the rows a profile's `combine` adds up."""
RESTRICTIVE = (QcStatus.REJECTED, QcStatus.HOLD, QcStatus.QUARANTINE, QcStatus.RELEASED)
"""A lot combined from rows of several QC states takes the most restrictive: quarantined units are never
reallocated or sold because another storage location holds released ones."""

DATE_COLUMNS = frozenset({"received_on", "manufactured_on", "expires_on", "last_movement_on", "moved_on",
                          "ordered_on", "promised_on"})
CHOICES: dict[str, tuple[str, ...]] = {
    "type": tuple(MovementType), "qc_status": tuple(QcStatus), "risk_class": tuple(RiskClass),
    "lifecycle": tuple(Lifecycle), "storage": tuple(Storage),
}
"""Columns whose values come from a fixed list: a value map must translate into that list."""

TEXT: dict[str, dict[str, str]] = {
    "en": {"picked": "{label}: {table}", "not_picked": "{label}: not read (no table of profile '{profile}' "
           "matches it)", "mapped": "  mapped: {columns}", "unmapped": "  not mapped (ignored): {columns}",
           "missing": "  missing required column {column} (the profile looks for: {aliases}){hint}",
           "hint": "; did you mean '{header}'?", "no_table": "required table {table} is missing: no file or "
           "sheet matches {patterns}", "ok": "{count} file(s) or sheet(s) read; every required column is there.",
           "problems": "{count} problem(s): the export cannot be loaded with profile '{profile}' as it is."},
    "zh-CN": {"picked": "{label}：{table}", "not_picked": "{label}：未读取（配置 '{profile}' 中没有与之匹配的表）",
              "mapped": "  已映射：{columns}", "unmapped": "  未映射（忽略）：{columns}",
              "missing": "  缺少必需列 {column}（配置查找的列名：{aliases}）{hint}",
              "hint": "；您是否指 '{header}'？", "no_table": "缺少必需的表 {table}：没有文件或工作表匹配 {patterns}",
              "ok": "已读取 {count} 个文件或工作表；必需列齐全。",
              "problems": "{count} 个问题：按配置 '{profile}' 无法导入此导出数据。"},
}


# --- the model --------------------------------------------------------------------------------------


def _listed(value: Any) -> Any:
    """One alias or pattern may be written without brackets."""
    return [value] if isinstance(value, str) else value


_NAMES_SCHEMA: dict[str, Any] = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
_TARGET_SCHEMA: dict[str, Any] = {"anyOf": [
    {"type": "string", "description": "a Stockwarden value, or skip"},
    {"type": "object", "additionalProperties": False, "properties": {
        "value": {"type": "string"}, "positive": {"type": "string"}, "negative": {"type": "string"},
        "negate": {"type": "boolean"}}}]}
"""For editors: the short forms a profile may use (one label without brackets, `101: receipt`)."""
Names = Annotated[list[str], BeforeValidator(_listed), WithJsonSchema(_NAMES_SCHEMA)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Numbers(_Strict):
    """How the ERP writes numbers in text cells: SAP with a German user writes 1.234,5. The ingest's value
    parsers read them in this format (`reading()`, inventory/fields.NumberFormat, whose rule it follows);
    Excel number cells need none of it."""

    decimal: Literal[".", ","] = "."
    thousands: Literal[",", ".", " ", "'"] | None = Field(default=None, description="none unless named: 1,5 "
                                                          "is never taken for 15")

    @model_validator(mode="after")
    def _distinct(self) -> Numbers:
        if self.thousands == self.decimal:
            raise ValueError(f"the thousands separator cannot be the decimal mark '{self.decimal}'")
        return self

    def reading(self) -> NumberFormat:
        return _reading(self.decimal, self.thousands)


@functools.cache
def _reading(decimal: str, thousands: str | None) -> NumberFormat:
    """One NumberFormat per format (each compiles its pattern), shared by every value a profile computes."""
    return NumberFormat(decimal=decimal, thousands=thousands)


def _target(value: Any) -> Any:
    return {"value": value} if isinstance(value, str | int) and not isinstance(value, bool) else value


class Target(_Strict):
    """What one ERP value becomes: a Stockwarden value, `skip`, or one per sign of the quantity (SAP writes
    both halves of a 301 transfer with one movement type: the issuing plant's line is negative)."""

    value: str | None = None
    positive: str | None = None
    negative: str | None = None
    negate: bool = Field(default=False, description="the quantity changes sign (Odoo's stock counted away)")

    def chosen(self, negative: bool) -> str | None:
        if self.value is not None:
            return self.value
        return self.negative if negative else self.positive


def _value_map(value: Any) -> Any:
    """`{合格: released}` is short for `{map: {合格: released}}`."""
    if isinstance(value, dict) and "map" not in value:
        return {"map": value}
    return value


class ValueMap(_Strict):
    """ERP values to Stockwarden values. The key is the column's own value, or the values of the columns
    in `key` joined by ' > ' (Odoo: from-location type > to-location type); a map key may hold * and ?.
    A value the map does not name is passed on as it is, and checked as any other."""

    key: Names = Field(default_factory=list)
    map: dict[str, Annotated[Target, BeforeValidator(_target), WithJsonSchema(_TARGET_SCHEMA)]]


class Lookup(_Strict):
    """A second export that fills what a table's rows leave empty, matched on `key`: the batch master's
    expiry and production dates for SAP's MB52, which has none."""

    files: Names = Field(default_factory=list)
    sheets: Names = Field(default_factory=list)
    key: Names
    columns: dict[str, Names]


class TableProfile(_Strict):
    files: Names = Field(default_factory=list, description="file name patterns (* and ?), any case")
    sheets: Names = Field(default_factory=list, description="sheet name patterns; else a matching workbook's first sheet")
    columns: dict[str, Names] = Field(default_factory=dict, description="Stockwarden column: the ERP's labels")
    extra: dict[str, Names] = Field(default_factory=dict, description="columns read only as value-map keys")
    values: dict[str, Annotated[ValueMap, BeforeValidator(_value_map), WithJsonSchema({"anyOf": [
        {"type": "object", "additionalProperties": False, "required": ["map"],
         "properties": {"key": _NAMES_SCHEMA, "map": {"type": "object", "additionalProperties": _TARGET_SCHEMA}}},
        {"type": "object", "additionalProperties": _TARGET_SCHEMA}]})]] = \
        Field(default_factory=dict)
    signed: str | None = Field(default=None, description="the quantity column whose sign says the direction")
    outflows: Names = Field(default_factory=list, description="labels whose quantities leave stock though "
                            "written positive (U8's 出库数量): read as negative")
    subtract: dict[str, Names] = Field(default_factory=dict, description="a column the ERP lacks, as the first "
                                       "column less the others (Odoo: qty_open = ordered less received_qty)")
    combine: Names = Field(default_factory=list, description="rows of one lot (one PO line) become one, these "
                           "quantities added: MB52 lists a batch once per storage location")
    extract: dict[str, str] = Field(default_factory=dict, description="a column's value as the one group of "
                                    "this pattern (Odoo's line __export__.purchase_order_line_17_5c1d: 17)")
    fill_from: str | None = None
    note: str = ""


class Profile(_Strict):
    """One ERP's exports: see erp_profiles/README.md."""

    profile: str
    erp: str
    note: str = ""
    numbers: Numbers = Numbers()
    dates: Names = Field(default_factory=list, description="strptime formats of text dates; ISO dates always")
    tables: dict[str, TableProfile]
    lookups: dict[str, Lookup] = Field(default_factory=dict)

    # --- which file is which table -----------------------------------------------------------------

    def patterns(self, name: str) -> tuple[list[str], list[str]]:
        """File and sheet patterns of a table or lookup, Stockwarden's own names included; a table the
        profile does not name is read by its own names, in Stockwarden's layout."""
        if name not in self.tables and name not in self.lookups:
            return [f"{name}.csv"], [name]
        part: TableProfile | Lookup = self.tables[name] if name in self.tables else self.lookups[name]
        return [*part.files, f"{name}.csv"], [*part.sheets, name]

    def pick(self, file_name: str, sheet: str | None, index: int) -> str | None:
        """The table or lookup a file or sheet holds: a sheet by its name, else a workbook by its file name
        (its first sheet: an ERP writes one sheet per export)."""
        names = [*self.tables, *self.lookups, *(name for name in TABLES if name not in self.tables)]
        if sheet is not None:
            found = _best(sheet, {name: self.patterns(name)[1] for name in names})
            if found or index > 0:
                return found
        return _best(file_name, {name: self.patterns(name)[0] for name in names})

    # --- applying it -------------------------------------------------------------------------------

    def read(self, path: Path, progress: Callable[[str], None] = lambda _message: None) -> MappedExport:
        """The export at `path` as Stockwarden's tables (SourceError when it cannot be read). Its checksum
        covers the profile too: the same files read with a corrected profile are another snapshot."""
        raw = read_export(path, self.pick, required=())
        missing = [name for name in REQUIRED_TABLES if name not in raw.tables]
        if missing:
            wanted = "; ".join(f"{name}: {', '.join(self.patterns(name)[0])}" for name in missing)
            raise SourceError(f"{path.name}: no file or sheet matches the profile '{self.profile}' for {wanted} "
                              f"(stockwarden profile check shows what each file is) / 没有文件或工作表匹配配置 "
                              f"'{self.profile}' 中的 {', '.join(missing)}")
        lookups = {name: _lookup_rows(self, raw.tables[name], lookup)
                   for name, lookup in self.lookups.items() if name in raw.tables}
        tables: dict[str, RawTable] = {}
        labels: dict[str, dict[str, str]] = {}
        for name, table in raw.tables.items():
            if name in self.tables:
                mapping = _Mapping(self, name, self.tables[name], table.header, table.label)
                fill = lookups.get(self.tables[name].fill_from or "")
                # replace, not a new RawTable: whatever else the reader knows of the table (its header's line,
                # the problems of its cells) stays with it
                tables[name] = replace(table, header=mapping.header, rows=mapping.rows(table.rows, fill, progress))
                labels[table.label] = mapping.labels
            elif name in TABLES:  # not named by the profile: in Stockwarden's own layout, as read
                tables[name] = table
        checksum = hashlib.sha256(f"{raw.checksum}\0{self.model_dump_json()}".encode()).hexdigest()
        return MappedExport(raw.source, checksum, tables, labels)


def _normal(label: Any) -> str:
    """A label as matched: full-width forms as their ASCII (库存量（主单位） is 库存量(主单位)), spaces and case
    ignored."""
    return " ".join(unicodedata.normalize("NFKC", str(label)).split()).casefold() if label is not None else ""


def _best(name: str, patterns: dict[str, list[str]]) -> str | None:
    """The table whose matching pattern says most (fewest wildcards): 物料收发明细.xlsx is movements, though
    物料* would take it for materials."""
    matches = [(len(pattern.replace("*", "").replace("?", "")), table) for table, listed in patterns.items()
               for pattern in listed if fnmatch.fnmatchcase(name.casefold(), pattern.casefold())]
    return max(matches, key=lambda match: match[0])[1] if matches else None


@dataclass(frozen=True)
class MappedExport(Export):
    """An export after its profile: `labels` gives, per file, each Stockwarden column's label in that file."""

    labels: dict[str, dict[str, str]] = field(default_factory=dict)


def relabel(export: Export, errors: list[RowError]) -> list[RowError]:
    """Row errors naming the ERP's column as the person sees it, with the Stockwarden column it stands for."""
    if not isinstance(export, MappedExport):
        return errors
    named = []
    for error in errors:
        label = export.labels.get(error.file, {}).get(error.column or "")
        if label and label != error.column:
            error = RowError(error.file, error.line, f"{label} ({error.column})", error.message)
        named.append(error)
    return named


class _Mapping:
    """One table's header resolved against its profile, and the rows translated."""

    def __init__(self, profile: Profile, name: str, table: TableProfile, header: list[str], label: str = ""):
        self.profile = profile
        self.label = label
        self.table = table
        self.name = name
        place = {label: i for i, label in reversed(list(enumerate(_normal(h) for h in header))) if label}
        self.sources: dict[str, list[int]] = {}
        self.labels: dict[str, str] = {}
        for column, aliases in [*_columns(table, name).items(), *table.extra.items()]:
            found = list(dict.fromkeys(place[_normal(alias)] for alias in aliases if _normal(alias) in place))
            if found:
                self.sources[column] = found
                self.labels[column] = " / ".join(header[i] for i in found)
        self.outflows = {place[_normal(label)] for label in table.outflows if _normal(label) in place}
        self._days: dict[str, Any] = {}
        self.header = [c for c in self.sources if c not in table.extra]
        filled = [c for c in profile.lookups[table.fill_from].columns] if table.fill_from in profile.lookups else []
        made = [*table.subtract, *(c for c in table.values if c not in table.extra), *filled]
        self.header += [c for c in dict.fromkeys(made) if c not in self.sources]
        self.dates = [c for c in self.header if c in DATE_COLUMNS]

    def rows(self, rows: Iterator[tuple[int, list[Any]]], fill: dict[tuple[str, ...], dict[str, Any]] | None,
             progress: Callable[[str], None]) -> Iterator[tuple[int, list[Any]]]:
        skipped = 0
        combined: dict[tuple[str, ...], tuple[int, dict[str, Any]]] = {}
        separate: list[tuple[int, dict[str, Any]]] = []
        for line, values in rows:
            row = {c: self._first(values, where) for c, where in self.sources.items()}
            for column, operands in self.table.subtract.items():
                if row.get(column) in (None, ""):
                    row[column] = _difference([row.get(o) for o in operands], self.profile.numbers)
            if fill is not None:
                match = fill.get(tuple(_key_part(row.get(k)) for k in self.profile.lookups[self.table.fill_from or ""].key))
                for column, value in (match or {}).items():
                    if row.get(column) in (None, ""):
                        row[column] = value
            if not self._translate(row):
                skipped += 1
                continue
            if self.table.combine:
                self._combine(combined, separate, line, row)
                continue
            yield line, [row.get(column) for column in self.header]
        for line, row in sorted([*combined.values(), *separate], key=lambda item: item[0]):
            yield line, [row.get(column) for column in self.header]
        if skipped:
            progress(f"{self.label}: {skipped:,} row(s) left out, as profile '{self.profile.profile}' says (skip) / "
                     f"按配置 '{self.profile.profile}' 跳过 {skipped:,} 行")

    def _combine(self, combined: dict[tuple[str, ...], tuple[int, dict[str, Any]]],
                 separate: list[tuple[int, dict[str, Any]]], line: int, row: dict[str, Any]) -> None:
        """Add the row to the one of its lot (PO line) seen before; the first row's line names it. A row whose
        quantity is no number stays apart, for the row check to report."""
        given = {c: row[c] for c in self.table.combine if row.get(c) not in (None, "")}  # empty adds nothing
        sizes = {c: _number(value, self.profile.numbers) for c, value in given.items()}
        if any(size is None for size in sizes.values()):
            separate.append((line, row))
            return
        key = tuple(_key_part(row.get(c)) for c in KEYS[self.name])
        if key not in combined:
            combined[key] = (line, {**row, **sizes})
            return
        first = combined[key][1]
        for column, size in sizes.items():
            first[column] = (first.get(column) or Decimal(0)) + (size or Decimal(0))
        for column, value in row.items():
            if first.get(column) in (None, ""):
                first[column] = value
        states = [s for s in (first.get("qc_status"), row.get("qc_status")) if s in RESTRICTIVE]
        if len(states) == 2:
            first["qc_status"] = min(states, key=RESTRICTIVE.index)

    def _first(self, values: list[Any], where: list[int]) -> Any:
        """The first value of the columns a Stockwarden column may come from that is neither empty nor zero,
        else the first not empty (Odoo: the destination's warehouse, else the source's; Kingdee writes 0 in
        收入数量 of an issue). A value from an outflow column is negated."""
        if len(where) == 1:  # the common case, kept fast: a million movement rows pass here
            value = values[where[0]] if where[0] < len(values) else None
            if value is None or (isinstance(value, str) and not value.strip()):
                return None
            return _negated(value) if self.outflows and where[0] in self.outflows and not _is_zero(value) else value
        found: list[tuple[int, Any]] = []
        for i in where:
            value = values[i] if i < len(values) else None
            if value is not None and not (isinstance(value, str) and not value.strip()):
                found.append((i, value))
        if not found:
            return None
        i, value = next(((i, v) for i, v in found if not _is_zero(v)), found[0])
        return _negated(value) if i in self.outflows and not _is_zero(value) else value

    def _translate(self, row: dict[str, Any]) -> bool:
        """Value maps, signs and dates on one row; False when the profile leaves the row out."""
        qty_column = self.table.signed
        negative = qty_column is not None and _is_negative(row.get(qty_column))
        for column, mapping in self.table.values.items():
            parts = [row.get(k) for k in mapping.key] if mapping.key else [row.get(column)]
            key = " > ".join("" if p is None else _key_part(p) for p in parts)
            folded = key.casefold()
            target = mapping.map.get(key) or next(
                (t for pattern, t in mapping.map.items() if fnmatch.fnmatchcase(folded, pattern.casefold())), None)
            if target is None:
                if mapping.key and key.strip(" >"):
                    row[column] = row.get(column) or key  # the unmapped key shows in the row's error
                continue
            chosen = target.chosen(negative)
            if chosen == SKIP:
                return False
            row[column] = chosen
            if target.negate and qty_column:
                row[qty_column] = _negated(row.get(qty_column))
                negative = not negative
        if qty_column and negative:  # the direction is in the type now; an adjustment keeps its sign, in front
            size = _negated(row.get(qty_column))
            row[qty_column] = size if row.get("type") != MovementType.ADJUSTMENT else _negated(size)
        for column, pattern in self.table.extract.items():
            value = row.get(column)
            if value is not None and (found := re.search(pattern, _key_part(value))):
                row[column] = found.group(1)
        for column in self.dates:
            value = row.get(column)
            if isinstance(value, str):  # strptime is slow and an export repeats its days: each text read once
                if value not in self._days:
                    if len(self._days) >= 10_000:  # date-times (Odoo's) hardly repeat: keep the cache small
                        self._days.clear()
                    self._days[value] = _date(value, self.profile.dates)
                row[column] = self._days[value]
        return True


def _columns(table: TableProfile, name: str) -> dict[str, list[str]]:
    """The profile's labels of each column, Stockwarden's own name last: its own layout is always read."""
    from inventory.ingest import COLUMNS  # deferred: ingest imports this module

    required, optional = COLUMNS[name]
    return {column: [*table.columns.get(column, []), column] for column in (*required, *optional)}


def _first(values: list[Any], where: list[int]) -> Any:
    for i in where:
        value = values[i] if i < len(values) else None
        if value is not None and not (isinstance(value, str) and not value.strip()):
            return value
    return None


def _is_zero(value: Any) -> bool:
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return value == 0
    return bool(re.fullmatch(r"\s*[-+]?0+([.,]0*)?\s*", str(value)))


def _number(value: Any, numbers: Numbers) -> Decimal | None:
    """A quantity the profile computes itself (a difference), read as the profile says numbers are written
    (the ingest's own rule: a mark the format does not have is never guessed at)."""
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return Decimal(str(value))
    text = str(value or "").strip()
    if not text:
        return Decimal(0)
    negative = _is_negative(text)
    text = str(_negated(text)) if negative else text
    number = numbers.reading().parse(text)
    if not isinstance(number, Decimal):
        return None
    return -number if negative else number


def _difference(operands: list[Any], numbers: Numbers) -> Any:
    """The first operand less the others; the first as it came when any is not a number (the row check says so)."""
    parsed = [_number(o, numbers) for o in operands]
    if not operands or operands[0] in (None, "") or any(p is None for p in parsed):
        return operands[0] if operands else None
    first, *rest = parsed
    return (first or Decimal(0)) - sum((r or Decimal(0) for r in rest), Decimal(0))  # a number: no locale


def _key_part(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a workbook's 101.0 is SAP's movement type 101
    return str(value).strip() if value is not None else ""


def _is_negative(value: Any) -> bool:
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return value < 0
    text = str(value or "").strip()
    return text.startswith(("-", "−")) or (len(text) > 1 and text.endswith("-"))  # SAP writes 5-


def _negated(value: Any) -> Any:
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return -value
    if value is None:
        return None
    text = str(value).strip()
    if text.startswith(("-", "−")):
        return text[1:]
    if len(text) > 1 and text.endswith("-"):
        return text[:-1]
    return f"-{text}"


def _date(value: Any, formats: list[str]) -> Any:
    """A text date in one of the profile's formats as a date; anything else as it came, for the row check."""
    if not isinstance(value, str) or not value.strip():
        return value
    text = value.strip()
    for form in formats:
        try:
            return datetime.strptime(text, form).date()
        except ValueError:
            continue
    return value


def _lookup_rows(profile: Profile, table: RawTable, lookup: Lookup) -> dict[tuple[str, ...], dict[str, Any]]:
    """The lookup export by its key; the first row of a key wins."""
    place = {_normal(h): i for i, h in reversed(list(enumerate(table.header))) if h}
    where = {c: [place[_normal(a)] for a in [*aliases, c] if _normal(a) in place] for c, aliases in lookup.columns.items()}
    found: dict[tuple[str, ...], dict[str, Any]] = {}
    for _line, values in table.rows:
        row = {c: _first(values, w) for c, w in where.items() if w}
        key = tuple(_key_part(row.get(k)) for k in lookup.key)
        if any(key):
            found.setdefault(key, {c: _date(v, profile.dates) if c in DATE_COLUMNS else v
                                   for c, v in row.items() if c not in lookup.key})
    return found


# --- reading a profile file ---------------------------------------------------------------------------


ProfileProblem = FileProblem
"""Printed as `erp_profiles/sap.yaml:12:7: tables.lots.columns.expiry_on: unknown column ...`."""


class ProfileInvalid(Exception):
    def __init__(self, problems: list[ProfileProblem]):
        super().__init__("\n".join(map(str, problems)) or "the profile is not valid")
        self.problems = problems


class ProfileUnknown(Exception):
    """No profile of that name: the message lists those there are."""


Path_ = tuple[str | int, ...]


def _positions(node: yaml.Node, path: Path_ = (), found: dict[Path_, tuple[int, int]] | None = None,
               duplicates: list[Path_] | None = None) -> dict[Path_, tuple[int, int]]:
    """Where each key (and each list item) of the document stands, 1-based; repeated keys into `duplicates`."""
    found = {} if found is None else found
    found.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            child = (*path, str(key_node.value))
            if duplicates is not None and child[-1] in seen:
                duplicates.append(child)
            seen.add(str(key_node.value))
            found[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            _positions(value_node, child, found, duplicates)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _positions(item, (*path, index), found, duplicates)
    return found


def _as_written(positions: dict[Path_, tuple[int, int]], path: Path_) -> Path_:
    """The path as the document writes it: a value map's `map:` may be left out (`type: {"101": receipt}`)."""
    if path in positions or "map" not in path:
        return path
    at = path.index("map")
    shorter = (*path[:at], *path[at + 1:])
    return shorter if path[:at + 1] not in positions else path


def _where(positions: dict[Path_, tuple[int, int]], path: Path_) -> tuple[int, int]:
    probe = tuple(path)
    while probe and probe not in positions:
        probe = probe[:-1]
    return positions.get(probe, (1, 1))


def _render(path: Iterable[str | int]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _hinted(name: str, known: Iterable[str]) -> str:
    hint = difflib.get_close_matches(name, sorted(known), n=1)
    return f" (did you mean '{hint[0]}'?)" if hint else ""


def _meaning(profile: Profile) -> Iterator[tuple[Path_, str]]:
    """What pydantic cannot know: table and column names, value-map targets, date formats, lookups."""
    from inventory.ingest import COLUMNS  # deferred: ingest imports this module

    for name, table in profile.tables.items():
        here: Path_ = ("tables", name)
        if name not in TABLES:
            yield here, f"unknown table '{name}'{_hinted(name, TABLES)}"
            continue
        required, optional = COLUMNS[name]
        known = {*required, *optional}
        for column in table.columns:
            if column not in known:
                yield (*here, "columns", column), f"unknown column '{column}' of {name}{_hinted(column, known)}"
        for column in table.extra:
            if column in known:
                yield (*here, "extra", column), f"'{column}' is a column of {name}: map it under columns"
        for column, operands in table.subtract.items():
            for operand in operands:
                if operand not in known and operand not in table.extra:
                    yield (*here, "subtract", column), f"'{operand}' is neither a column of {name} nor under extra"
        for column, mapping in table.values.items():
            if column not in known and column not in table.extra:
                yield (*here, "values", column), f"unknown column '{column}' of {name}{_hinted(column, known)}"
            for key in mapping.key:
                if key not in known and key not in table.extra:
                    yield (*here, "values", column, "key"), f"'{key}' is neither a column of {name} nor under extra"
            allowed = (*CHOICES.get(column, ()), SKIP)
            for value, target in mapping.map.items():
                for chosen in (target.value, target.positive, target.negative):
                    if chosen is not None and column in CHOICES and chosen not in allowed:
                        yield ((*here, "values", column, "map", value),
                               f"'{chosen}' is not one of {', '.join(allowed)}{_hinted(chosen, allowed)}")
                if target.value is None and target.positive is None and target.negative is None:
                    yield (*here, "values", column, "map", value), "give a value, or positive and negative"
                if (target.positive is not None or target.negate) and table.signed is None:
                    yield (*here, "values", column, "map", value), "needs `signed:` (the quantity column) on the table"
        if table.combine and name not in KEYS:
            yield (*here, "combine"), f"only {' and '.join(KEYS)} rows can be combined"
        for column in table.combine:
            if column not in known:
                yield (*here, "combine"), f"unknown column '{column}' of {name}{_hinted(column, known)}"
        for column, pattern in table.extract.items():
            try:
                groups = re.compile(pattern).groups
            except re.error as exc:
                yield (*here, "extract", column), f"not a regular expression: {exc}"
                continue
            if groups != 1:
                yield (*here, "extract", column), f"the pattern needs one group (...), it has {groups}"
        if table.signed is not None and table.signed not in known:
            yield (*here, "signed"), f"unknown column '{table.signed}' of {name}{_hinted(table.signed, known)}"
        if table.fill_from is not None and table.fill_from not in profile.lookups:
            yield (*here, "fill_from"), f"no lookup '{table.fill_from}'{_hinted(table.fill_from, profile.lookups)}"
    for name, lookup in profile.lookups.items():
        if name in TABLES:
            yield ("lookups", name), f"'{name}' is a table's name; call the lookup something else"
        for key in lookup.key:
            if key not in lookup.columns:
                yield ("lookups", name, "key"), f"the key column '{key}' is not under columns"
    for index, form in enumerate(profile.dates):
        try:
            sample = datetime(2026, 11, 5, 13, 7, 9)
            if datetime.strptime(sample.strftime(form), form).date() != sample.date():
                raise ValueError
        except ValueError:
            yield ("dates", index), f"'{form}' is not a date format that reads back (write e.g. %d.%m.%Y)"


_PATH_PART = re.compile(r"^function-")


def parse_profile(text: str, label: str) -> Profile:
    """The checked profile in `text`, or ProfileInvalid with every problem at its line and column."""
    try:
        for event in yaml.parse(text, Loader=_LOADER):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                mark = event.start_mark
                raise ProfileInvalid([ProfileProblem(label, mark.line + 1 if mark else 1, mark.column + 1 if mark else 1,
                                                     "", "YAML anchors and aliases are not allowed (write it out)")])
        node = yaml.compose(text, Loader=_LOADER)
        data = yaml.load(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise ProfileInvalid([ProfileProblem(label, line, column, "", f"YAML syntax: {exc.problem or exc}")]) from None
    except yaml.YAMLError as exc:
        raise ProfileInvalid([ProfileProblem(label, 1, 1, "", f"YAML syntax: {exc}")]) from None
    if not isinstance(data, dict) or node is None:
        raise ProfileInvalid([ProfileProblem(label, 1, 1, "", "a profile is a mapping with profile, erp and tables")])
    duplicates: list[Path_] = []
    positions = _positions(node, duplicates=duplicates)
    found: list[tuple[Path_, str]] = [(p, f"duplicate key '{p[-1]}' (a later one would silently win)") for p in duplicates]
    profile: Profile | None = None
    try:
        profile = Profile.model_validate(data)
    except ValidationError as exc:
        for item in exc.errors():
            loc = tuple(p for p in item["loc"] if not (isinstance(p, str) and _PATH_PART.match(p)))
            if item["type"] == "extra_forbidden":
                found.append((loc, f"unknown key '{loc[-1]}'"))
            elif item["type"] == "missing":
                found.append((loc, "is required"))
            else:
                found.append((loc, item["msg"].removeprefix("Value error, ")))
    if profile is not None:
        found.extend(_meaning(profile))
    if found or profile is None:
        placed = [(_as_written(positions, p), m) for p, m in found]
        raise ProfileInvalid(sorted({ProfileProblem(label, *_where(positions, p), _render(p), m) for p, m in placed}))
    return profile


def profiles_dir() -> Path:
    return get_settings().profiles_dir


def shipped() -> list[str]:
    """The names of the profiles in the profiles folder."""
    return sorted(p.stem for p in profiles_dir().glob("*.yaml"))


def load_profile(name_or_path: str | Path, *, allow_path: bool = True) -> Profile:
    """A profile by name (erp_profiles/<name>.yaml) or, when allowed, by the path of a copied one. The API
    allows names only: a request must not make the server read a file of its choosing."""
    candidate = Path(name_or_path)
    if allow_path and candidate.suffix.lower() in (".yaml", ".yml") and candidate.is_file():
        path = candidate
    elif re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,60}", str(name_or_path)) and \
            (profiles_dir() / f"{name_or_path}.yaml").is_file():
        path = profiles_dir() / f"{name_or_path}.yaml"
    else:
        names = ", ".join(shipped()) or "none"
        raise ProfileUnknown(f"no profile '{name_or_path}' (there are: {names}) / 没有配置 '{name_or_path}'（现有：{names}）")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileInvalid([ProfileProblem(path.name, 1, 1, "", f"cannot read the file: {exc}")]) from None
    return parse_profile(text, str(path) if allow_path else path.name)


# --- what `profile check` reports -------------------------------------------------------------------------


@dataclass(frozen=True)
class FileCheck:
    """One file or sheet: the table it was read as (None: not read), its columns mapped and not, and the
    required columns missing with the closest unmapped label."""

    label: str
    table: str | None
    mapped: dict[str, str] = field(default_factory=dict)
    unmapped: list[str] = field(default_factory=list)
    missing: list[tuple[str, list[str], str | None]] = field(default_factory=list)


@dataclass(frozen=True)
class ProfileCheck:
    profile: str
    files: list[FileCheck]
    missing_tables: list[tuple[str, list[str]]]

    @property
    def problems(self) -> int:
        return sum(len(f.missing) for f in self.files) + len(self.missing_tables)

    def lines(self, language: str) -> list[str]:
        text = TEXT.get(language, TEXT["en"])
        out: list[str] = []
        for check in self.files:
            if check.table is None:
                out.append(text["not_picked"].format(label=check.label, profile=self.profile))
                continue
            out.append(text["picked"].format(label=check.label, table=check.table))
            if check.mapped:
                out.append(text["mapped"].format(columns=", ".join(f"{h} → {c}" for c, h in check.mapped.items())))
            if check.unmapped:
                out.append(text["unmapped"].format(columns=", ".join(check.unmapped)))
            for column, aliases, near in check.missing:
                hint = text["hint"].format(header=near) if near else ""
                out.append(text["missing"].format(column=column, aliases=", ".join(aliases), hint=hint))
        for table, patterns in self.missing_tables:
            out.append(text["no_table"].format(table=table, patterns=", ".join(patterns)))
        read = sum(1 for f in self.files if f.table)
        out.append(text["problems"].format(count=self.problems, profile=self.profile) if self.problems
                   else text["ok"].format(count=read))
        return out


def check_export(profile: Profile, path: Path) -> ProfileCheck:
    """Which columns of each file the profile maps, which it ignores, which required ones are missing."""
    from inventory.ingest import COLUMNS  # deferred: ingest imports this module

    everything: list[tuple[str, str | None, list[str]]] = []

    def note(file_name: str, sheet: str | None, index: int) -> str | None:
        name = profile.pick(file_name, sheet, index)
        if name is None:
            everything.append((f"{file_name}[{sheet}]" if sheet is not None else file_name, None, []))
        return name

    tables = read_export(path, note, required=()).tables  # a required table missing is reported below
    files: list[FileCheck] = [FileCheck(label, None) for label, _t, _h in everything]
    for name, table in tables.items():
        if name in profile.lookups:
            lookup = profile.lookups[name]
            as_table = TableProfile(columns=lookup.columns)
            place = {_normal(h): h for h in table.header if h}
            mapped = {c: next(place[_normal(a)] for a in [*aliases, c] if _normal(a) in place)
                      for c, aliases in lookup.columns.items() if any(_normal(a) in place for a in [*aliases, c])}
            files.append(FileCheck(table.label, f"lookup {name}", mapped,
                                   [h for h in table.header if h and h not in mapped.values()],
                                   [(k, [*as_table.columns[k], k], None) for k in lookup.key if k not in mapped]))
            continue
        mapping = _Mapping(profile, name, profile.tables[name], table.header)
        required = COLUMNS[name][0]
        fill_from = profile.tables[name].fill_from
        filled = set(profile.lookups[fill_from].columns) if fill_from else set()
        used = {i for where in mapping.sources.values() for i in where}
        unmapped = [h for i, h in enumerate(table.header) if h and i not in used]
        missing = []
        for column in required:
            if column in mapping.header or column in filled:  # read, computed or filled from a lookup
                continue
            aliases = _columns(profile.tables[name], name)[column]
            near = difflib.get_close_matches(_normal(aliases[0]), [_normal(h) for h in unmapped], n=1, cutoff=0.5)
            for alias in aliases[1:]:
                near = near or difflib.get_close_matches(_normal(alias), [_normal(h) for h in unmapped], n=1, cutoff=0.5)
            missing.append((column, aliases, next((h for h in unmapped if _normal(h) == near[0]), None) if near else None))
        files.append(FileCheck(table.label, name, mapping.labels, unmapped, missing))
    missing_tables: list[tuple[str, list[str]]] = [(name, [*profile.patterns(name)[0], *profile.patterns(name)[1]])
                      for name in ("materials", "lots") if name not in tables and name in profile.tables]
    missing_tables += [(name, [f"{name}.csv", name]) for name in ("materials", "lots")
                       if name not in tables and name not in profile.tables]
    return ProfileCheck(profile.profile, files, missing_tables)



def profile_json_schema_text() -> str:
    """The JSON Schema of profile files, for editors; committed as erp_profiles/schema.json."""
    schema = Profile.model_json_schema()
    document = {"$schema": "https://json-schema.org/draft/2020-12/schema",
                "$id": "https://stockwarden.example/erp_profiles/schema.json",
                "title": "Stockwarden ERP mapping profile ERP 映射配置", **{k: v for k, v in schema.items() if k != "title"}}
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
