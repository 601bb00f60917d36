"""Reading an ERP export, a folder of CSV files or one workbook, into named tables of raw rows.

ERPs in China often still write GB18030; others write UTF-8 with or without a byte-order mark. The
reader accepts all three so that nobody has to re-save a file before Stockwarden will take it.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openpyxl

TABLES = ("materials", "uom_conversions", "lots", "movements", "demand", "purchase_orders")
REQUIRED_TABLES = ("materials", "lots")


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


def _read_folder(folder: Path) -> Export:
    digest = hashlib.sha256()
    tables: dict[str, RawTable] = {}
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


def _read_workbook(path: Path) -> Export:
    data = path.read_bytes()
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a broken or foreign file
        raise SourceError(f"{path.name}: not a readable .xlsx workbook ({exc})") from exc
    tables: dict[str, RawTable] = {}
    for sheet in workbook.worksheets:
        name = sheet.title.strip().lower().removesuffix(".csv")
        if name not in TABLES:
            continue
        first = next(sheet.iter_rows(max_row=1, values_only=True), None)
        if first is None:
            raise SourceError(f"{path.name}[{sheet.title}]:1: the sheet is empty; a header row is expected")
        tables[name] = RawTable(name, f"{path.name}[{name}]", _normalise_header(list(first)), _sheet_rows(sheet))
    return Export(str(path), hashlib.sha256(data).hexdigest(), tables)


def read_export(path: Path) -> Export:
    """Open a folder of `<table>.csv` files or one `.xlsx` whose sheets carry the table names."""
    if path.is_dir():
        export = _read_folder(path)
    elif path.is_file() and path.suffix.lower() == ".xlsx":
        export = _read_workbook(path)
    elif path.exists():
        raise SourceError(f"{path}: expected a folder of CSV files or an .xlsx workbook")
    else:
        raise SourceError(f"{path}: no such file or folder")
    missing = [name for name in REQUIRED_TABLES if name not in export.tables]
    if missing:
        where = "sheets" if path.is_file() else "files"
        wanted = ", ".join(f"{m}.csv" if where == "files" else m for m in missing)
        raise SourceError(f"{path}: required {where} missing: {wanted}")
    return export


def read_table(path: Path, name: str) -> tuple[RawTable, str]:
    """One table from one CSV file, or from the sheet called `name` of a workbook; with its checksum."""
    if path.is_file() and path.suffix.lower() == ".xlsx":
        export = _read_workbook(path)
        if name not in export.tables:
            raise SourceError(f"{path}: no sheet named {name}")
        return export.tables[name], export.checksum
    if not path.is_file():
        raise SourceError(f"{path}: no such file")
    digest = hashlib.sha256()
    table = _csv_table(name, path, _detect_encoding(path, digest))
    return RawTable(name, path.name, table.header, table.rows), digest.hexdigest()
