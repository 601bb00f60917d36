"""Values as exports write them: a decimal comma, thousands separators and full-width digits read as the
file's number format says or refused with how to write them; whole, single units for serial numbers."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from inventory.fields import DEFAULT_NUMBER_FORMAT, NumberFormat
from inventory.ingest import IngestFailed, ingest
from inventory.metrics import latest_snapshot
from inventory.models import LotPosition, Material, Movement
from inventory.movements import apply_movements
from tests.support.data import AS_OF, LOT_HEADER, MATERIALS, write_export

DEFAULT_REFUSAL = ("does not fit this file's number format (decimal mark '.', no thousands separator): write {en} / "
                   "不符合本文件的数字格式（小数点为“.”，不用千位分隔符）：请写作 {zh}")


def quantities(engine: Engine) -> dict[str, Decimal]:
    with Session(engine) as session:
        return {p.lot: p.qty for p in session.execute(select(LotPosition)).scalars()}


def refusals(engine: Engine, folder: Path, number_format: NumberFormat = DEFAULT_NUMBER_FORMAT) -> list[str]:
    with pytest.raises(IngestFailed) as failure:
        ingest(engine, folder, as_of=AS_OF, number_format=number_format)
    return [str(e) for e in failure.value.errors]


def test_a_decimal_comma_is_refused_with_how_to_write_it_not_read_as_fifteen(engine: Engine, tmp_path: Path) -> None:
    """`"1,5"` was stored as 15: the comma was dropped as if it grouped thousands."""
    folder = write_export(tmp_path / "x", lots=LOT_HEADER + (
        'CAT-1,SH01,A,,"1,5",,2026-01-01,,,,,\n'
        'CAT-1,SH01,B,,"1.234,5",,2026-01-01,,,,,\n'
        'CAT-1,SH01,C,,"1,234",,2026-01-01,,,,,\n'
        'CAT-1,SH01,D,,"1,234.5",,2026-01-01,,,,,\n'
        "CAT-1,SH01,E,,1.5,,2026-01-01,,,,,\n"))
    assert refusals(engine, folder) == [
        f"lots.csv:2: qty: '1,5' {DEFAULT_REFUSAL.format(en='1.5', zh='1.5')}",
        f"lots.csv:3: qty: '1.234,5' {DEFAULT_REFUSAL.format(en='1234.5', zh='1234.5')}",
        f"lots.csv:4: qty: '1,234' {DEFAULT_REFUSAL.format(en='1234 or 1.234', zh='1234或1.234')}",
        f"lots.csv:5: qty: '1,234.5' {DEFAULT_REFUSAL.format(en='1234.5', zh='1234.5')}",
    ]
    assert quantities(engine) == {}


def test_full_width_digits_and_signs_are_read_as_plain_ones(engine: Engine, tmp_path: Path) -> None:
    """Chinese input methods write １２３．５ and －２; they mean 123.5 and -2 (NFKC)."""
    folder = write_export(tmp_path / "x", lots=LOT_HEADER + "CAT-1,SH01,A,,１２３．５,,2026-01-01,,,,,\n",
                          movements="sku,site,lot,type,qty,moved_on\nCAT-1,SH01,A,adjustment,－２,2026-11-01\n")
    ingest(engine, folder, as_of=AS_OF)
    assert quantities(engine) == {"A": Decimal("123.5")}
    with Session(engine) as session:
        assert session.execute(select(col(LotPosition.qty))).scalar_one() == Decimal("123.5")
        assert session.execute(select(col(Movement.qty))).scalar_one() == -2


def test_thousands_separators_are_read_only_where_the_format_has_them(engine: Engine, tmp_path: Path) -> None:
    materials = MATERIALS.replace("12000.50", '"12,000.50"')
    folder = write_export(tmp_path / "x", materials=materials, lots=LOT_HEADER + (
        'CAT-1,SH01,A,,"1,234",,2026-01-01,,,,,\nCAT-1,SH01,B,,"1,5",,2026-01-01,,,,,\n'))
    assert refusals(engine, folder) == [
        f"materials.csv:2: unit_cost: '12,000.50' {DEFAULT_REFUSAL.format(en='12000.50', zh='12000.50')}",
        f"lots.csv:2: qty: '1,234' {DEFAULT_REFUSAL.format(en='1234 or 1.234', zh='1234或1.234')}",
        f"lots.csv:3: qty: '1,5' {DEFAULT_REFUSAL.format(en='1.5', zh='1.5')}",
    ]
    grouped = NumberFormat(thousands=",")
    assert refusals(engine, folder, number_format=grouped) == [  # 1,5 is no group of three
        "lots.csv:3: qty: '1,5' does not fit this file's number format (decimal mark '.', thousands separator ','): "
        "write 1.5 / 不符合本文件的数字格式（小数点为“.”，千位分隔符为“,”）：请写作 1.5"]
    write_export(folder, materials=materials, lots=LOT_HEADER + 'CAT-1,SH01,A,,"1,234",,2026-01-01,,,,,\n')
    ingest(engine, folder, as_of=AS_OF, number_format=grouped)
    assert quantities(engine) == {"A": 1234}
    with Session(engine) as session:
        assert session.execute(select(col(Material.unit_cost)).where(col(Material.sku) == "HIP-1")).scalar_one() == (
            Decimal("12000.50"))


def test_a_decimal_comma_file_is_read_as_its_format_says(engine: Engine, tmp_path: Path) -> None:
    comma = NumberFormat(decimal=",", thousands=".")
    folder = write_export(tmp_path / "x", materials=MATERIALS.replace("12000.50", '"12.000,50"'), lots=LOT_HEADER + (
        'CAT-1,SH01,A,,"1,5",,2026-01-01,,,,,\nCAT-1,SH01,B,,"1.234,5",,2026-01-01,,,,,\n'
        "CAT-1,SH01,C,,2.5,,2026-01-01,,,,,\n"))
    assert refusals(engine, folder, number_format=comma) == [
        "lots.csv:4: qty: '2.5' does not fit this file's number format (decimal mark ',', thousands separator '.'): "
        "write 2,5 / 不符合本文件的数字格式（小数点为“,”，千位分隔符为“.”）：请写作 2,5"]
    write_export(folder, materials=MATERIALS.replace("12000.50", '"12.000,50"'), lots=LOT_HEADER + (
        'CAT-1,SH01,A,,"1,5",,2026-01-01,,,,,\nCAT-1,SH01,B,,"1.234,5",,2026-01-01,,,,,\n'))
    ingest(engine, folder, as_of=AS_OF, number_format=comma)
    assert quantities(engine) == {"A": Decimal("1.5"), "B": Decimal("1234.5")}


def test_a_workbooks_number_cells_are_numbers_in_any_format(engine: Engine, tmp_path: Path) -> None:
    """A cell Excel keeps as a number has no format to read: 1.5 stays 1.5 in a decimal-comma export."""
    book = openpyxl.Workbook()
    materials = book.active
    assert materials is not None
    materials.title = "materials"
    for n, line in enumerate(MATERIALS.splitlines()):
        materials.append([float(v) if n and v.replace(".", "").isdigit() else v for v in line.split(",")])
    lots = book.create_sheet("lots")
    lots.append(LOT_HEADER.strip().split(","))
    lots.append(["CAT-1", "SH01", "A", None, 1.5, None, "2026-01-02"])
    lots.append(["CAT-1", "SH01", "B", None, "2,5", None, "2026-01-02"])
    book.save(tmp_path / "export.xlsx")
    ingest(engine, tmp_path / "export.xlsx", as_of=AS_OF, number_format=NumberFormat(decimal=","))
    assert quantities(engine) == {"A": Decimal("1.5"), "B": Decimal("2.5")}


def test_a_number_format_names_only_marks_that_can_be_told_apart() -> None:
    with pytest.raises(ValueError, match="thousands separator ','"):
        NumberFormat(decimal=",", thousands=",")
    with pytest.raises(ValueError, match="decimal mark ';'"):
        NumberFormat(decimal=";")
    assert NumberFormat(thousands=" ").parse("1 234 567.25") == Decimal("1234567.25")
    assert NumberFormat().parse("x1") == "'x1' is not a number"
    assert NumberFormat().parse("＋１") == 1 and NumberFormat().parse("\u22123") == -3


def test_a_serial_numbered_unit_is_one_whole_unit(engine: Engine, tmp_path: Path) -> None:
    """0.5 of an implant halved its value and with it the committee signature its full value needed."""
    folder = write_export(tmp_path / "x", lots=LOT_HEADER + (
        "HIP-1,SH01,L1,S1,0.5,,2025-01-05,,,,,\n"
        "HIP-1,SH01,L1,S2,2,,2025-01-05,,,,,\n"
        "HIP-1,SH01,,,1,,2025-01-05,,,,,(01)09506000134352(10)L7(21)S3\n"
        "HIP-1,SH01,,,0.25,,2025-01-05,,,,,(01)09506000134352(10)L7(21)S4\n"
        "CAT-1,SH01,A,,0.5,,2025-01-05,,,,,\n"
        "HIP-1,SH01,L1,S5,0,,2025-01-05,,,,,\n"),
        movements="sku,site,lot,serial,type,qty,moved_on\nHIP-1,SH01,L1,S6,issue,0.5,2026-01-02\n"
                  "HIP-1,SH01,L1,S7,adjustment,-1,2026-01-02\n")
    assert refusals(engine, folder) == [
        "lots.csv:2: qty: 0.5 of serial S1: a serial number names one whole unit, write 1 / "
        "序列号 S1 的数量 0.5 不是整数：一个序列号对应一件完整的产品，请写 1",
        "lots.csv:3: qty: 2 of serial S2: a serial number names one unit, write at most 1 / "
        "序列号 S2 的数量为 2：一个序列号只对应一件产品，最多写 1",
        "lots.csv:5: qty: 0.25 of serial S4: a serial number names one whole unit, write 1 / "  # the UDI's serial
        "序列号 S4 的数量 0.25 不是整数：一个序列号对应一件完整的产品，请写 1",
        "movements.csv:2: qty: 0.5 of serial S6: a serial number names one whole unit, write 1 / "
        "序列号 S6 的数量 0.5 不是整数：一个序列号对应一件完整的产品，请写 1",
    ]
    assert quantities(engine) == {}


def test_movements_never_make_a_serial_more_or_less_than_one_whole_unit(engine: Engine, tmp_path: Path) -> None:
    ingest(engine, write_export(tmp_path / "x", lots=LOT_HEADER + "HIP-1,SH01,L1,S1,1,,2025-01-05,,,,,\n"),
           as_of=AS_OF)
    header = "sku,site,lot,serial,type,qty,moved_on,reference\n"
    cases = {
        "half.csv": (header + "HIP-1,SH01,L1,S1,issue,0.5,2026-11-02,SO-1\n",
                     "half.csv:2: qty: 0.5 of serial S1: a serial number names one whole unit, write 1 / "
                     "序列号 S1 的数量 0.5 不是整数：一个序列号对应一件完整的产品，请写 1"),
        "again.csv": (header + "HIP-1,SH01,L1,S1,receipt,1,2026-11-02,GRN-1\n",
                      "again.csv:2: qty: would bring lot L1, serial S1 at SH01 to 2: a serial number names one "
                      "unit / 将使序列号 S1 的数量变为 2：一个序列号只对应一件产品"),
        "twice.csv": (header + "HIP-1,SH01,L2,S2,receipt,1,2026-11-02,GRN-2\nHIP-1,SH01,L2,S2,receipt,1,"
                               "2026-11-03,GRN-3\n",
                      "twice.csv:3: qty: would bring lot L2, serial S2 at SH01 to 2: a serial number names one "
                      "unit / 将使序列号 S2 的数量变为 2：一个序列号只对应一件产品"),
    }
    for name, (text, expected) in cases.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        with pytest.raises(IngestFailed) as failure, engine.begin() as connection:  # rolled back
            snapshot = latest_snapshot(connection)
            assert snapshot is not None
            apply_movements(connection, snapshot, tmp_path / name, actor="erp")
        assert [str(e) for e in failure.value.errors] == [expected]
    assert quantities(engine) == {"L1": 1}
