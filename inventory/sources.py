"""Reading an ERP export, a folder of CSV files, one workbook (.xlsx, or .xls from an older system) or one JSON
document, into named tables of raw rows.

Exports come as ERPs write them, not as a person would: text in UTF-8 with or without a byte-order mark,
GB18030 (still common in China) or UTF-16; sheets with the report's title, the company and the printing
date above the header, two-row headers merged over groups of columns, dates as numbers in a Chinese date
format and quantities as floats. The reader takes all of these so that nobody has to re-save a file, and
refuses what it cannot read faithfully (another encoding, a field beyond FIELD_MAX, a bomb) with the file,
row and column, never a server path.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import itertools
import json
import math
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import xlrd

from inventory.fields import RowError

WORKBOOK_MEMBERS = 10_000
WORKBOOK_UNCOMPRESSED = 1 << 30
WORKBOOK_RATIO = 100
"""A workbook is a zip: before openpyxl opens one, its members' declared sizes must stay within these (at most
this many members, 1 GiB unpacked, 100 times the file's size). A 311 KB "zip bomb" workbook that unpacks to
gigabytes cost 527 MiB; real exports compress 5 to 20 times (100,000 identical lot rows: 15). zipfile never inflates a member past the size
its header declares, so checking the declared sizes bounds what openpyxl can read."""

XLS_BYTES = 64 << 20
"""An .xls (BIFF8) is not compressed, so its size bounds what xlrd builds, once rows are read ragged (padded,
one cell at A1 and one at IV65536 made 16.7 million). xlrd holds about 7.5 times the file: 65,000 lot rows of
12 columns are an 8.8 MB .xls and took 66 MiB (2.2 s); 64 MiB of .xls is some 500 MiB, within ingest's 1.5 GiB.
BIFF8 holds at most 65,536 rows a sheet, so a real export is far smaller."""

FIELD_MAX = 32_767
"""Characters in one field: Excel's own limit for a cell, far beyond any column Stockwarden reads (a material's
substitutes take 2,000). A longer field is a row error, whatever the format: a 5 MB CSV field raised out of the
csv module as a traceback."""

HEADER_SEARCH = 20
"""Rows of a sheet (not counting empty ones) searched for its header, below the title, company and printing
date an ERP puts above it."""

HEADER_SHARE = 0.6
"""The header is the first of those rows with at least this share of the most text cells any of them has."""

CJK_DATE_FORMATS = frozenset({27, 28, 29, 30, 31, 36, 50, 51, 52, 53, 54, 57, 58})
"""Built-in number formats whose code depends on the locale (ECMA-376 18.8.30): in zh-CN and ja-JP these are
dates such as yyyy"年"m"月"d"日" (31). Excel and WPS write only the id; openpyxl knows no code for them and
read such a date as the number 46024."""

TABLES = ("materials", "uom_conversions", "lots", "movements", "demand", "purchase_orders")
REQUIRED_TABLES = ("materials", "lots")


Pick = Callable[[str, str | None, int], str | None]
"""Which table a file (name, None, 0) or a workbook's sheet (file name, sheet title, sheet index) holds, or None
for one to leave unread: a mapping profile's patterns (inventory/profiles.py). Without one, files and sheets are
named after the tables."""


class SourceError(Exception):
    """The export as a whole cannot be read (missing folder, unreadable file, no header)."""


def _both(en: str, zh_cn: str) -> str:
    """One message in both languages, as policy warnings print them: `<en> / <zh-CN>`."""
    return f"{en} / {zh_cn}"


@dataclass(frozen=True)
class RawTable:
    """One file (or sheet): its name for error messages, its header and its rows with their line numbers.

    Values are strings from CSV and typed cells (date, number, text) from a workbook; the field
    parsers accept both. `header_line` is the header's row as the person sees it (below any title rows);
    `problems` gets the row errors found while reading (a field beyond FIELD_MAX), before the row they
    belong to is handed out, for the loader to report with its own.
    """

    name: str
    label: str
    header: list[str]
    rows: Iterator[tuple[int, list[Any]]]
    header_line: int = 1
    problems: list[RowError] = field(default_factory=list)


@dataclass(frozen=True)
class Export:
    source: str
    checksum: str
    tables: dict[str, RawTable]


def _too_long(problems: list[RowError], label: str, line: int, header: list[str], position: int,
              length: int) -> None:
    column = header[position] if position < len(header) and header[position] else f"column {position + 1}"
    problems.append(RowError(label, line, column, _both(f"is {length:,} characters long (at most {FIELD_MAX:,})",
                                                        f"长度为 {length:,} 个字符（最多 {FIELD_MAX:,} 个）")))


# --- encodings ---------------------------------------------------------------------------------------------

_NOT_TEXT = ("this line is not UTF-8, GB18030 or UTF-16 text; save the file as UTF-8",
             "此行不是 UTF-8、GB18030 或 UTF-16 文本；请将文件另存为 UTF-8")
_IMPLAUSIBLE = re.compile("[\x80-\x9f\ue000-\uf8ff\ufffd\U000f0000-\U0010ffff]")
"""C1 control characters, private-use code points and U+FFFD: GB18030 maps byte strings no Chinese text holds
to these. ASCII's control characters read the same in every encoding (a raw UDI holds the GS character)."""
_KANA = re.compile("[\u3040-\u30ff]")
GB18030_CHECKED_LINES = 100_000
"""Lines with non-ASCII text checked for another encoding read as GB18030: a file in another encoding
shows it within its first lines, and a million-row GB18030 export should not cost seconds more."""


def _line_of(exc: UnicodeDecodeError, lines_before: int) -> int:
    prefix = exc.object[:exc.start]
    newline = "\n".encode(exc.encoding) if exc.encoding.lower().startswith("utf-16") else b"\n"
    return lines_before + prefix.count(newline) + 1


def _detect_encoding(path: Path, digest: Any) -> str:
    """Read the file once in chunks: feed the checksum and find out whether it is UTF-8, GB18030 or UTF-16.

    UTF-16 is known by its byte-order mark. Otherwise UTF-8 is tried first, since GB18030 would also
    'decode' most UTF-8 into nonsense; and because GB18030 decodes almost any byte string, a file taken for
    GB18030 is read a second time for lines that are some other encoding in disguise (_check_gb18030).
    Nothing is held in memory but a chunk: a million-row export decoded whole costs hundreds of MiB.
    """
    with path.open("rb") as handle:
        head = handle.read(4)
        utf16 = head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) and not head.startswith(codecs.BOM_UTF32_LE)
        names = ("utf-16",) if utf16 else ("utf-8-sig", "gb18030")
        decoders = {name: codecs.getincrementaldecoder(name)() for name in names}
        lines = dict.fromkeys(names, 0)
        failed: dict[str, int] = {}
        nul: dict[str, int] = {}
        handle.seek(0)
        for chunk in itertools.chain(iter(lambda: handle.read(1 << 20), b""), [b""]):
            digest.update(chunk)
            for name, decoder in decoders.items():
                if name in failed:
                    continue
                try:
                    text = decoder.decode(chunk, final=not chunk)
                except UnicodeDecodeError as exc:
                    failed[name] = _line_of(exc, lines[name])
                    continue
                if name not in nul and (at := text.find("\x00")) >= 0:
                    nul[name] = lines[name] + text.count("\n", 0, at) + 1
                lines[name] += text.count("\n")
    chosen = next((name for name in names if name not in failed), None)
    if chosen is None:
        raise SourceError(f"{path.name}:{failed[names[-1]]}: {_both(*_NOT_TEXT)}")
    if chosen in nul:
        raise SourceError(f"{path.name}:{nul[chosen]}: " + _both(
            "the line holds NUL bytes, as UTF-16 text without a byte-order mark does; save the file as UTF-8",
            "此行含有 NUL 字节（不带字节顺序标记的 UTF-16 文本即如此）；请将文件另存为 UTF-8"))
    if chosen == "gb18030":
        _check_gb18030(path)
    return chosen


def _looks_wrong(text: str, raw: bytes) -> bool:
    """Whether a line read as GB18030 is really another encoding: it holds characters no export holds, or
    most of its characters lie outside GB2312 (where everyday Chinese lives) and its bytes read as Japanese
    (Shift-JIS with kana). Chinese with rare characters (镕, 喆, ®) and traditional characters stays GB18030."""
    if _IMPLAUSIBLE.search(text):
        return True
    wide = len(text) - len(text.encode("ascii", "ignore"))
    rare = text.encode("gb2312", "replace").count(b"?") - text.count("?")
    if rare < 2 or 2 * rare <= wide:
        return False
    try:
        japanese = raw.decode("cp932")
    except UnicodeDecodeError:
        return False
    return bool(_KANA.search(japanese))


def _check_gb18030(path: Path) -> None:
    checked = 0
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if raw.isascii():
                continue
            text = raw.decode("gb18030").rstrip("\r\n")
            if _looks_wrong(text, raw.rstrip(b"\r\n")):
                shown = text if len(text) <= 60 else text[:60] + "..."
                raise SourceError(f"{path.name}:{number}: " + _both(
                    f"this line does not read as UTF-8, GB18030 or UTF-16 text (it reads as '{shown}'); save the "
                    "file as UTF-8", f"此行不是 UTF-8、GB18030 或 UTF-16 文本（读出为“{shown}”）；请将文件另存为 UTF-8"))
            checked += 1
            if checked == GB18030_CHECKED_LINES:
                return


# --- CSV ---------------------------------------------------------------------------------------------------

def _normalise_header(cells: Iterable[Any]) -> list[str]:
    return [str(c).strip().lower() if c is not None else "" for c in cells]


class _Record:
    """The lines of the record the csv module is reading, and whether one of them is longer than FIELD_MAX.
    When a field outgrows the csv module's own limit, the record is read again by _read_long_record, from its
    first line, and the rest of it is taken from the file."""

    __slots__ = ("lines", "long")

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.long = False


def _recorded(handle: Iterable[str], record: _Record) -> Iterator[str]:
    """The file's lines for the csv module, kept in `record` (a generator: a class's __next__ cost 1 µs a line)."""
    lines = record.lines
    for line in handle:
        if len(line) > FIELD_MAX:
            record.long = True
        lines.append(line)
        yield line


_UNQUOTED_END = re.compile(r"[,\r\n]")


def _read_long_record(lines: Iterable[str]) -> tuple[list[str | None], dict[int, int]]:
    """One record in the csv module's excel dialect (as it reads it, quotes doubled inside quoted fields),
    with every field longer than FIELD_MAX left out (None) and its length kept by its place. Quoted text is
    skipped by searching for the next quote, so a 5 MB field costs no Python loop per character."""
    values: list[str | None] = []
    long: dict[int, int] = {}
    pieces: list[str] = []
    size = 0
    state = "start"  # start of a field, unquoted, quoted, after a quote inside a quoted field

    def add(piece: str) -> None:
        nonlocal size
        size += len(piece)
        if size <= FIELD_MAX:
            pieces.append(piece)

    def end_field() -> None:
        nonlocal size
        if size > FIELD_MAX:
            long[len(values)] = size
            values.append(None)
        else:
            values.append("".join(pieces))
        pieces.clear()
        size = 0

    for line in lines:
        i, n = 0, len(line)
        while i < n:
            if state == "quoted":
                j = line.find('"', i)
                if j < 0:
                    add(line[i:])
                    break
                add(line[i:j])
                i, state = j + 1, "after quote"
                continue
            if state == "after quote":
                if line[i] == '"':
                    add('"')
                    i, state = i + 1, "quoted"
                    continue
                state = "unquoted"
            elif state == "start" and line[i] == '"':
                i, state = i + 1, "quoted"
                continue
            match = _UNQUOTED_END.search(line, i)
            if match is None:
                add(line[i:])
                state = "unquoted"
                break
            add(line[i:match.start()])
            end_field()
            if match.group() != ",":
                return values, long
            i, state = match.end(), "start"
    end_field()
    return values, long


def _csv_rows(path: Path, encoding: str, label: str, header: list[str],
              problems: list[RowError]) -> Iterator[tuple[int, list[Any]]]:
    with path.open(encoding=encoding, newline="") as handle:
        record = _Record()
        lines = _recorded(handle, record)
        reader = csv.reader(lines)
        next(reader, None)
        for line in itertools.count(2):
            record.lines.clear()
            values: list[Any]
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error:  # a field beyond the csv module's limit: read the record again, without it
                values, long = _read_long_record(itertools.chain(list(record.lines), lines))
                for position, length in long.items():
                    _too_long(problems, label, line, header, position, length)
                yield line, values
                continue
            if record.long or len(record.lines) > 1:  # a long line, or a quoted field across lines
                record.long = False
                for position, value in enumerate(values):
                    if len(value) > FIELD_MAX:
                        _too_long(problems, label, line, header, position, len(value))
                        values[position] = None
            if any(values) or problems:
                yield line, values


def _csv_table(name: str, path: Path, encoding: str) -> RawTable:
    with path.open(encoding=encoding, newline="") as handle:
        try:
            first = next(csv.reader(handle), None)
        except csv.Error:
            raise SourceError(f"{path.name}:1: " + _both(f"a column name is longer than {FIELD_MAX:,} characters",
                                                         f"某个列名超过 {FIELD_MAX:,} 个字符")) from None
    if first is None:
        raise SourceError(f"{path.name}:1: the file is empty; a header row is expected / 文件为空；第一行应为表头")
    header = _normalise_header(first)
    problems: list[RowError] = []
    return RawTable(name, path.name, header, _csv_rows(path, encoding, path.name, header, problems), 1, problems)


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
            elif suffix in WORKBOOKS:
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


# --- workbooks ---------------------------------------------------------------------------------------------

Merge = tuple[int, int, int, int]
"""A merged range: first row, first column, last row, last column, counted from 1 as the sheet shows them."""


def _cell(value: Any) -> Any:
    """A cell as the person sees it in Excel: a float that is a whole number is an integer (a quantity of 12.0,
    the lot number 2026001.0), other floats keep the 15 significant digits Excel shows (0.30000000000000004
    is 0.3), and a date-time at midnight is a date (a lot number Excel took for a date reads 2026-01-02, not
    2026-01-02 00:00:00)."""
    if type(value) is float:
        if value.is_integer() and abs(value) < 1e15:
            return int(value)
        return Decimal(format(value, ".15g")) if math.isfinite(value) else value
    if type(value) is datetime and value.time() == time(0) and value.tzinfo is None:
        return value.date()
    return value


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _label(value: Any) -> str:
    return "" if value is None else str(value).strip()


@dataclass(frozen=True)
class _Header:
    names: list[str]
    line: int


def _find_header(top: list[tuple[int, list[Any]]], merges: list[Merge]) -> _Header | None:
    """The header among a sheet's first rows: the first row with nearly as many text cells as the row with the
    most (HEADER_SHARE: a title, the company or the printing date above it has one or two; a data row that
    writes numbers as text may have more than a header with an unnamed column). When the row is the
    upper half of a two-row header (some of its cells merged across columns, over names in the row below)
    or the lower half of one, each column is named by its lower cell, or by its upper cell where the lower
    one is empty; where two columns would get the same name, by both ("入库 日期", "出库 日期")."""
    counts = [sum(map(_is_text, values)) for _line, values in top]
    if not counts or max(counts) == 0:
        return None
    enough = max(2, math.ceil(HEADER_SHARE * max(counts))) if max(counts) >= 2 else 1
    best = next(i for i, count in enumerate(counts) if count >= enough)
    rows = dict(top)

    def across(line: int) -> list[Merge]:
        return [m for m in merges if m[0] == line and m[3] > m[1]]

    def under(spans: list[Merge], line: int) -> bool:
        values = rows.get(line, [])
        return any(_is_text(v) for m in spans for v in values[m[1] - 1:m[3]])

    def apart(upper: int) -> bool:
        """Whether the row below `upper` names only columns under its merged groups: a data row below a header
        with one merged cell ("备注" over two columns) has values in the other columns too."""
        spans = across(upper)
        grouped = {column for m in spans for column in range(m[1], m[3] + 1)}
        below = rows.get(upper + 1, [])
        return under(spans, upper + 1) and not any(
            _is_text(v) or v not in (None, "") for column, v in enumerate(below, start=1) if column not in grouped)

    line = top[best][0]
    if apart(line):
        upper, lower = line, line + 1
    elif counts[best - 1:best] and counts[best - 1] >= 2 and apart(line - 1):
        upper, lower = line - 1, line
    else:
        return _Header(_normalise_header(rows[line]), line)
    top_row, low_row = rows[upper], rows.get(lower, [])
    groups = [_label(v) for v in top_row]
    for _first_row, first_column, _last_row, last_column in across(upper):
        for column in range(first_column, last_column + 1):
            if column > len(groups):
                groups.append("")
            if not groups[column - 1]:
                groups[column - 1] = _label(top_row[first_column - 1]) if first_column <= len(top_row) else ""
    width = max(len(groups), len(low_row))
    groups += [""] * (width - len(groups))
    leaves = [_label(v) for v in low_row] + [""] * (width - len(low_row))
    names = [leaf or group for leaf, group in zip(leaves, groups, strict=True)]
    repeated = {name for name in names if name and names.count(name) > 1}
    names = [f"{group} {leaf}" if name in repeated and leaf and group else name
             for name, leaf, group in zip(names, leaves, groups, strict=True)]
    return _Header(_normalise_header(names), lower)


def _cell_rows(rows: Iterator[tuple[int, list[Any]]], label: str, header: list[str],
               problems: list[RowError]) -> Iterator[tuple[int, list[Any]]]:
    for line, cells in rows:
        if not any(v is not None and v != "" for v in cells):
            continue
        values = [_cell(v) for v in cells]
        for position, value in enumerate(values):
            if isinstance(value, str) and len(value) > FIELD_MAX:
                _too_long(problems, label, line, header, position, len(value))
                values[position] = None
        yield line, values


def _sheet_table(name: str, label: str, rows: Iterator[tuple[int, list[Any]]], merges: list[Merge]) -> RawTable:
    """A sheet's table below its header (found among its first HEADER_SEARCH rows that are not empty), its rows
    numbered as the sheet numbers them."""
    top: list[tuple[int, list[Any]]] = []
    filled = 0
    for row in rows:
        top.append(row)
        filled += any(v is not None and v != "" for v in row[1])
        if filled == HEADER_SEARCH:
            break
    header = _find_header(top, merges)
    if header is None:
        raise SourceError(f"{label}:1: the sheet is empty; a header row is expected / 工作表为空；应有表头行")
    rest = itertools.chain((row for row in top if row[0] > header.line), rows)
    problems: list[RowError] = []
    return RawTable(name, label, header.names, _cell_rows(rest, label, header.names, problems), header.line,
                    problems)


def _check_unpacked_size(path: Path, data: bytes) -> None:
    """Refuse a workbook whose members would unpack beyond the WORKBOOK_* bounds, before anything is inflated."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise SourceError(f"{path.name}: not a readable .xlsx workbook ({exc}) / 无法读取此 .xlsx 工作簿") from None
    unpacked = sum(member.file_size for member in members)
    if len(members) > WORKBOOK_MEMBERS:
        raise SourceError(f"{path.name}: the workbook holds {len(members):,} parts (at most {WORKBOOK_MEMBERS:,}); "
                          f"refused unread / 工作簿含 {len(members):,} 个部件（最多 {WORKBOOK_MEMBERS:,} 个），未读取")
    if unpacked > WORKBOOK_UNCOMPRESSED or unpacked > WORKBOOK_RATIO * max(len(data), 1):
        raise SourceError(f"{path.name}: the workbook would unpack to {unpacked:,} bytes from {len(data):,} "
                          f"(at most {WORKBOOK_UNCOMPRESSED:,} bytes and {WORKBOOK_RATIO} times its size); refused "
                          "unread as a zip bomb. Send the tables as CSV files if this is a real export / "
                          f"工作簿解压后将达 {unpacked:,} 字节，疑为压缩炸弹，未读取；如确为真实导出，请改用 CSV 文件发送各表")


_MERGE_CELL = re.compile(rb'<(?:\w+:)?mergeCell\b[^>]*?\bref="([A-Z]{1,3})([0-9]{1,7}):([A-Z]{1,3})([0-9]{1,7})"')


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number


def _xlsx_merges(data: bytes, member: str) -> list[Merge]:
    """The merged ranges that touch a sheet's first rows, from its XML (openpyxl's read-only sheets do not
    keep them); read in chunks, as the sheet may be hundreds of MB unpacked."""
    found: set[Merge] = set()
    tail = b""
    with zipfile.ZipFile(io.BytesIO(data)) as archive, archive.open(member) as source:
        for chunk in iter(lambda: source.read(1 << 20), b""):
            block = tail + chunk
            for match in _MERGE_CELL.finditer(block):
                first_row = int(match[2])
                if first_row <= HEADER_SEARCH + 1:
                    found.add((first_row, _column_number(match[1]), int(match[4]), _column_number(match[3])))
            tail = block[-256:]
    return sorted(found)


def _xlsx_rows(sheet: Any) -> Iterator[tuple[int, list[Any]]]:
    """Rows by their number in the sheet, gaps included. The sheet's declared dimension is dropped first:
    `A1:XFD1048576` in a 4 KB workbook made openpyxl hand out a million rows of 16,384 empty cells."""
    sheet.reset_dimensions()
    for line, values in enumerate(sheet.iter_rows(values_only=True), start=1):
        yield line, list(values)


_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
"""The start of an OLE2 compound document: an .xls (BIFF) workbook."""


@dataclass(frozen=True)
class _Sheet:
    """One sheet of a workbook, by its title; `open` reads it: its rows by their number in the sheet and the
    merged ranges of its first rows."""

    title: str
    open: Callable[[], tuple[Iterator[tuple[int, list[Any]]], list[Merge]]]


def _xlsx_sheets(path: Path, data: bytes) -> list[_Sheet]:
    _check_unpacked_size(path, data)
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a broken or foreign file
        raise SourceError(f"{path.name}: not a readable .xlsx workbook ({exc}) / 无法读取此 .xlsx 工作簿") from None
    for index, style in enumerate(workbook._cell_styles):  # see CJK_DATE_FORMATS; the sheets' parser reads this set
        if style.numFmtId in CJK_DATE_FORMATS:
            workbook._date_formats.add(index)

    def opener(sheet: Any) -> Callable[[], tuple[Iterator[tuple[int, list[Any]]], list[Merge]]]:
        return lambda: (_xlsx_rows(sheet), _xlsx_merges(data, sheet._worksheet_path))

    return [_Sheet(sheet.title, opener(sheet)) for sheet in workbook.worksheets]


def _xls_value(kind: int, value: Any, datemode: int) -> Any:
    if kind == xlrd.XL_CELL_DATE:
        try:
            return xlrd.xldate.xldate_as_datetime(value, datemode)
        except (xlrd.xldate.XLDateError, ValueError, OverflowError):
            return value
    if kind in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
        return None
    if kind == xlrd.XL_CELL_BOOLEAN:
        return bool(value)
    if kind == xlrd.XL_CELL_ERROR:
        return xlrd.error_text_from_code.get(value, "#ERROR")
    return value


def _xls_rows(sheet: Any, datemode: int) -> Iterator[tuple[int, list[Any]]]:
    for index in range(sheet.nrows):
        yield index + 1, [_xls_value(kind, value, datemode)
                          for kind, value in zip(sheet.row_types(index), sheet.row_values(index), strict=True)]


def _xls_sheets(path: Path, data: bytes) -> list[_Sheet]:
    """An .xls (BIFF) workbook through xlrd, the maintained reader for it: each sheet parsed when opened, its
    rows ragged (not padded to the widest row), with formatting kept for the merged header cells."""
    try:
        book = xlrd.open_workbook(file_contents=data, on_demand=True, ragged_rows=True, formatting_info=True,
                                  logfile=io.StringIO())
    except Exception as exc:  # xlrd raises many types for a broken or foreign file
        raise SourceError(f"{path.name}: not a readable .xls workbook ({exc}) / 无法读取此 .xls 工作簿") from None

    def opener(index: int) -> Callable[[], tuple[Iterator[tuple[int, list[Any]]], list[Merge]]]:
        def read() -> tuple[Iterator[tuple[int, list[Any]]], list[Merge]]:
            try:
                sheet = book.sheet_by_index(index)
            except Exception as exc:  # a broken sheet
                raise SourceError(f"{path.name}: not a readable .xls workbook ({exc}) / 无法读取此 .xls 工作簿") from None
            merges = [(low_row + 1, low_column + 1, high_row, high_column)
                      for low_row, high_row, low_column, high_column in sheet.merged_cells]
            return _xls_rows(sheet, book.datemode), merges
        return read

    return [_Sheet(title, opener(index)) for index, title in enumerate(book.sheet_names())]


def _workbook_sheets(path: Path) -> tuple[list[_Sheet], bytes]:
    """The sheets of an .xlsx or .xls file, told apart by their first bytes (older systems name either .xls);
    an .xls beyond XLS_BYTES is refused before it is read."""
    size = path.stat().st_size
    if path.suffix.lower() == ".xls" and size > XLS_BYTES:
        raise SourceError(_both(
            f"{path.name}: the workbook is {size:,} bytes (at most {XLS_BYTES:,}); refused unread. Send the "
            "tables as CSV files", f"工作簿大小为 {size:,} 字节（最多 {XLS_BYTES:,} 字节），未读取；请改用 CSV 文件发送各表"))
    data = path.read_bytes()
    if data.startswith(_OLE2):
        if len(data) > XLS_BYTES:
            raise SourceError(f"{path.name}: the workbook is {len(data):,} bytes (at most {XLS_BYTES:,}); refused unread "
                              f"/ 工作簿大小为 {len(data):,} 字节（最多 {XLS_BYTES:,} 字节），未读取")
        return _xls_sheets(path, data), data
    if path.suffix.lower() == ".xls" and not data.startswith(b"PK"):
        raise SourceError(f"{path.name}: not a readable .xls workbook (neither BIFF nor .xlsx inside); " + _both(
            "open it in Excel and save it as .xlsx, or export CSV", "请用 Excel 打开并另存为 .xlsx，或导出为 CSV"))
    return _xlsx_sheets(path, data), data


def _read_workbook(path: Path, pick: Pick | None = None) -> Export:
    sheets, data = _workbook_sheets(path)
    tables: dict[str, RawTable] = {}
    for index, sheet in enumerate(sheets):
        if pick is None:
            name = sheet.title.strip().lower().removesuffix(".csv")
            if name not in TABLES:
                continue
        elif not (name := pick(path.name, sheet.title, index) or ""):
            continue
        rows, merges = sheet.open()
        label = f"{path.name}[{name if pick is None else sheet.title}]"
        _picked(tables, name, _sheet_table(name, label, rows, merges))
    return Export(str(path), hashlib.sha256(data).hexdigest(), tables)


def _record_rows(label: str, header: list[str], records: list[dict[str, Any]],
                 problems: list[RowError]) -> Iterator[tuple[int, list[Any]]]:
    for number, record in enumerate(records, start=1):
        values = [record.get(column) for column in header]
        for position, value in enumerate(values):
            if isinstance(value, str) and len(value) > FIELD_MAX:
                _too_long(problems, label, number, header, position, len(value))
                values[position] = None
        yield number, values


def _read_json(path: Path) -> Export:
    """`{"materials": [{"sku": ..., ...}, ...], "lots": [...]}`: each table a list of records keyed by the
    CSV's column names. A record's "row" in error messages is its 1-based place in its list."""
    data = path.read_bytes()
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SourceError(f"{path.name}: not readable JSON ({exc}) / 无法读取此 JSON 文档") from None
    if not isinstance(document, dict):
        raise SourceError(f"{path.name}: expected an object of tables ({', '.join(TABLES)}) / 应为各表组成的对象")
    tables: dict[str, RawTable] = {}
    for name, records in document.items():
        if name not in TABLES or records == []:  # an empty list is a table not sent
            continue
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise SourceError(f"{path.name}[{name}]: expected a list of records (objects) / 应为记录（对象）列表")
        lowered = [{str(k).strip().lower(): v for k, v in r.items()} for r in records]
        for number, record in enumerate(lowered, start=1):
            nested = [k for k, v in record.items() if isinstance(v, dict | list)]
            if nested:
                raise SourceError(f"{path.name}[{name}]:{number}: {nested[0]} must be a plain value, not a list or object "
                                  f"/ {nested[0]} 必须是单个值，不能是列表或对象")
        header = list(dict.fromkeys(k for r in lowered for k in r))
        label = f"{path.name}[{name}]"
        problems: list[RowError] = []
        tables[name] = RawTable(name, label, header, _record_rows(label, header, lowered, problems), 1, problems)
    return Export(str(path), hashlib.sha256(data).hexdigest(), tables)


WORKBOOKS = (".xlsx", ".xls")


def read_export(path: Path, pick: Pick | None = None, *, required: tuple[str, ...] = REQUIRED_TABLES) -> Export:
    """Open a folder of `<table>.csv` files, one `.xlsx` or `.xls` whose sheets carry the table names, or one
    `.json` document of tables; with `pick`, the files and sheets it names (a folder's workbooks too). Errors
    name the file as given, never the folder it lies in on this machine (an upload lies under var/uploads)."""
    if path.is_dir():
        export = _read_folder(path, pick)
    elif path.is_file() and path.suffix.lower() in WORKBOOKS:
        export = _read_workbook(path, pick)
    elif path.is_file() and path.suffix.lower() == ".json":
        export = _read_json(path)
    elif path.exists():
        raise SourceError(f"{path.name}: expected a folder of CSV files, an .xlsx or .xls workbook or a .json document "
                          "/ 应为 CSV 文件所在的文件夹、.xlsx 或 .xls 工作簿或 .json 文档")
    else:
        raise SourceError(f"{path.name}: no such file or folder / 没有这个文件或文件夹")
    missing = [name for name in required if name not in export.tables]
    if missing:
        where = "files" if path.is_dir() else "lists" if path.suffix.lower() == ".json" else "sheets"
        wanted = ", ".join(f"{m}.csv" if where == "files" else m for m in missing)
        what = {"files": "文件", "lists": "列表", "sheets": "工作表"}[where]
        shown = "" if path.is_dir() else f"{path.name}: "
        raise SourceError(f"{shown}required {where} missing: {wanted} / 缺少必需的{what}：{wanted}")
    return export


def read_table(path: Path, name: str) -> tuple[RawTable, str]:
    """One table from one CSV file, or the sheet or list called `name` of a workbook or JSON document;
    with its checksum."""
    if path.is_file() and path.suffix.lower() in (*WORKBOOKS, ".json"):
        export = _read_json(path) if path.suffix.lower() == ".json" else _read_workbook(path)
        if name not in export.tables:
            raise SourceError(f"{path.name}: no {'list' if path.suffix.lower() == '.json' else 'sheet'} named {name} "
                              f"/ 没有名为 {name} 的{'列表' if path.suffix.lower() == '.json' else '工作表'}")
        return export.tables[name], export.checksum
    if not path.is_file():
        raise SourceError(f"{path.name}: no such file / 没有这个文件")
    digest = hashlib.sha256()
    table = _csv_table(name, path, _detect_encoding(path, digest))
    return table, digest.hexdigest()
