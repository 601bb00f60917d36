"""Exports as ERPs write them: Excel date and number cells, .xls from older systems, title rows and merged
two-row headers (row numbers as the person sees them), text in UTF-8, GB18030 or UTF-16 (and a clear refusal,
naming the line, for a file in another encoding), a size limit on every field, and errors without server paths."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import tracemalloc
import zipfile
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import openpyxl
import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session

from api.app import create_app
from api.auth import create_token
from core.settings import Settings
from governance.visibility import Role
from inventory.ingest import IngestFailed, ingest
from inventory.models import LotPosition, Material
from inventory.sources import FIELD_MAX, XLS_BYTES, SourceError, read_export, read_table
from tests.support.data import AS_OF, LOT_HEADER, MATERIALS, write_export

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "sources"
GOOD_LOTS = LOT_HEADER + "HIP-1,SH01,L1,S1,1,,2024-11-25,2024-10-01,2029-10-01,,released,\n"
JAPANESE_MATERIALS = """\
sku,name,category,base_uom,unit_cost
HIP-1,寛骨臼カップ 52mm,implant,ea,12000
CAT-1,PTCAバルーンカテーテル,catheter,ea,800
"""
"""A Japanese ERP's master in Shift-JIS: GB18030 decodes every byte of it, into Chinese nobody wrote."""


def errors_of(engine: Engine, path: Path) -> list[str]:
    with pytest.raises(IngestFailed) as failure:
        ingest(engine, path, as_of=AS_OF)
    return [str(e) for e in failure.value.errors]


def positions(engine: Engine) -> dict[tuple[str, str, str, str], LotPosition]:
    with Session(engine) as session:
        return {(p.sku, p.site, p.lot, p.serial): p for p in session.execute(select(LotPosition)).scalars()}


def refusal(path: Path) -> str:
    with pytest.raises(SourceError) as refused:
        read_export(path)
    return str(refused.value)


def too_long(length: int) -> str:
    return f"is {length:,} characters long (at most {FIELD_MAX:,}) / 长度为 {length:,} 个字符（最多 {FIELD_MAX:,} 个）"


def _client(app: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")  # type: ignore[arg-type]


def _materials_sheet(book: openpyxl.Workbook) -> None:
    sheet = book.active
    assert sheet is not None
    sheet.title = "materials"
    for line in MATERIALS.splitlines():
        sheet.append(line.split(","))


# --- .xls from older systems ---------------------------------------------------------------------------

def test_an_xls_export_from_an_older_system_loads(engine: Engine) -> None:
    """tests/fixtures/sources/old_system.xls is BIFF8 written by LibreOffice (make_xls.py): title rows, a two-row
    header merged over lot/serial and the three dates, date cells in a Chinese date format, numbers as floats."""
    export = read_export(FIXTURES / "old_system.xls")
    lots = export.tables["lots"]
    assert lots.header == ["sku", "site", "lot", "serial", "qty", "received_on", "manufactured_on", "expires_on",
                           "qc_status"]
    assert lots.header_line == 4
    assert [line for line, _values in lots.rows] == [5, 6, 7]  # as the sheet numbers them
    assert export.tables["materials"].header_line == 4

    result = ingest(engine, FIXTURES / "old_system.xls", as_of=AS_OF)
    assert result.row_counts == {"materials": 3, "lots": 3}
    found = positions(engine)
    hip = found["HIP-1", "SH01", "L1", "S1"]
    assert (hip.qty, hip.received_on, hip.manufactured_on, hip.expires_on) == (
        1, date(2024, 11, 25), date(2024, 10, 1), date(2029, 10, 1))
    catheter = found["CAT-1", "BJ02", "2026001", ""]  # the lot number was a number cell
    assert (catheter.qty, catheter.received_on, catheter.qc_status) == (12, date(2026, 1, 2), "quarantine")
    assert found["1001", "SH01", "B7", ""].qty == Decimal("3.5")
    with Session(engine) as session:
        suture = session.get(Material, (result.snapshot_id, "1001"))  # a SKU typed as a number
        assert suture is not None and (suture.name, suture.unit_cost) == ("缝合线 Suture", Decimal("35.2"))


def test_an_xls_file_beyond_its_bound_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "export.xls"
    with path.open("wb") as handle:  # sparse: no disk used
        handle.truncate(XLS_BYTES + 1)
    assert refusal(path) == (f"export.xls: the workbook is {XLS_BYTES + 1:,} bytes (at most {XLS_BYTES:,}); refused "
                             "unread. Send the tables as CSV files / 工作簿大小为 "
                             f"{XLS_BYTES + 1:,} 字节（最多 {XLS_BYTES:,} 字节），未读取；请改用 CSV 文件发送各表")


def test_a_sparse_xls_does_not_fill_its_empty_cells() -> None:
    """sparse.xls has one cell at A1 and one at IV65536 of its lots sheet: xlrd pads every row to the widest
    (16.7 million cells, hundreds of MB) unless rows are read ragged."""
    path = FIXTURES / "sparse.xls"
    assert path.stat().st_size < 100_000
    tracemalloc.start()
    try:
        export = read_export(path)
        rows = list(export.tables["lots"].rows)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [line for line, _values in rows] == [65536]
    assert peak < 64 << 20, peak  # 29 MiB traced (65,536 empty rows); 355 MB read padded


def test_movements_are_read_from_an_xls_sheet_too() -> None:
    table, checksum = read_table(FIXTURES / "old_system.xls", "lots")
    assert (table.label, table.header_line, len(checksum)) == ("old_system.xls[lots]", 4, 64)
    assert next(table.rows)[1][:5] == ["HIP-1", "SH01", "L1", "S1", 1]


def test_a_broken_xls_is_a_plain_refusal(tmp_path: Path) -> None:
    path = tmp_path / "export.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600)
    message = refusal(path)
    assert message.startswith("export.xls: not a readable .xls workbook (")
    assert str(tmp_path) not in message


# --- Excel cells, title rows and merged headers ---------------------------------------------------------

def _title_workbook(path: Path, bad_expiry_on_row: int | None = None) -> Path:
    """A lots sheet as an ERP prints it: a merged title, the company and the printing date, then a two-row
    header whose top row is merged over lot/serial and over the dates."""
    book = openpyxl.Workbook()
    _materials_sheet(book)
    sheet = book.create_sheet("lots")
    sheet.append(["批次库存报表 Lot stock report"])
    sheet.merge_cells("A1:H1")
    sheet.append(["XX医疗器械有限公司"])
    sheet.append(["打印日期", datetime(2026, 11, 25, 8, 0)])
    sheet.append(["sku", "site", "批次", None, "qty", "日期", None, "qc_status"])
    sheet.append([None, None, "lot", "serial", None, "received_on", "expires_on", None])
    for column in "ABEH":
        sheet.merge_cells(f"{column}4:{column}5")
    sheet.merge_cells("C4:D4")
    sheet.merge_cells("F4:G4")
    sheet.append(["HIP-1", "SH01", "L1", "S1", 1, datetime(2024, 11, 25), datetime(2029, 10, 1), "released"])
    sheet.append([])  # a blank line the person sees
    sheet.append(["CAT-1", "SH01", "A", None, 12.0, datetime(2026, 1, 2), datetime(2027, 1, 4), "released"])
    if bad_expiry_on_row is not None:
        sheet.cell(bad_expiry_on_row, 7, "soon")
    book.save(path)
    return path


def test_title_rows_and_a_merged_two_row_header_are_found_in_a_workbook(engine: Engine, tmp_path: Path) -> None:
    path = _title_workbook(tmp_path / "export.xlsx")
    lots = read_export(path).tables["lots"]
    assert lots.header == ["sku", "site", "lot", "serial", "qty", "received_on", "expires_on", "qc_status"]
    assert lots.header_line == 5
    ingest(engine, path, as_of=AS_OF)
    found = positions(engine)
    assert found["CAT-1", "SH01", "A", ""].qty == 12  # 12.0 in the cell
    assert found["HIP-1", "SH01", "L1", "S1"].expires_on == date(2029, 10, 1)


def test_row_errors_name_the_row_the_person_sees_in_the_workbook(engine: Engine, tmp_path: Path) -> None:
    path = _title_workbook(tmp_path / "export.xlsx", bad_expiry_on_row=8)
    assert errors_of(engine, path) == ["export.xlsx[lots]:8: expires_on: 'soon' is not a date (expected YYYY-MM-DD)"]


def test_a_merged_cell_in_a_one_row_header_does_not_make_the_first_data_row_a_header(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    _materials_sheet(book)
    sheet = book.create_sheet("lots")
    sheet.append(["sku", "site", "qty", "received_on", "备注", None])
    sheet.merge_cells("E1:F1")
    sheet.append(["CAT-1", "SH01", 3, datetime(2026, 1, 2), "note", "more"])
    book.save(tmp_path / "export.xlsx")
    lots = read_export(tmp_path / "export.xlsx").tables["lots"]
    assert (lots.header, lots.header_line) == (["sku", "site", "qty", "received_on", "备注"], 1)
    assert [line for line, _values in lots.rows] == [2]


def test_empty_rows_above_the_header_do_not_count_against_the_search(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    _materials_sheet(book)
    sheet = book.create_sheet("lots")
    sheet["A1"] = "库存 Stock"
    for column, name in enumerate(["sku", "site", "qty", "received_on"], start=1):
        sheet.cell(30, column, name)
    sheet.append(["CAT-1", "SH01", 3, datetime(2026, 1, 2)])
    book.save(tmp_path / "export.xlsx")
    lots = read_export(tmp_path / "export.xlsx").tables["lots"]
    assert (lots.header, lots.header_line, [line for line, _values in lots.rows]) == (
        ["sku", "site", "qty", "received_on"], 30, [31])


def test_a_header_problem_names_the_header_row_below_the_title(engine: Engine, tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    _materials_sheet(book)
    sheet = book.create_sheet("lots")
    sheet.append(["库存 Stock"])
    sheet.append([])
    sheet.append(["sku", "site", "qty", "recieved_on"])
    sheet.append(["CAT-1", "SH01", 3, datetime(2026, 1, 2)])
    book.save(tmp_path / "export.xlsx")
    assert errors_of(engine, tmp_path / "export.xlsx") == [
        "export.xlsx[lots]:3: recieved_on: unknown column (did you mean 'received_on'?)",
        "export.xlsx[lots]:3: received_on: required column is missing"]


def test_a_header_with_an_unnamed_column_above_text_rows_stays_the_header(engine: Engine, tmp_path: Path) -> None:
    """ERPs often write numbers as text: a data row then has more text cells than a header with one column
    unnamed, and must not be taken for the header."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "materials"
    sheet.append(["sku", "category", "base_uom", "unit_cost", None])
    sheet.append(["CAT-1", "catheter", "ea", "800", "note"])
    lots = book.create_sheet("lots")
    lots.append(["sku", "site", "qty", "received_on"])
    lots.append(["CAT-1", "SH01", "3", "2026-01-02"])
    book.save(tmp_path / "export.xlsx")
    assert read_export(tmp_path / "export.xlsx").tables["materials"].header_line == 1
    assert ingest(engine, tmp_path / "export.xlsx", as_of=AS_OF).row_counts == {"materials": 1, "lots": 1}


def _with_builtin_number_formats(path: Path, formats: dict[str, int]) -> None:
    """Point cell styles at built-in number formats, as Excel and WPS in a Chinese locale write them: the
    format id alone (31 is yyyy"年"m"月"d"日", 57 yyyy"年"m"月"), without the format's code in the file."""
    data = path.read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for member in source.infolist():
            content = source.read(member)
            if member.filename == "xl/styles.xml":
                text = content.decode()
                for code, builtin in formats.items():
                    number = text.split(f'formatCode="{code}"')[0].rsplit('numFmtId="', 1)[1].split('"')[0]
                    text = text.replace(f'<xf numFmtId="{number}"', f'<xf numFmtId="{builtin}"')
                content = text.encode()
            out.writestr(member, content)


def test_excel_date_and_number_cells_as_erps_write_them(engine: Engine, tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    _materials_sheet(book)
    sheet = book.create_sheet("lots")
    sheet.append(LOT_HEADER.strip().split(","))
    # A lot number Excel took for a date, a serial as a float, its quantity as 1.0, the dates as numbers with built-in Chinese date
    # formats, a last movement at 14:30.
    sheet.append(["CAT-1", "SH01", datetime(2026, 1, 2), 12345678901.0, 1.0, None, 46024, 45992, 46391,
                  datetime(2026, 3, 1, 14, 30), "released", None])
    row = list(sheet.iter_rows(min_row=2, max_row=2))[0]
    row[6].number_format = 'yyyy"年"m"月"d"日"'
    row[7].number_format = "yyyy-m"
    row[8].number_format = 'yyyy"年"m"月"d"日"'
    book.save(tmp_path / "export.xlsx")
    _with_builtin_number_formats(tmp_path / "export.xlsx", {"yyyy&quot;年&quot;m&quot;月&quot;d&quot;日&quot;": 31,
                                                           "yyyy-m": 57})
    ingest(engine, tmp_path / "export.xlsx", as_of=AS_OF)
    (position,) = positions(engine).values()
    assert (position.lot, position.serial, position.qty) == ("2026-01-02", "12345678901", 1)
    assert (position.received_on, position.manufactured_on, position.expires_on, position.last_movement_on) == (
        date(2026, 1, 2), date(2025, 12, 1), date(2027, 1, 4), date(2026, 3, 1))


def test_a_workbook_whose_dimension_claims_the_whole_sheet_reads_only_its_rows(tmp_path: Path) -> None:
    """`<dimension ref="A1:XFD1048576"/>` in a 4 KB workbook made openpyxl hand out a million rows of 16,384
    empty cells each."""
    book = openpyxl.Workbook()
    _materials_sheet(book)
    book.create_sheet("lots").append(LOT_HEADER.strip().split(","))
    plain = io.BytesIO()
    book.save(plain)
    path = tmp_path / "export.xlsx"
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for member in source.infolist():
            content = source.read(member)
            if member.filename == "xl/worksheets/sheet2.xml":
                content = content.replace(b'<dimension ref="A1:L1" />', b'<dimension ref="A1:XFD1048576" />')
                assert b"XFD1048576" in content
            out.writestr(member, content)
    code = ("import sys; from pathlib import Path; from inventory.sources import read_export; "
            "print(len(list(read_export(Path(sys.argv[1])).tables['lots'].rows)))")
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60,
                          cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "0" and time.monotonic() - started < 30


# --- encodings ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_with_a_byte_order_mark_is_read(engine: Engine, tmp_path: Path, encoding: str) -> None:
    folder = write_export(tmp_path / "x", lots=GOOD_LOTS.replace("L1", "批次一"))
    (folder / "materials.csv").write_bytes(("\ufeff" + MATERIALS).encode(encoding))
    ingest(engine, folder, as_of=AS_OF)
    assert ("HIP-1", "SH01", "批次一", "S1") in positions(engine)
    with Session(engine) as session:
        assert {m.name for m in session.execute(select(Material)).scalars()} >= {"髋臼杯 Acetabular cup 52"}


def test_a_shift_jis_file_is_refused_naming_the_first_line_that_looks_wrong(tmp_path: Path) -> None:
    folder = write_export(tmp_path / "x", lots=GOOD_LOTS)
    (folder / "materials.csv").write_bytes(JAPANESE_MATERIALS.encode("shift_jis"))
    shown = JAPANESE_MATERIALS.splitlines()[1].encode("shift_jis").decode("gb18030")
    assert shown == "HIP-1,姲崪塒僇僢僾 52mm,implant,ea,12000"  # what was stored before
    assert refusal(folder) == (
        f"materials.csv:2: this line does not read as UTF-8, GB18030 or UTF-16 text (it reads as '{shown}'); "
        f"save the file as UTF-8 / 此行不是 UTF-8、GB18030 或 UTF-16 文本（读出为“{shown}”）；请将文件另存为 UTF-8")


def test_a_file_in_no_accepted_encoding_names_its_line(tmp_path: Path) -> None:
    folder = write_export(tmp_path / "x", lots=GOOD_LOTS)
    (folder / "lots.csv").write_bytes(GOOD_LOTS.encode() + "CAT-1,SH01,ﾛｯﾄ,,1,,2026-01-01,,,,,\n".encode("shift_jis"))
    assert refusal(folder) == (
        "lots.csv:3: this line is not UTF-8, GB18030 or UTF-16 text; save the file as UTF-8 / "
        "此行不是 UTF-8、GB18030 或 UTF-16 文本；请将文件另存为 UTF-8")


def test_a_broken_utf16_file_names_its_line(tmp_path: Path) -> None:
    folder = write_export(tmp_path / "x", lots=GOOD_LOTS)
    (folder / "lots.csv").write_bytes(("\ufeff" + GOOD_LOTS).encode("utf-16-be") + b"\xd8\x00\x00a\x00\n")
    assert refusal(folder).startswith("lots.csv:3: this line is not UTF-8, GB18030 or UTF-16 text")


def test_utf16_without_a_byte_order_mark_is_refused_with_a_hint(tmp_path: Path) -> None:
    folder = write_export(tmp_path / "x", lots=GOOD_LOTS)
    (folder / "lots.csv").write_bytes(GOOD_LOTS.encode("utf-16-le"))
    assert refusal(folder) == (
        "lots.csv:1: the line holds NUL bytes, as UTF-16 text without a byte-order mark does; save the file as "
        "UTF-8 / 此行含有 NUL 字节（不带字节顺序标记的 UTF-16 文本即如此）；请将文件另存为 UTF-8")


def test_chinese_with_rare_characters_is_still_gb18030(engine: Engine, tmp_path: Path) -> None:
    """Names with characters outside GB2312 (镕, 喆, ®, traditional 龍華醫療) are real Chinese, not a wrong
    encoding."""
    materials = MATERIALS.replace("Ortho Co", "朱镕喆骨科® Ortho Co").replace("Vasc Co", "𠀾 龍華醫療器材")
    folder = write_export(tmp_path / "x")
    (folder / "materials.csv").write_bytes(materials.encode("gb18030"))
    scanned = "HIP-1,上海一仓,L7,,1,,2025-01-05,,2029-10-01,,,]d201095060001343521729100110L7\x1d21SN2\n"
    (folder / "lots.csv").write_bytes((GOOD_LOTS + scanned).encode("gb18030"))  # the GS of a raw UDI
    ingest(engine, folder, as_of=AS_OF)
    assert ("HIP-1", "上海一仓", "L7", "SN2") in positions(engine)
    with Session(engine) as session:
        assert {m.supplier for m in session.execute(select(Material)).scalars()} == {
            "朱镕喆骨科® Ortho Co", "𠀾 龍華醫療器材"}


# --- a size limit on every field -------------------------------------------------------------------------

def _five_megabyte_field(folder: Path) -> Path:
    """A 5 MB name on line 3 (quoted, across two lines of the file), a bad cost after it on line 4."""
    name = "x" * (5 << 20)
    materials = MATERIALS.replace("PTCA balloon catheter", f'"{name[:100]}\n{name[101:]}"')
    return write_export(folder, lots=GOOD_LOTS, materials=materials + "X-9,bad cost,implant,ea,cheap,,,,,,,,\n")


def test_a_five_megabyte_field_is_a_row_error(engine: Engine, tmp_path: Path) -> None:
    assert errors_of(engine, _five_megabyte_field(tmp_path / "x")) == [
        f"materials.csv:4: name: {too_long(5 << 20)}",
        "materials.csv:5: unit_cost: 'cheap' is not a number"]


def test_a_long_field_in_a_workbook_and_in_json_is_a_row_error(engine: Engine, tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    _materials_sheet(book)
    sheet = book.create_sheet("lots")
    sheet.append(LOT_HEADER.strip().split(","))
    sheet.append(["CAT-1", "SH01", "LONG-LOT", None, 1, None, datetime(2026, 1, 2)])
    plain = io.BytesIO()
    book.save(plain)
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(tmp_path / "export.xlsx", "w") as out:
        for member in source.infolist():  # openpyxl cuts what it writes at 32,767 characters; other writers do not
            out.writestr(member, source.read(member).replace(b"LONG-LOT", b"A" * 40_000))
    assert errors_of(engine, tmp_path / "export.xlsx") == [f"export.xlsx[lots]:2: lot: {too_long(40_000)}"]

    document = {"materials": [{"sku": "CAT-1", "category": "catheter", "base_uom": "ea", "unit_cost": 8,
                               "name": "n" * 40_000}],
                "lots": [{"sku": "CAT-1", "site": "SH01", "qty": 1, "received_on": "2026-01-02"}]}
    (tmp_path / "snapshot.json").write_text(json.dumps(document), encoding="utf-8")
    assert errors_of(engine, tmp_path / "snapshot.json") == [f"snapshot.json[materials]:1: name: {too_long(40_000)}"]


def test_the_rest_of_a_row_with_a_long_quoted_field_is_still_checked(engine: Engine, tmp_path: Path) -> None:
    """The long field holds doubled quotes, commas and line breaks; the fields after it are read as the csv module
    reads them, and their own problems are reported on the same row."""
    name = ('say ""yes"", then\n' * 20_000)[:200_000]
    materials = MATERIALS + f'X-1,"{name}",implant,ea,cheap,,,,,,,,\nX-2,ok,implant,ea,-1,,,,,,,,\n'
    folder = write_export(tmp_path / "x", lots=GOOD_LOTS, materials=materials)
    read = len(name.replace('""', '"'))
    assert errors_of(engine, folder) == [
        f"materials.csv:5: name: {too_long(read)}",
        "materials.csv:5: unit_cost: 'cheap' is not a number",
        "materials.csv:6: unit_cost: -1 is negative"]


def test_a_long_field_of_short_lines_is_a_row_error(engine: Engine, tmp_path: Path) -> None:
    """60,000 characters in lines of 60: within the csv module's own limit, and no line is long."""
    name = ("x" * 59 + "\n") * 1_000
    folder = write_export(tmp_path / "x", lots=GOOD_LOTS, materials=MATERIALS + f'X-1,"{name}",implant,ea,1,,,,,,,,\n')
    assert errors_of(engine, folder) == [f"materials.csv:5: name: {too_long(60_000)}"]


def test_the_cli_reports_a_five_megabyte_field_without_a_traceback(database_url: str, tmp_path: Path) -> None:
    folder = _five_megabyte_field(tmp_path / "x")
    done = subprocess.run([sys.executable, "-m", "stockwarden.cli", "ingest", str(folder), "--as-of",
                           AS_OF.isoformat()], capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path,
                          env={**os.environ, "STOCKWARDEN_DATABASE_URL": database_url,
                               "STOCKWARDEN_VAR_DIR": str(tmp_path / "var")})
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert f"materials.csv:4: name: {too_long(5 << 20)}" in done.stderr


@pytest.mark.asyncio
async def test_the_api_answers_a_five_megabyte_field_with_its_row(engine: Engine, tmp_path: Path) -> None:
    folder = _five_megabyte_field(tmp_path / "x")
    token = create_token(engine, "erp@example.com", [Role.ERP])
    app = create_app(engine, None, Settings(var_dir=tmp_path / "var"))  # type: ignore[arg-type]
    async with _client(app) as client:
        answer = await client.post("/snapshots", headers={"Authorization": f"Bearer {token}"}, files=[
            ("files", ("materials.csv", (folder / "materials.csv").read_bytes())),
            ("files", ("lots.csv", (folder / "lots.csv").read_bytes()))])
    assert answer.status_code == 422, answer.text[:500]
    assert answer.json()["errors"][0] == {"file": "materials.csv", "row": 4, "column": "name",
                                          "message": too_long(5 << 20)}


@pytest.mark.asyncio
async def test_the_api_takes_an_xls_upload(engine: Engine, tmp_path: Path) -> None:
    token = create_token(engine, "erp@example.com", [Role.ERP])
    app = create_app(engine, None, Settings(var_dir=tmp_path / "var"))  # type: ignore[arg-type]
    async with _client(app) as client:
        answer = await client.post("/snapshots", headers={"Authorization": f"Bearer {token}"}, files=[
            ("files", ("old_system.xls", (FIXTURES / "old_system.xls").read_bytes()))], data={"as_of": "2026-11-25"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["row_counts"] == {"materials": 3, "lots": 3}


# --- no server paths --------------------------------------------------------------------------------------

@pytest.mark.asyncio
async def test_errors_show_no_server_path(engine: Engine, tmp_path: Path) -> None:
    token = create_token(engine, "erp@example.com", [Role.ERP])
    app = create_app(engine, None, Settings(var_dir=tmp_path / "var"))  # type: ignore[arg-type]
    async with _client(app) as client:
        for files in ([("files", ("materials.csv", MATERIALS.encode()))],
                      [("files", ("lots.csv", JAPANESE_MATERIALS.encode("shift_jis"))),
                       ("files", ("materials.csv", MATERIALS.encode()))],
                      [("files", ("export.xlsx", b"PK\x03\x04 not really a workbook"))]):
            answer = await client.post("/snapshots", headers={"Authorization": f"Bearer {token}"}, files=files)
            assert answer.status_code == 422
            message = answer.json()["errors"][0]["message"]
            assert "/" + tmp_path.name not in message and "uploads" not in message, message
    assert "required files missing: lots.csv" in refusal(write_export(tmp_path / "only"))
    for path in (tmp_path / "nowhere", tmp_path / "nowhere.xlsx"):
        message = refusal(path)
        assert message.startswith(f"{path.name}: no such file or folder") and str(tmp_path) not in message
