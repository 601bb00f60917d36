"""Parsing one row of an export field by field, collecting every problem with its file, line and column.

A parser never stops at the first bad value: the person fixing the export wants the whole list at once.
Values come as text from CSV and as typed cells from a workbook, and both are accepted.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
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


@dataclass(frozen=True, slots=True)
class NumberFormat:
    """How an export writes numbers: its decimal mark and the thousands separator it may use (None: none).

    The rule, for every number written as text (a workbook's number cells are numbers already):
    full-width digits, signs and marks (１２３．５, －１, ，) are made plain first (NFKC), then the value
    must be written exactly in this format. A separator the format does not have is never guessed at:
    under the default, `1,5` was stored as 15 (the comma was dropped as if it grouped thousands) and
    `1,234` could be 1234 or 1.234, so both are refused with how to write them (`write 1.5`). A
    thousands separator is accepted only where the format names one, and then only in groups of three
    (`1,234,567.5`, never `1,5`). An export from a decimal-comma locale says so:
    `NumberFormat(decimal=",", thousands=".")` reads `1.234,5` as 1234.5.
    """

    decimal: str = "."
    thousands: str | None = None
    _written: re.Pattern[str] = field(init=False, repr=False, compare=False)
    _plain: bool = field(init=False, repr=False, compare=False)

    DECIMALS = (".", ",")
    THOUSANDS = (",", ".", " ", "'")

    def __post_init__(self) -> None:
        if self.decimal not in self.DECIMALS:
            raise ValueError(f"decimal mark {self.decimal!r} is not one of {', '.join(map(repr, self.DECIMALS))}")
        if self.thousands is not None and (self.thousands not in self.THOUSANDS or self.thousands == self.decimal):
            raise ValueError(f"thousands separator {self.thousands!r} is not one of "
                             f"{', '.join(repr(t) for t in self.THOUSANDS if t != self.decimal)} or none")
        object.__setattr__(self, "_written", _pattern(self.decimal, self.thousands))
        object.__setattr__(self, "_plain", self.decimal == "." and self.thousands is None)

    def parse(self, text: str) -> Decimal | str:
        """The number `text` writes, or why it is refused (a message in en and zh-CN) when it does not fit."""
        written = text
        if not text.isascii():
            text = unicodedata.normalize("NFKC", text).replace("\u2212", "-").strip()
        elif self._plain and not _NOT_PLAIN.intersection(text):  # most values of most loads, a million a load
            try:
                return Decimal(text)  # Infinity and NaN come back too: Row.decimal refuses what is not finite
            except InvalidOperation:
                return self._refusal(written, text)
        found = self._written.fullmatch(text)
        if found is None:
            return self._refusal(written, text)
        sign, whole, fraction, exponent = found.group("sign", "whole", "fraction", "exponent")
        if self.thousands is not None and whole:
            whole = whole.replace(self.thousands, "")
        return Decimal(f"{sign}{whole or '0'}{'.' + fraction if fraction else ''}{exponent or ''}")

    def _refusal(self, written: str, text: str) -> str:
        body = text.lstrip("+-")
        sign = text[: len(text) - len(body)]
        marks = [c for c in body if c in _MARKS]
        plain = "".join(c for c in body if c not in _MARKS)
        if not plain.isdigit() or not marks:
            return f"'{written}' is not a number"
        last = marks[-1]
        after_last = len(body) - body.rindex(last) - 1
        if len(set(marks)) > 1 or (marks.count(last) == 1 and after_last != 3 and last in ",."):
            whole, _, fraction = body.rpartition(last)  # the last mark is the decimal one, the others group
            whole = "".join(c for c in whole if c not in _MARKS) or "0"
            readings = [f"{sign}{whole}{self.decimal}{fraction}" if fraction else f"{sign}{whole}"]
        elif marks.count(last) == 1 and last in ",.":  # 1,234: a thousand and more, or one and a bit
            whole, _, fraction = body.partition(last)
            readings = [f"{sign}{plain}", f"{sign}{whole}{self.decimal}{fraction}"]
        else:  # 1,234,567 or 1 234: only ever groups
            readings = [f"{sign}{plain}"]
        return (f"'{written}' does not fit this file's number format ({self.described('en')}): write "
                f"{' or '.join(readings)} / 不符合本文件的数字格式（{self.described('zh-CN')}）：请写作 {'或'.join(readings)}")

    def described(self, language: str) -> str:
        """The format in words, for refusals and for `profile check`."""
        if language == "zh-CN":
            grouping = f"千位分隔符为“{self.thousands}”" if self.thousands else "不用千位分隔符"
            return f"小数点为“{self.decimal}”，{grouping}"
        grouping = f"thousands separator '{self.thousands}'" if self.thousands else "no thousands separator"
        return f"decimal mark '{self.decimal}', {grouping}"


_MARKS = frozenset(",. '")
_NOT_PLAIN = frozenset(",_ '")
"""Marks Decimal() would read (or drop) that a number of the plain format never has."""


def _pattern(decimal: str, thousands: str | None) -> re.Pattern[str]:
    """The one way a format writes a number: a sign, digits (grouped in threes if it groups at all),
    a fraction after the decimal mark, an exponent; at least one digit before or after the mark."""
    mark = re.escape(decimal)
    whole = r"\d+" if thousands is None else rf"\d{{1,3}}(?:{re.escape(thousands)}\d{{3}})+|\d+"
    return re.compile(rf"(?P<sign>[+-]?)(?={mark}?\d)(?P<whole>{whole})?(?:{mark}(?P<fraction>\d+))?"
                      r"(?P<exponent>[eE][+-]?\d+)?")


DEFAULT_NUMBER_FORMAT = NumberFormat()


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

    __slots__ = ("_values", "_index", "errors", "file", "line", "_errors_before", "number_format")

    def __init__(self, values: list[Any], index: dict[str, int], errors: Problems, file: str, line: int,
                 number_format: NumberFormat = DEFAULT_NUMBER_FORMAT):
        self.number_format = number_format
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
        if isinstance(value, bool):
            self.error(column, f"'{value}' is not a number")
            return None
        if isinstance(value, Decimal):
            number = value
        elif isinstance(value, (int, float)):  # a workbook's number cell: a number already, in no format
            number = Decimal(str(value))
        else:
            parsed = self.number_format.parse(str(value))
            if isinstance(parsed, str):
                self.error(column, parsed)
                return None
            number = parsed
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
