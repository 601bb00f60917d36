"""Ingest on both databases: encodings, workbooks, units, UDIs, every bad-input error, atomicity, idempotency."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import Session, col

from inventory.ingest import IngestFailed, ingest
from inventory.models import (
    DemandRecord,
    LotPosition,
    Material,
    Movement,
    PurchaseOrderLine,
    Site,
    Snapshot,
    UomConversion,
)
from inventory.sources import SourceError
from tests.support.data import AS_OF, LOT_HEADER, MATERIALS, write_export

GOOD_LOTS = LOT_HEADER + """\
HIP-1,SH01,L1,S1,1,,2024-11-25,2024-10-01,2029-10-01,,released,
CAT-1,BJ02,A,,30,,2026-01-01,2025-12-01,2027-01-04,,quarantine,
"""
TABLES = (Snapshot, Material, UomConversion, LotPosition, Movement, DemandRecord, PurchaseOrderLine, Site)


def counts(engine: Engine) -> dict[str, int]:
    with Session(engine) as session:
        return {model.__name__: session.execute(select(func.count()).select_from(model)).one()[0]
                for model in TABLES}


def lots(engine: Engine) -> dict[tuple[str, str, str, str], LotPosition]:
    with Session(engine) as session:
        return {(p.sku, p.site, p.lot, p.serial): p for p in session.execute(select(LotPosition)).scalars()}


def errors_of(engine: Engine, folder: Path) -> list[str]:
    with pytest.raises(IngestFailed) as failure:
        ingest(engine, folder, as_of=AS_OF)
    return [str(e) for e in failure.value.errors]


def test_a_good_export_is_stored_with_its_snapshot(engine: Engine, tmp_path: Path) -> None:
    folder = write_export(
        tmp_path / "x", lots=GOOD_LOTS,
        movements="sku,site,lot,serial,type,qty,uom,moved_on,reference\nCAT-1,BJ02,A,,issue,5,,2026-11-01,SO-1\n",
        demand="sku,site,period,qty,kind\nCAT-1,BJ02,2026-10,12,actual\nCAT-1,BJ02,2026-10,15,forecast\n",
        purchase_orders="po,line,sku,site,qty_open\nP1,10,CAT-1,GZ03,4\n",
    )
    result = ingest(engine, folder, as_of=AS_OF, loaded_by="li.na")
    assert not result.already_loaded
    assert result.row_counts == {"materials": 3, "lots": 2, "movements": 1, "demand": 2, "purchase_orders": 1}
    with Session(engine) as session:
        snapshot = session.get(Snapshot, result.snapshot_id)
        assert snapshot is not None
        assert (snapshot.as_of, snapshot.loaded_by, len(snapshot.checksum)) == (AS_OF, "li.na", 64)
        assert snapshot.row_counts == result.row_counts
        hip = session.get(Material, (result.snapshot_id, "HIP-1"))
        assert hip is not None
        assert (hip.unit_cost, hip.lifecycle, hip.substitutes, hip.return_window_days) == (
            Decimal("12000.50"), "phase_out", ["HIP-2"], 90)
        assert hip.name == "髋臼杯 Acetabular cup 52"
        assert sorted(session.execute(select(col(Site.code))).scalars()) == ["BJ02", "GZ03", "SH01"]
    position = lots(engine)["CAT-1", "BJ02", "A", ""]
    assert (position.qty, position.qc_status, position.expires_on) == (30, "quarantine", date(2027, 1, 4))


def test_gb18030_and_bom_files_are_read(engine: Engine, tmp_path: Path) -> None:
    folder = write_export(tmp_path / "x")
    (folder / "materials.csv").write_bytes(MATERIALS.encode("gb18030"))
    (folder / "lots.csv").write_bytes(("\ufeff" + GOOD_LOTS.replace("L1", "批次一")).encode("utf-8"))
    ingest(engine, folder, as_of=AS_OF)
    assert ("HIP-1", "SH01", "批次一", "S1") in lots(engine)
    with Session(engine) as session:
        names = set(session.execute(select(col(Material.name))).scalars())
    assert "髋臼杯 Acetabular cup 52" in names


def test_a_workbook_with_the_same_sheets_loads(engine: Engine, tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    materials = book.active
    assert materials is not None
    materials.title = "materials"
    for line in MATERIALS.splitlines():
        materials.append(line.split(","))
    sheet = book.create_sheet("lots")
    sheet.append(LOT_HEADER.strip().split(","))
    # Typed cells as Excel keeps them: numbers, dates, a lot number that became a float.
    sheet.append(["CAT-1", "SH01", 1001.0, None, 3, "box10", datetime(2026, 1, 2), date(2025, 12, 1),
                  datetime(2027, 1, 4), None, "Released", None])
    conversions = book.create_sheet("uom_conversions")
    conversions.append(["sku", "uom", "factor"])
    conversions.append(["CAT-1", "box10", 10])
    path = tmp_path / "export.xlsx"
    book.save(path)
    result = ingest(engine, path, as_of=AS_OF)
    assert result.row_counts["lots"] == 1
    position = lots(engine)["CAT-1", "SH01", "1001", ""]
    assert (position.qty, position.received_on, position.qc_status) == (30, date(2026, 1, 2), "released")


def test_workbook_errors_name_the_sheet(engine: Engine, tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "materials"
    sheet.append(["sku", "category", "base_uom", "unit_cost"])
    sheet.append(["X-1", "implant", "ea", "cheap"])
    book.create_sheet("lots").append(LOT_HEADER.strip().split(","))
    book.save(tmp_path / "export.xlsx")
    assert errors_of(engine, tmp_path / "export.xlsx") == ["export.xlsx[materials]:2: unit_cost: 'cheap' is not a number"]


def test_units_convert_to_the_base_unit(engine: Engine, tmp_path: Path) -> None:
    folder = write_export(
        tmp_path / "x",
        uom_conversions="sku,uom,factor\nCAT-1,box10,10\nCAT-1,case,120\n",
        lots=LOT_HEADER + "CAT-1,SH01,A,,2,box10,2026-01-01,,,,,\nCAT-1,SH01,B,,1,case,2026-01-01,,,,,\n"
                          "CAT-1,SH01,C,,7,ea,2026-01-01,,,,,\n",
        movements="sku,site,lot,type,qty,uom,moved_on\nCAT-1,SH01,A,issue,1.5,box10,2026-02-01\n",
        purchase_orders="po,line,sku,site,qty_open,uom,received_qty\nP1,1,CAT-1,SH01,3,case,1\n",
    )
    ingest(engine, folder, as_of=AS_OF)
    found = lots(engine)
    assert [found["CAT-1", "SH01", lot, ""].qty for lot in "ABC"] == [20, 120, 7]
    with Session(engine) as session:
        assert session.execute(select(col(Movement.qty))).scalars().one() == 15
        order = session.execute(select(PurchaseOrderLine)).scalars().one()
        assert (order.qty_open, order.received_qty) == (360, 120)


def test_udi_fills_empty_fields_from_human_readable_and_raw_strings(engine: Engine, tmp_path: Path) -> None:
    folder = write_export(tmp_path / "x", lots=LOT_HEADER + (
        "HIP-1,SH01,,,1,,2025-01-05,,,,,(01)09506000134352(11)241001(17)291001(10)L7(21)SN1\n"
        "HIP-1,SH01,L7,,1,,2025-01-05,,2029-10-01,,,]d201095060001343521729100110L7\x1d21SN2\n"
    ))
    ingest(engine, folder, as_of=AS_OF)
    found = lots(engine)
    first = found["HIP-1", "SH01", "L7", "SN1"]
    assert (first.manufactured_on, first.expires_on) == (date(2024, 10, 1), date(2029, 10, 1))
    assert first.udi.startswith("(01)09506000134352")
    second = found["HIP-1", "SH01", "L7", "SN2"]
    assert second.expires_on == date(2029, 10, 1)


def test_udi_that_contradicts_the_row_or_does_not_parse_is_an_error(engine: Engine, tmp_path: Path) -> None:
    folder = write_export(tmp_path / "x", lots=LOT_HEADER + (
        "HIP-1,SH01,L8,,1,,2025-01-05,,,,,(01)09506000134352(10)L7\n"
        "HIP-1,SH01,L7,S3,1,,2025-01-05,,2030-01-01,,,(01)09506000134352(17)291001(21)S3\n"
        "HIP-1,SH01,L7,S4,1,,2025-01-05,,,,,(01)09506000134353(21)S4\n"
        "HIP-1,SH01,L7,S5,1,,2025-01-05,,,,,not a udi\n"
    ))
    problems = errors_of(engine, folder)
    assert problems[0] == "lots.csv:2: lot: 'L8' contradicts the UDI, which says 'L7'"
    assert problems[1] == "lots.csv:3: expires_on: '2030-01-01' contradicts the UDI, which says '2029-10-01'"
    assert problems[2].startswith("lots.csv:4: udi: '(01)09506000134353(21)S4' is not a GS1 element string: "
                                  "Invalid GTIN check digit")
    assert problems[3].startswith("lots.csv:5: udi: 'not a udi' is not a GS1 element string")
    assert len(problems) == 4


def test_every_bad_row_is_reported_with_file_line_and_column(engine: Engine, tmp_path: Path) -> None:
    folder = write_export(
        tmp_path / "x",
        uom_conversions="sku,uom,factor\nCAT-1,box10,0\n",
        lots=LOT_HEADER + (
            "CAT-1,SH01,A,,5,,2026-01-01,,2026-13-01,,,\n"       # 2: not a date
            "NOPE,SH01,A,,5,,2026-01-01,,,,,\n"                  # 3: unknown SKU
            "CAT-1,SH01,B,,5,pallet,2026-01-01,,,,,\n"           # 4: unknown unit
            "CAT-1,SH01,C,,-2,,2026-01-01,,,,,\n"                # 5: negative quantity
            "CAT-1,SH01,D,,1,,2026-01-01,,,,,\n"                 # 6
            "CAT-1,SH01,D,,2,,2026-01-01,,,,,\n"                 # 7: duplicate of 6
            "CAT-1,SH01,E,,1,,2026-01-01,2026-05-01,2026-04-01,,,\n"  # 8: expiry before manufacture
            "CAT-1,SH01,F,,1,,,,,,frozen,\n"                    # 9: no receipt date, unknown QC status
            "CAT-1,SH01,G,,x1,,2026-12-01,,,,,\n"               # 10: not a number, received after as-of
        ),
        movements="sku,site,lot,type,qty,moved_on\nCAT-1,SH01,A,sold,1,2026-01-01\nCAT-1,SH01,A,issue,-1,2026-11-26\n",
        demand="sku,site,period,qty,kind\nCAT-1,SH01,2026-13,1,actual\n",
        purchase_orders="po,line,sku,site,qty_open\nP1,1,CAT-1,SH01,1\nP1,1,CAT-1,SH01,2\n",
    )
    assert errors_of(engine, folder) == [
        "uom_conversions.csv:2: factor: 0 must be greater than 0",
        "lots.csv:2: expires_on: '2026-13-01' is not a date (expected YYYY-MM-DD)",
        "lots.csv:3: sku: unknown SKU 'NOPE' (not in materials)",
        "lots.csv:4: uom: unknown unit 'pallet' for SKU CAT-1 (known: ea)",
        "lots.csv:5: qty: -2 is negative",
        "lots.csv:7: duplicate lot row: same sku, site, lot and serial as line 6",
        "lots.csv:8: expires_on: 2026-04-01 is before manufactured_on 2026-05-01",
        "lots.csv:9: received_on: is required",
        "lots.csv:9: qc_status: 'frozen' is not one of released, quarantine, hold, rejected",
        "lots.csv:10: qty: 'x1' is not a number",
        "lots.csv:10: received_on: 2026-12-01 is after the snapshot date 2026-11-25",
        "movements.csv:2: type: 'sold' is not one of receipt, issue, transfer_in, transfer_out, scrap, "
        "adjustment, return_to_supplier",
        "movements.csv:3: qty: -1 is negative",
        "movements.csv:3: moved_on: 2026-11-26 is after the snapshot date 2026-11-25",
        "demand.csv:2: period: '2026-13' is not a month (expected YYYY-MM)",
        "purchase_orders.csv:3: line: duplicate purchase-order line P1/1 (first on line 2)",
    ]
    assert counts(engine)["Snapshot"] == 0


def test_material_errors(engine: Engine, tmp_path: Path) -> None:
    folder = write_export(tmp_path / "x", lots=LOT_HEADER, materials=(
        "sku,category,base_uom,unit_cost,risk_class,substitutes,currency\n"
        "A-1,implant,ea,10,IV,B-9,CNY\n"
        "A-1,implant,ea,-1,,A-1,yuan\n"
        ",implant,,5,,,\n"
    ))
    assert errors_of(engine, folder) == [
        "materials.csv:2: risk_class: 'IV' is not one of I, II, III",
        "materials.csv:3: unit_cost: -1 is negative",
        "materials.csv:3: currency: 'YUAN' is not an ISO 4217 code such as CNY, USD or EUR",
        "materials.csv:3: sku: duplicate SKU 'A-1' (first on line 2)",
        "materials.csv:4: sku: is required",
        "materials.csv:4: base_uom: is required",
        "materials.csv:2: substitutes: unknown SKU 'B-9' (not in materials)",
        "materials.csv:3: substitutes: 'A-1' cannot substitute itself",
    ]


def test_header_problems_are_reported_at_line_one(engine: Engine, tmp_path: Path) -> None:
    folder = write_export(tmp_path / "x", lots="sku,site,qty,recieved_on,expires\nCAT-1,SH01,1,2026-01-01,\n")
    assert errors_of(engine, folder) == [
        "lots.csv:1: recieved_on: unknown column (did you mean 'received_on'?)",
        "lots.csv:1: expires: unknown column (did you mean 'expires_on'?)",
        "lots.csv:1: received_on: required column is missing",
    ]


def test_a_missing_required_file_is_refused(engine: Engine, tmp_path: Path) -> None:
    folder = write_export(tmp_path / "x")
    with pytest.raises(SourceError, match="required files missing: lots.csv"):
        ingest(engine, folder, as_of=AS_OF)


def test_a_bad_export_stores_nothing_and_leaves_the_previous_snapshot(engine: Engine, tmp_path: Path) -> None:
    good = ingest(engine, write_export(tmp_path / "good", lots=GOOD_LOTS), as_of=AS_OF)
    before = counts(engine)
    # 20,000 good rows go to the database in a first chunk before the bad last row is read.
    many = LOT_HEADER + "".join(f"CAT-1,SH01,L{i},,1,,2026-01-01,,,,,\n" for i in range(25_000))
    bad = write_export(tmp_path / "bad", lots=many + "CAT-1,SH01,LX,,1,,2026-01-01,,2026-02-30,,,\n",
                       movements="sku,site,type,qty,moved_on\nCAT-1,SH01,issue,1,2026-01-02\n")
    assert errors_of(engine, bad) == ["lots.csv:25002: expires_on: '2026-02-30' is not a date (expected YYYY-MM-DD)"]
    assert counts(engine) == before
    with Session(engine) as session:
        assert session.execute(select(col(Snapshot.id))).scalars().all() == [good.snapshot_id]


def test_loading_the_same_files_twice_stores_nothing_new(engine: Engine, tmp_path: Path) -> None:
    folder = write_export(tmp_path / "x", lots=GOOD_LOTS)
    first = ingest(engine, folder, as_of=AS_OF)
    before = counts(engine)
    again = ingest(engine, folder, as_of=date(2026, 11, 26))
    assert again.already_loaded and again.snapshot_id == first.snapshot_id and again.as_of == AS_OF
    assert counts(engine) == before
    (folder / "lots.csv").write_text(GOOD_LOTS.replace("30", "31"), encoding="utf-8")
    changed = ingest(engine, folder, as_of=AS_OF)
    assert not changed.already_loaded and changed.snapshot_id != first.snapshot_id


def test_a_quantity_too_large_once_converted_is_a_row_error(engine: Engine, tmp_path: Path) -> None:
    folder = write_export(tmp_path / "x", uom_conversions="sku,uom,factor\nCAT-1,pallet,100000\n",
                          lots=LOT_HEADER + "CAT-1,SH01,A,,9999999999,pallet,2026-01-01,,,,,\n")
    assert errors_of(engine, folder) == [
        "lots.csv:2: qty: 9999999999 pallet is 999,999,999,900,000.0000 ea, too large to store"]
