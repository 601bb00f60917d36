"""GS1 UDI parsing: human-readable and raw element strings, scanner prefixes, and plain errors."""

from __future__ import annotations

from datetime import date

import pytest

from inventory.udi import UdiError, parse_udi


def test_human_readable_udi() -> None:
    udi = parse_udi("(01)09506000134352(11)250101(17)271231(10)LOT-9(21)SN9")
    assert (udi.gtin, udi.lot, udi.serial) == ("09506000134352", "LOT-9", "SN9")
    assert (udi.manufactured_on, udi.expires_on) == (date(2025, 1, 1), date(2027, 12, 31))


def test_raw_udi_with_group_separator_and_scanner_prefix() -> None:
    udi = parse_udi("]d2010950600013435217271231" + "10ABC\x1d21X1")
    assert (udi.lot, udi.serial, udi.expires_on) == ("ABC", "X1", date(2027, 12, 31))


def test_expiry_day_00_means_the_last_day_of_the_month() -> None:
    assert parse_udi("(01)09506000134352(17)270200").expires_on == date(2027, 2, 28)


@pytest.mark.parametrize("text, fragment", [
    ("(01)09506000134353(10)A", "check digit"),
    ("(17)271399", "(17)"),
    ("hello", "hello"),
])
def test_bad_udis_raise_udi_error(text: str, fragment: str) -> None:
    with pytest.raises(UdiError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        parse_udi(text)
