"""Parsing one row of an export field by field, collecting every problem with its file, line and column.

A parser never stops at the first bad value: the person fixing the export wants the whole list at once.
Values come as text from CSV and as typed cells from a workbook, and both are accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

LARGEST = Decimal(10) ** 14
"""Quantities and money are stored with 18 digits, 4 of them after the point."""


@dataclass(frozen=True, slots=True)
class RowError:
    """One problem with one value, printed as `lots.csv:17: expires_on: '2026-13-01' is not a date`."""

    file: str
    line: int
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:"
        return f"{where} {self.column}: {self.message}" if self.column else f"{where} {self.message}"


REPORTED = 1_000
"""Problems kept and reported for one export; the rest are counted. A 1 MB CSV of bad rows made 2,000,000
problems, a 173 MB answer (and as many objects in memory); the person fixing the export needs the first
ones and the total."""


class Problems:
    """The problems of one load: every one counted, the first REPORTED kept in the order found."""

    __slots__ = ("count", "kept")

    def __init__(self) -> None:
        self.kept: list[RowError] = []
        self.count = 0

    def append(self, error: RowError) -> None:
        self.count += 1
        if len(self.kept) < REPORTED:
            self.kept.append(error)

    def __len__(self) -> int:
        return self.count


class Row:
    """The values of one line, addressable by column name, with typed accessors that record errors.

    An accessor returns None for a bad value after recording the error, so the caller reads every
    column and then asks `ok` whether the row may be stored.
    """

    __slots__ = ("_values", "_index", "errors", "file", "line", "_errors_before")

    def __init__(self, values: list[Any], index: dict[str, int], errors: Problems, file: str, line: int):
        self._values = values
        self._index = index
        self.errors = errors
        self.file = file
        self.line = line
        self._errors_before = len(errors)

    @property
    def ok(self) -> bool:
        return len(self.errors) == self._errors_before

    def error(self, column: str | None, message: str) -> None:
        self.errors.append(RowError(self.file, self.line, column, message))

    def raw(self, column: str) -> Any:
        position = self._index.get(column)
        if position is None or position >= len(self._values):
            return None
        value = self._values[position]
        if isinstance(value, str):
            value = value.strip()
            return value or None
        return value

    def text(self, column: str, *, required: bool = False, max_length: int = 200) -> str:
        value = self.raw(column)
        if value is None:
            if required:
                self.error(column, "is required")
            return ""
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # a workbook turns the lot number 1001 into 1001.0
        text = str(value)
        if len(text) > max_length:
            self.error(column, f"'{text[:40]}...' is longer than {max_length} characters")
            return ""
        return text

    def decimal(self, column: str, *, required: bool = False, minimum: Decimal | None = Decimal(0),
                positive: bool = False) -> Decimal | None:
        value = self.raw(column)
        if value is None:
            if required:
                self.error(column, "is required")
            return None
        try:
            number = Decimal(str(value).replace(",", "")) if not isinstance(value, Decimal) else value
        except InvalidOperation:
            self.error(column, f"'{value}' is not a number")
            return None
        if not number.is_finite():
            self.error(column, f"'{value}' is not a number")
            return None
        if abs(number) >= LARGEST:
            self.error(column, f"{value} is too large (at most {LARGEST - 1:,})")
            return None
        if positive and number <= 0:
            self.error(column, f"{value} must be greater than 0")
            return None
        if minimum is not None and number < minimum:
            self.error(column, f"{value} is negative" if minimum == 0 else f"{value} is below {minimum}")
            return None
        return number

    def integer(self, column: str, *, minimum: int = 0) -> int | None:
        number = self.decimal(column, minimum=Decimal(minimum))
        if number is None:
            return None
        if number != number.to_integral_value():
            self.error(column, f"'{number}' is not a whole number")
            return None
        return int(number)

    def date(self, column: str, *, required: bool = False) -> date | None:
        value = self.raw(column)
        if value is None:
            if required:
                self.error(column, "is required")
            return None
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value).replace("/", "-"))
        except ValueError:
            self.error(column, f"'{value}' is not a date (expected YYYY-MM-DD)")
            return None

    def choice(self, column: str, allowed: type[StrEnum], *, default: str | None = None,
               required: bool = False) -> str | None:
        """A value from a fixed list, matched without regard to case; empty gives `default`."""
        value = self.raw(column)
        if value is None:
            if required:
                self.error(column, f"is required (one of {', '.join(allowed)})")
            return default
        text = str(value).strip()
        for member in allowed:
            if text.lower() == member.value.lower():
                return member.value
        self.error(column, f"'{text}' is not one of {', '.join(allowed)}")
        return None
