"""The row count an export declares for a file, held against the rows it really has.

A file cut at a row boundary reads as a good file with fewer rows: nothing in the rows says that rows are
missing. Many ERPs can write the count with the export, either as a trailer row after the last data row
("total: 200", "合计 200 行", or a first cell "Total" and a second 200) or in a sidecar file beside it
(`lots.csv.count` holding "200"). When a count is there and the rows do not add up to it, the load is
refused with one row error naming the file; with no count, the suspect-snapshot guard (inventory/suspect.py)
is what catches a short file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from inventory.fields import Problems, RowError
from inventory.sources import RawTable

TRAILER = re.compile(
    r"^(?:total|totals|row count|rows|records|record count|count|合计|总计|共计|共|行数|记录数|总行数)"
    r"\s*[:：=]?\s*(\d[\d,，]*)\s*(?:rows?|records?|lines?|行|条|笔|条记录)?\s*[.。]?$",
    re.IGNORECASE)
"""A last row that says how many data rows came before it; \\d also takes full-width digits (２００)."""

SIDECAR_SUFFIX = ".count"
SIDECAR_BYTES = 100
"""A sidecar holds one number; anything longer is not one."""


def trailer_count(values: list[Any]) -> int | None:
    """The count a row declares, if it is a trailer row: its non-empty cells read as one phrase."""
    cells = [_cell(v) for v in values]
    cells = [c for c in cells if c]
    if not cells or len(cells) > 3:
        return None
    match = TRAILER.match(" ".join(cells))
    return None if match is None else int(re.sub(r"[,，]", "", match[1]))


def _cell(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():  # a workbook's number cell: 200.0
        return str(int(value))
    return "" if value is None else str(value).strip()


@dataclass
class CountedTable:
    """A table whose rows are counted as the loader reads them, with a trailer row held back from it."""

    source: RawTable
    sidecar: Path | None = None
    rows_read: int = 0
    read_to_end: bool = False
    trailer: tuple[int, int] | None = None
    """(line, count) of the trailer row, once the rows have been read to the end."""
    problems: list[RowError] = field(default_factory=list)

    @classmethod
    def of(cls, table: RawTable, export_source: str) -> CountedTable:
        folder = Path(export_source)
        sidecar = folder / f"{table.label}{SIDECAR_SUFFIX}" if folder.is_dir() else None
        return cls(table, sidecar if sidecar is not None and sidecar.is_file() else None)

    @property
    def table(self) -> RawTable:
        return replace(self.source, rows=self._rows())  # whatever else a RawTable carries, unchanged

    def _rows(self) -> Iterator[tuple[int, list[Any]]]:
        """Every row but a trailer: each is held until the next arrives, since only the last may be one."""
        held: tuple[int, list[Any]] | None = None
        for row in self.source.rows:
            if held is not None:
                self.rows_read += 1
                yield held
            held = row
        if held is not None:
            count = trailer_count(held[1])
            if count is None:
                self.rows_read += 1
                yield held
            else:
                self.trailer = (held[0], count)
        self.read_to_end = True

    def check(self, errors: Problems) -> None:
        """Add a row error for each declared count the rows do not match. Rows the loader never read (a
        header it refused) are not counted: that file has its errors already."""
        if not self.read_to_end:
            return
        label, found = self.source.label, self.rows_read
        if self.trailer is not None and self.trailer[1] != found:
            line, declared = self.trailer
            errors.append(RowError(label, line, None, _mismatch(label, "its last row", "末行", declared, found)))
        if self.sidecar is not None:
            text = self.sidecar.read_bytes()[:SIDECAR_BYTES + 1].decode("utf-8-sig", errors="replace").strip()
            declared_count = int(text.replace(",", "")) if re.fullmatch(r"\d[\d,]*", text) else None
            name = self.sidecar.name
            if declared_count is None:
                errors.append(RowError(name, 1, None, f"'{text[:40]}' is not a row count (write the number of data "
                                                      f"rows of {label}, such as 200) / 不是行数（请写 {label} "
                                                      "的数据行数，例如 200）"))
            elif declared_count != found:
                errors.append(RowError(name, 1, None, _mismatch(label, name, name, declared_count, found)))


def _mismatch(label: str, where_en: str, where_zh: str, declared: int, found: int) -> str:
    return (f"{where_en} says {label} has {declared:,} data rows, but it has {found:,}: the export was cut short "
            f"or rows were lost (or added); send the whole export again / {where_zh}声明 {label} 有 {declared:,} "
            f"行数据，实际为 {found:,} 行：导出不完整或行数有误，请重新导出完整文件")
