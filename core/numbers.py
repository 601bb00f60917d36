"""Quantities as people and hashes read them."""

from __future__ import annotations

from decimal import Decimal


def plain(number: Decimal | int | str) -> str:
    """A decimal as plain digits with no exponent and no trailing zeros: 10, not 1E+1 or 10.0000. Messages
    show quantities this way, and an instruction's content hash reads them so."""
    return format(Decimal(number).normalize(), "f")
