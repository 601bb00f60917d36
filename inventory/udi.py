"""Reading the GS1 production identifiers out of a UDI, so a scanned label can fill or check a lot row.

The parsing itself is biip's; this module only maps the application identifiers Stockwarden cares about
(01 GTIN, 10 lot, 11 production date, 17 expiry, 21 serial) and turns biip's errors into plain words.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from biip import ParseError
from biip.gs1_messages import GS1Message

# AIM symbology identifiers a scanner may prefix: GS1-128, GS1 DataMatrix, GS1 QR, GS1 DataBar.
_SYMBOLOGY_PREFIXES = ("]C1", "]d2", "]Q3", "]e0")


class UdiError(ValueError):
    """The text is not a GS1 element string, or one of its values is invalid."""


@dataclass(frozen=True, slots=True)
class Udi:
    gtin: str | None
    lot: str | None
    serial: str | None
    manufactured_on: date | None
    expires_on: date | None


def parse_udi(text: str) -> Udi:
    """Parse human-readable `(01)...(17)...` or raw strings with FNC1 written as the GS character."""
    text = text.strip()
    try:
        if text.startswith("("):
            message = GS1Message.parse_hri(text)
        else:
            for prefix in _SYMBOLOGY_PREFIXES:
                text = text.removeprefix(prefix)
            message = GS1Message.parse(text)
    except ParseError as exc:
        raise UdiError(str(exc)) from exc
    values: dict[str, str] = {}
    dates: dict[str, date | None] = {}
    for element in message.element_strings:
        if element.ai.ai == "01" and element.gtin_error:
            raise UdiError(element.gtin_error)
        values[element.ai.ai] = element.value
        dates[element.ai.ai] = element.date
    if not values:
        raise UdiError("no GS1 application identifiers found")
    return Udi(
        gtin=values.get("01"),
        lot=values.get("10"),
        serial=values.get("21"),
        manufactured_on=dates.get("11"),
        expires_on=dates.get("17"),
    )
