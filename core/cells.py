"""Text that leaves Stockwarden for a spreadsheet is never run as a formula: the one rule for workbook
cells (the governance pack) and CSV fields (the ERP outbox).

SKUs, names, suppliers, lots, sites and reasons come from ERP exports and from people. A SKU
`=cmd|' /C calc'!A0` and a rejection reason `=HYPERLINK(...)` became formulas in 15 cells of the pack,
and the outbox CSV wrote fields beginning with = + - @ as they were, which Excel runs when it opens them.

- Workbook: every str is written as a string cell (openpyxl makes a str that starts with "=" a formula);
  `string_cell` is the one place that does it.
- CSV (OWASP, CSV injection): a text field that begins with = + - @, a tab or a carriage return gets a
  single quote in front, so a spreadsheet shows it as text. Numbers (int, Decimal, float) are written as
  plain decimals and stay numbers: a negative quantity is a number, not a formula, and the ERP reads the
  column as numbers. Only the value's type decides, never its look: a SKU "-5" is text and is quoted.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TextIO

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def text_field(text: str) -> str:
    """`text` as a CSV field a spreadsheet will not evaluate."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_field(value: Any) -> str:
    """One CSV field: None empty, numbers plain (10, not 1E+1), dates ISO, any other value as neutral text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return text_field(str(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal | float):
        return format(Decimal(str(value)).normalize(), "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    return text_field(str(value))


def string_cell(cell: Any) -> Any:
    """An openpyxl cell whose str value stays text: openpyxl typed a str beginning with "=" as a formula."""
    if isinstance(cell.value, str):
        cell.data_type = "s"
    return cell


class CsvWriter:
    """csv.writer whose every field goes through csv_field: the only way Stockwarden writes a CSV for people."""

    def __init__(self, out: TextIO, **options: Any):
        self._writer = csv.writer(out, **options)

    def writerow(self, values: Iterable[Any]) -> None:
        self._writer.writerow([csv_field(v) for v in values])
