"""Reading an ERP export, a folder of CSV files, one workbook or one JSON document, into named tables
of raw rows.

ERPs in China often still write GB18030; others write UTF-8 with or without a byte-order mark. The
reader accepts all three so that nobody has to re-save a file before Stockwarden will take it.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openpyxl

WORKBOOK_MEMBERS = 10_000
WORKBOOK_UNCOMPRESSED = 1 << 30
WORKBOOK_RATIO = 100
"""A workbook is a zip: before openpyxl opens one, its members' declared sizes must stay within these (at most
this many members, 1 GiB unpacked, 100 times the file's size). A 311 KB "zip bomb" workbook that unpacks to
gigabytes cost 527 MiB; real exports compress 5 to 20 times (100,000 identical lot rows: 15). zipfile never inflates a member past the size
its header declares, so checking the declared sizes bounds what openpyxl can read."""

TABLES = ("materials", "uom_conversions", "lots", "movements", "demand", "purchase_orders")
REQUIRED_TABLES = ("materials", "lots")


Pick = Callable[[str, str | None, int], str | None]
"""Which table a file (name, None, 0) or a workbook's sheet (file name, sheet title, sheet index) holds, or None
for one to leave unread: a mapping profile's patterns (inventory/profiles.py). Without one, files and sheets are
named after the tables."""


class SourceError(Exception):
    """The export as a whole cannot be read (missing folder, unreadable file, no header)."""


@dataclass(frozen=True)
class RawTable:
    """One file (or sheet): its name for error messages, its header and its rows with their line numbers.

    Values are strings from CSV and typed cells (date, number, text) from a workbook; the field
    parsers accept both.
    """

    name: str
    label: str
    header: list[str]
    rows: Iterator[tuple[int, list[Any]]]


@dataclass(frozen=True)
class Export:
    source: str
    checksum: str
    tables: dict[str, RawTable]


def _detect_encoding(path: Path, digest: Any) -> str:
    """Read the file once in chunks: feed the checksum and find out whether it is UTF-8 or GB18030.

    UTF-8 is tried first, since GB18030 would also 'decode' most UTF-8 into nonsense. Nothing is
    held in memory but a chunk: a million-row export decoded whole costs hundreds of MiB.
    """
    candidates = {name: codecs.getincrementaldecoder(name)() for name in ("utf-8-sig", "gb18030")}
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
            for name, decoder in list(candidates.items()):
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    del candidates[name]
    for name, decoder in list(candidates.items()):
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            del candidates[name]
    if not candidates:
        raise SourceError(f"{path.name}: neither UTF-8 nor GB18030 text")
    return next(iter(candidates))


def _normalise_header(cells: list[Any]) -> list[str]:
    return [str(c).strip().lower() if c is not None else "" for c in cells]


def _csv_rows(path: Path, encoding: str) -> Iterator[tuple[int, list[str]]]:
    with path.open(encoding=encoding, newline="") as handle:
        reader = csv.reader(handle)
        next(reader, None)
        for line, values in enumerate(reader, start=2):
            if any(values):
                yield line, values


def _csv_table(name: str, path: Path, encoding: str) -> RawTable:
    with path.open(encoding=encoding, newline="") as handle:
        header = next(csv.reader(handle), None)
    if header is None:
        raise SourceError(f"{path.name}:1: the file is empty; a header row is expected")
    return RawTable(name, path.name, _normalise_header(header), _csv_rows(path, encoding))


def _picked(tables: dict[str, RawTable], name: str, table: RawTable) -> None:
    if name in tables:
        raise SourceError(f"{tables[name].label} and {table.label} are both {name}: send one of them")
    tables[name] = table


def _read_folder(folder: Path, pick: Pick | None = None) -> Export:
    digest = hashlib.sha256()
    tables: dict[str, RawTable] = {}
    if pick is not None:  # every CSV file and workbook, whatever its name, that the profile recognises
        for path in sorted(p for p in folder.iterdir() if p.is_file()):
            suffix = path.suffix.lower()
            if suffix == ".csv" and (name := pick(path.name, None, 0)):
                digest.update(f"{path.name}\0{path.stat().st_size}\0".encode())
                _picked(tables, name, _csv_table(name, path, _detect_encoding(path, digest)))
            elif suffix == ".xlsx":
                book = _read_workbook(path, pick)
                digest.update(f"{path.name}\0{book.checksum}\0".encode())
                for name, table in book.tables.items():
                    _picked(tables, name, table)
        return Export(str(folder), digest.hexdigest(), tables)
    for name in TABLES:
        path = folder / f"{name}.csv"
        if not path.is_file():
            continue
        digest.update(f"{name}\0{path.stat().st_size}\0".encode())
        tables[name] = _csv_table(name, path, _detect_encoding(path, digest))
    return Export(str(folder), digest.hexdigest(), tables)


def _sheet_rows(sheet: Any) -> Iterator[tuple[int, list[Any]]]:
    for line, values in enumerate(sheet.iter_rows(min_row=2, values_only=True), start=2):
        if any(v is not None and v != "" for v in values):
            yield line, list(values)


def _check_unpacked_size(path: Path, data: bytes) -> None:
    """Refuse a workbook whose members would unpack beyond the WORKBOOK_* bounds, before anything is inflated."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise SourceError(f"{path.name}: not a readable .xlsx workbook ({exc})") from None
    unpacked = sum(member.file_size for member in members)
    if len(members) > WORKBOOK_MEMBERS:
        raise SourceError(f"{path.name}: the workbook holds {len(members):,} parts (at most {WORKBOOK_MEMBERS:,}); "
                          "refused unread")
    if unpacked > WORKBOOK_UNCOMPRESSED or unpacked > WORKBOOK_RATIO * max(len(data), 1):
        raise SourceError(f"{path.name}: the workbook would unpack to {unpacked:,} bytes from {len(data):,} "
                          f"(at most {WORKBOOK_UNCOMPRESSED:,} bytes and {WORKBOOK_RATIO} times its size); refused "
                          "unread as a zip bomb. Send the tables as CSV files if this is a real export")


def _read_workbook(path: Path, pick: Pick | None = None) -> Export:
    data = path.read_bytes()
    _check_unpacked_size(path, data)
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a broken or foreign file
        raise SourceError(f"{path.name}: not a readable .xlsx workbook ({exc})") from exc
    tables: dict[str, RawTable] = {}
    for index, sheet in enumerate(workbook.worksheets):
        if pick is None:
            name = sheet.title.strip().lower().removesuffix(".csv")
            if name not in TABLES:
                continue
        elif not (name := pick(path.name, sheet.title, index) or ""):
            continue
        first = next(sheet.iter_rows(max_row=1, values_only=True), None)
        if first is None:
            raise SourceError(f"{path.name}[{sheet.title}]:1: the sheet is empty; a header row is expected")
        label = f"{path.name}[{name if pick is None else sheet.title}]"
        _picked(tables, name, RawTable(name, label, _normalise_header(list(first)), _sheet_rows(sheet)))
    return Export(str(path), hashlib.sha256(data).hexdigest(), tables)


def _record_rows(header: list[str], records: list[dict[str, Any]]) -> Iterator[tuple[int, list[Any]]]:
    for number, record in enumerate(records, start=1):
        yield number, [record.get(column) for column in header]


def _read_json(path: Path) -> Export:
    """`{"materials": [{"sku": ..., ...}, ...], "lots": [...]}`: each table a list of records keyed by the
    CSV's column names. A record's "row" in error messages is its 1-based place in its list."""
    data = path.read_bytes()
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SourceError(f"{path.name}: not readable JSON ({exc})") from None
    if not isinstance(document, dict):
        raise SourceError(f"{path.name}: expected an object of tables ({', '.join(TABLES)})")
    tables: dict[str, RawTable] = {}
    for name, records in document.items():
        if name not in TABLES or records == []:  # an empty list is a table not sent
            continue
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise SourceError(f"{path.name}[{name}]: expected a list of records (objects)")
        lowered = [{str(k).strip().lower(): v for k, v in r.items()} for r in records]
        for number, record in enumerate(lowered, start=1):
            nested = [k for k, v in record.items() if isinstance(v, dict | list)]
            if nested:
                raise SourceError(f"{path.name}[{name}]:{number}: {nested[0]} must be a plain value, not a list or object")
        header = list(dict.fromkeys(k for r in lowered for k in r))
        tables[name] = RawTable(name, f"{path.name}[{name}]", header, _record_rows(header, lowered))
    return Export(str(path), hashlib.sha256(data).hexdigest(), tables)


def read_export(path: Path, pick: Pick | None = None, *, required: tuple[str, ...] = REQUIRED_TABLES) -> Export:
    """Open a folder of `<table>.csv` files, one `.xlsx` whose sheets carry the table names, or one `.json`
    document of tables; with `pick`, the files and sheets it names (a folder's workbooks too)."""
    if path.is_dir():
        export = _read_folder(path, pick)
    elif path.is_file() and path.suffix.lower() == ".xlsx":
        export = _read_workbook(path, pick)
    elif path.is_file() and path.suffix.lower() == ".json":
        export = _read_json(path)
    elif path.exists():
        raise SourceError(f"{path}: expected a folder of CSV files, an .xlsx workbook or a .json document")
    else:
        raise SourceError(f"{path}: no such file or folder")
    missing = [name for name in required if name not in export.tables]
    if missing:
        where = "files" if path.is_dir() else "lists" if path.suffix.lower() == ".json" else "sheets"
        wanted = ", ".join(f"{m}.csv" if where == "files" else m for m in missing)
        raise SourceError(f"{path}: required {where} missing: {wanted}")
    return export


def read_table(path: Path, name: str) -> tuple[RawTable, str]:
    """One table from one CSV file, or the sheet or list called `name` of a workbook or JSON document;
    with its checksum."""
    if path.is_file() and path.suffix.lower() in (".xlsx", ".json"):
        export = _read_workbook(path) if path.suffix.lower() == ".xlsx" else _read_json(path)
        if name not in export.tables:
            raise SourceError(f"{path}: no {'sheet' if path.suffix.lower() == '.xlsx' else 'list'} named {name}")
        return export.tables[name], export.checksum
    if not path.is_file():
        raise SourceError(f"{path}: no such file")
    digest = hashlib.sha256()
    table = _csv_table(name, path, _detect_encoding(path, digest))
    return RawTable(name, path.name, table.header, table.rows), digest.hexdigest()
