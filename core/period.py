"""The month a report covers (`YYYY-MM`), checked in one place for the CLI, the API, the pages and ingest."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date

PERIOD = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")
"""A month, `YYYY-MM`, in ASCII digits only: `\\d` and int() also take other scripts' digits (Arabic-Indic
`٢٠٢٦-١١` is 2026-11 to int()), which stored a second pack and second KPI rows for the same month."""


class PeriodInvalid(ValueError):
    """Not a month; the message names the text and the form expected."""


@dataclass(frozen=True, order=True)
class Period:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Period:
        if not is_period(text):
            raise PeriodInvalid(f"'{text}' is not a month (YYYY-MM)")
        year, month = (int(part) for part in text.split("-"))
        return cls(year, month)

    @classmethod
    def of(cls, day: date) -> Period:
        return cls(day.year, day.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def bounds(self) -> tuple[date, date]:
        """First and last day of the month."""
        return date(self.year, self.month, 1), date(self.year, self.month, calendar.monthrange(self.year, self.month)[1])

    def previous(self) -> Period:
        return Period(self.year - 1, 12) if self.month == 1 else Period(self.year, self.month - 1)


def is_period(text: str) -> bool:
    return PERIOD.fullmatch(text) is not None


def month_bounds(period: str) -> tuple[date, date]:
    """First and last day of `YYYY-MM` (PeriodInvalid if it is not one)."""
    return Period.parse(period).bounds()


def months_back(period: str, count: int) -> list[str]:
    """`count` periods ending with `period`, oldest first."""
    out = [Period.parse(period)]
    while len(out) < count:
        out.append(out[-1].previous())
    return [str(month) for month in reversed(out)]
