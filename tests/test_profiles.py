"""ERP mapping profiles: each shipped profile loads an export made in its ERP's shape (tests/fixtures/erp/, written
by make.py there) into the lots, movements and purchase-order lines it means; errors name the ERP's file, row and
column; a bad profile is refused at its line and column; `profile check` says what is mapped and what is missing;
the console and the API take a profile by name."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import openpyxl
import pytest
import yaml
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from api.app import create_app
from api.auth import create_token
from core.settings import Settings
from governance.visibility import Role
from inventory.ingest import IngestFailed, ingest
from inventory.models import LotPosition, Material, Movement, PurchaseOrderLine
from inventory.profiles import (
    Numbers,
    ProfileInvalid,
    ProfileUnknown,
    check_export,
    load_profile,
    parse_profile,
    profile_json_schema_text,
    shipped,
)
from inventory.sources import SourceError
from tests.support.data import AS_OF, write_export

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "erp"
ERPS = ["sap", "erpnext", "odoo", "kingdee", "yonyou_u8"]

# What each export means, worked out by hand from the ERP's rules (make.py says what each row is).
EXPECTED: dict[str, dict[str, Any]] = {
    "sap": {
        "site": "1000", "unit": "EA", "category": "IMPLANT",
        "lots": {("IMP-100", "B1"): (5, date(2024, 2, 1), date(2029, 1, 10), "released"),  # two storage locations
                 ("CAT-200", "C7"): (40, date(2025, 6, 1), date(2027, 5, 1), "hold")},  # ZUSTD = X
        # 101 in, 102 its reversal (written 3-), 261 out, 311 twice skipped, 301 out of 1000 into 2000, 551
        "movements": [("CAT-200", "1000", "receipt", 50), ("CAT-200", "1000", "adjustment", -3),
                      ("CAT-200", "1000", "issue", 10), ("CAT-200", "1000", "transfer_out", 2),
                      ("CAT-200", "2000", "transfer_in", 2), ("IMP-100", "1000", "scrap", 1)],
        "po": ("4500000010", "10", 60, date(2026, 12, 15)),
    },
    "erpnext": {
        "site": None, "unit": "Nos", "category": "Implants",
        "lots": {("IMP-100", "B1"): (3, date(2024, 2, 1), date(2029, 1, 10), "released"),
                 ("CAT-200", "C7"): (40, date(2025, 6, 1), date(2027, 5, 1), "quarantine")},  # its warehouse
        "movements": [("CAT-200", "Quarantine - SW", "receipt", 50), ("CAT-200", "Quarantine - SW", "issue", 4),
                      ("CAT-200", "Quarantine - SW", "return_to_supplier", 6),  # a Purchase Receipt, negative
                      ("IMP-100", "Stores - SW", "adjustment", 1)],
        "po": ("PUR-ORD-2026-00012", "1", 70, date(2026, 12, 15)),  # 100 ordered, 30 received
    },
    "odoo": {
        "site": "WH", "unit": "EA", "category": "All / Implants",
        "lots": {("IMP-100", "B1"): (3, date(2024, 2, 1), date(2029, 1, 10), "released"),
                 ("CAT-200", "C7"): (40, date(2025, 6, 1), date(2027, 5, 1), "quarantine")},  # 30 + 10 in QC
        # vendor > internal, internal > customer, internal > internal skipped, to scrap, counted away (2 less)
        "movements": [("CAT-200", "WH", "receipt", 50), ("CAT-200", "WH", "issue", 4),
                      ("IMP-100", "WH", "scrap", 1), ("CAT-200", "WH", "adjustment", -2)],
        "po": ("P00012", "17", 70, date(2026, 12, 15)),
    },
    "kingdee": {
        "site": "CK01", "unit": "Pcs", "category": "植入物",
        "lots": {("IMP-100", "B1"): (3, date(2024, 2, 1), date(2029, 1, 10), "released"),
                 ("CAT-200", "C7"): (40, date(2025, 6, 1), date(2027, 5, 1), "quarantine")},  # 待检
        "movements": [("CAT-200", "CK01", "receipt", 50), ("CAT-200", "CK01", "issue", 4),
                      ("CAT-200", "CK01", "transfer_out", 6), ("CAT-200", "CK02", "transfer_in", 6),
                      ("IMP-100", "CK01", "adjustment", -1)],  # 盘亏单
        "po": ("CGDD000012", "1", 70, date(2026, 12, 15)),
    },
    "yonyou_u8": {
        "site": "01", "unit": "个", "category": "植入物",
        "lots": {("IMP-100", "B1"): (3, date(2024, 2, 1), date(2029, 1, 10), "released"),
                 ("CAT-200", "C7"): (40, date(2025, 6, 1), date(2027, 5, 1), "quarantine")},  # 待检
        # a red 采购入库单 is a return; 其他出库单 by 收发类别: 调拨 a transfer, 报废 scrap
        "movements": [("CAT-200", "01", "receipt", 50), ("CAT-200", "01", "return_to_supplier", 2),
                      ("CAT-200", "01", "issue", 4), ("CAT-200", "01", "transfer_out", 4),
                      ("IMP-100", "01", "scrap", 1), ("IMP-100", "01", "adjustment", 1)],
        "po": ("0000000012", "1", 70, date(2026, 12, 15)),
    },
}


def stored(engine: Engine, snapshot_id: int) -> dict[str, Any]:
    with Session(engine) as session:
        lots = session.execute(select(LotPosition).where(col(LotPosition.snapshot_id) == snapshot_id)).scalars().all()
        moves = session.execute(select(Movement).where(col(Movement.snapshot_id) == snapshot_id)).scalars().all()
        orders = session.execute(select(PurchaseOrderLine).where(
            col(PurchaseOrderLine.snapshot_id) == snapshot_id)).scalars().all()
        materials = {m.sku: m for m in session.execute(select(Material).where(
            col(Material.snapshot_id) == snapshot_id)).scalars()}
    return {"lots": {(p.sku, p.lot): (p.qty, p.received_on, p.expires_on, p.qc_status) for p in lots},
            "sites": {p.site for p in lots},
            "movements": [(m.sku, m.site, m.type, m.qty) for m in moves],
            "po": [(o.po, o.line, o.qty_open, o.promised_on) for o in orders],
            "materials": materials}


@pytest.mark.parametrize("erp", ERPS)
def test_each_erp_export_as_it_comes_is_stored_as_it_means(engine: Engine, erp: str) -> None:
    result = ingest(engine, FIXTURES / erp, as_of=AS_OF, profile=load_profile(erp))
    expected = EXPECTED[erp]
    got = stored(engine, result.snapshot_id)
    assert got["lots"] == expected["lots"]
    assert sorted(got["movements"]) == sorted(expected["movements"])
    assert got["po"] == [expected["po"]]
    assert expected["site"] is None or got["sites"] == {expected["site"]}
    implant = got["materials"]["IMP-100"]
    assert (implant.base_uom, implant.category, implant.unit_cost) == (expected["unit"], expected["category"],
                                                                       Decimal(8200))
    again = ingest(engine, FIXTURES / erp, as_of=AS_OF, profile=load_profile(erp))
    assert again.already_loaded and again.snapshot_id == result.snapshot_id


def test_every_shipped_profile_is_valid_and_documents_its_materials() -> None:
    assert shipped() == sorted(ERPS)
    schema = json.loads(profile_json_schema_text())
    assert (ROOT / "erp_profiles" / "schema.json").read_text(encoding="utf-8") == profile_json_schema_text(), (
        "run `stockwarden profile schema` and commit erp_profiles/schema.json")
    for name in shipped():
        profile = load_profile(name)
        assert profile.profile == name and "materials" in profile.tables and profile.note
        jsonschema.validate(yaml.safe_load((ROOT / "erp_profiles" / f"{name}.yaml").read_text(encoding="utf-8")), schema)
    with pytest.raises(jsonschema.ValidationError, match="'filez' was unexpected"):
        jsonschema.validate({"profile": "x", "erp": "X", "tables": {"lots": {"filez": []}}}, schema)


def test_a_row_error_names_the_erp_file_row_and_column(engine: Engine, tmp_path: Path) -> None:
    folder = tmp_path / "sap"
    shutil.copytree(FIXTURES / "sap", folder)
    book = openpyxl.load_workbook(folder / "MB51.xlsx")
    book.active.cell(row=4, column=4, value="999")  # a movement type the profile does not know
    book.active.cell(row=9, column=7, value="a few")
    book.save(folder / "MB51.xlsx")
    with pytest.raises(IngestFailed) as failure:
        ingest(engine, folder, as_of=AS_OF, profile=load_profile("sap"))
    assert [str(e) for e in failure.value.errors] == [
        "MB51.xlsx[Sheet1]:4: movement type (type): '999' is not one of receipt, issue, transfer_in, transfer_out, "
        "scrap, adjustment, return_to_supplier",
        "MB51.xlsx[Sheet1]:9: qty in un. of entry (qty): 'a few' is not a number",
    ]
    with Session(engine) as session:
        assert session.execute(select(LotPosition)).first() is None


def test_a_keyed_value_the_map_does_not_know_shows_its_key(engine: Engine, tmp_path: Path) -> None:
    folder = tmp_path / "odoo"
    shutil.copytree(FIXTURES / "odoo", folder)
    book = openpyxl.load_workbook(folder / "stock.move.line.xlsx")
    book.active.cell(row=2, column=7, value="视图")  # a move out of a view location: nothing to map it to
    book.save(folder / "stock.move.line.xlsx")
    with pytest.raises(IngestFailed) as failure:
        ingest(engine, folder, as_of=AS_OF, profile=load_profile("odoo"))
    assert str(failure.value.errors[0]).startswith(
        "stock.move.line.xlsx[Sheet1]:2: type: 'view > internal > False' is not one of receipt")


def test_an_export_without_stock_names_the_patterns_it_looked_for(engine: Engine, tmp_path: Path) -> None:
    folder = tmp_path / "sap"
    shutil.copytree(FIXTURES / "sap", folder)
    (folder / "MB52.xlsx").rename(folder / "Bestand.xlsx")
    with pytest.raises(SourceError, match=r"^sap: no file or sheet matches the profile 'sap' for lots: MB52\*, "
                                          r"stock\*, 库存\*, lots.csv \("):
        ingest(engine, folder, as_of=AS_OF, profile=load_profile("sap"))


def test_stockwardens_own_layout_still_loads_under_a_profile(engine: Engine, tmp_path: Path) -> None:
    folder = write_export(tmp_path / "own", lots="sku,site,lot,qty,received_on\nCAT-1,SH01,A,5,2026-01-02\n")
    result = ingest(engine, folder, as_of=AS_OF, profile=load_profile("kingdee"))
    assert result.row_counts == {"materials": 3, "lots": 1}


def test_number_format_is_the_profiles_setting() -> None:
    assert load_profile("sap").numbers == Numbers(decimal=".", thousands=",")
    german = parse_profile("profile: de\nerp: SAP (German user)\nnumbers: {decimal: ',', thousands: '.'}\n"
                           "tables: {lots: {}}\n", "de.yaml")
    assert german.numbers == Numbers(decimal=",", thousands=".")


def test_a_profiles_number_format_reads_the_text_numbers_of_its_export(engine: Engine, tmp_path: Path) -> None:
    """Under a decimal-comma profile 1.234,5 is 1234.5; without it the same file is refused ('write ...')."""
    german = parse_profile("profile: de\nerp: SAP (German user)\nnumbers: {decimal: ',', thousands: '.'}\n"
                           "tables: {lots: {}}\n", "de.yaml")
    lots = "sku,site,lot,qty,received_on\nCAT-1,SH01,A,\"1.234,5\",2026-01-02\n"
    folder = write_export(tmp_path / "de", lots=lots, materials="sku,category,base_uom,unit_cost\nCAT-1,catheter,EA,\"12,5\"\n")
    with pytest.raises(IngestFailed) as refused:
        ingest(engine, folder, as_of=AS_OF)
    assert "write 12.5" in str(refused.value.errors[0]) and "write 1234.5" in str(refused.value.errors[1])
    ingest(engine, folder, as_of=AS_OF, profile=german)
    with engine.connect() as connection:
        assert connection.execute(select(col(LotPosition.qty))).scalars().all() == [Decimal("1234.5")]
        assert connection.execute(select(col(Material.unit_cost))).scalars().all() == [Decimal("12.5")]


def problems(text: str) -> list[str]:
    with pytest.raises(ProfileInvalid) as invalid:
        parse_profile(text, "erp_profiles/x.yaml")
    return [str(p) for p in invalid.value.problems]


PROFILE = """\
profile: x
erp: X
tables:
  lots:
    files: ["stock*"]
    columns:
      sku: [Material]
      expires_on: [Expiry]
  movements:
    signed: qty
    values:
      type:
        "101": receipt
        "301": {positive: transfer_in, negative: transfer_out}
"""


def test_a_bad_profile_is_refused_at_its_line_and_column() -> None:
    assert problems(PROFILE.replace("expires_on:", "expiry_on:")) == [
        "erp_profiles/x.yaml:8:7: tables.lots.columns.expiry_on: unknown column 'expiry_on' of lots "
        "(did you mean 'expires_on'?)"]
    assert problems(PROFILE.replace('"101": receipt', '"101": reciept')) == [
        "erp_profiles/x.yaml:13:9: tables.movements.values.type.101: 'reciept' is not one of receipt, issue, "
        "transfer_in, transfer_out, scrap, adjustment, return_to_supplier, skip (did you mean 'receipt'?)"]
    assert problems(PROFILE.replace("    signed: qty\n", "")) == [
        "erp_profiles/x.yaml:13:9: tables.movements.values.type.301: needs `signed:` (the quantity column) "
        "on the table"]
    assert problems(PROFILE.replace("  lots:", "  lotz:")) == [
        "erp_profiles/x.yaml:4:3: tables.lotz: unknown table 'lotz' (did you mean 'lots'?)"]
    assert problems(PROFILE.replace("    signed: qty\n", "    signed: qty\n    combine: [qty]\n")) == [
        "erp_profiles/x.yaml:11:5: tables.movements.combine: only lots and purchase_orders rows can be combined"]
    assert problems(PROFILE + "numbers: {decimal: ',', thousands: ','}\n") == [
        "erp_profiles/x.yaml:15:1: numbers: the thousands separator cannot be the decimal mark ','"]
    assert problems(PROFILE.replace("    files:", "    file:")) == [
        "erp_profiles/x.yaml:5:5: tables.lots.file: unknown key 'file'"]
    assert problems(PROFILE + "dates: ['%d.%m.%Y', 'DD.MM.YYYY']\n")[0].startswith(
        "erp_profiles/x.yaml:15:21: dates[1]: 'DD.MM.YYYY' is not a date format")
    assert problems(PROFILE.replace("profile: x", "profile: &a x\nalias: *a"))[0].startswith(
        "erp_profiles/x.yaml:1:10: YAML anchors and aliases are not allowed")
    assert problems(PROFILE.replace("[Material]", "[Material"))[0].startswith("erp_profiles/x.yaml:")


def test_a_profile_by_name_is_never_a_path_where_paths_are_not_allowed(tmp_path: Path) -> None:
    copy = tmp_path / "mine.yaml"
    copy.write_text((ROOT / "erp_profiles" / "sap.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    assert load_profile(str(copy)).profile == "sap"  # a copied, edited profile at the console
    for name in (str(copy), "../policies/default", "nosuch"):
        with pytest.raises(ProfileUnknown, match="there are: erpnext, kingdee, odoo, sap, yonyou_u8"):
            load_profile(name, allow_path=False)


def test_profile_check_says_what_is_mapped_what_is_not_and_what_is_missing(tmp_path: Path) -> None:
    folder = tmp_path / "sap"
    shutil.copytree(FIXTURES / "sap", folder)
    book = openpyxl.load_workbook(folder / "MB51.xlsx")
    book.active.cell(row=1, column=2, value="Plnat")  # a misspelt column
    book.save(folder / "MB51.xlsx")
    (folder / "notes.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    report = check_export(load_profile("sap"), folder)
    assert report.problems == 1
    lines = report.lines("en")
    movements = lines.index("MB51.xlsx[Sheet1]: movements")
    assert lines[movements + 1].startswith("  mapped: material → sku, movement type → type")
    assert lines[movements + 2] == "  not mapped (ignored): plnat, storage location"
    assert lines[movements + 3] == ("  missing required column site (the profile looks for: Plant, Plnt, 工厂, WERKS, "
                                    "site); did you mean 'plnat'?")
    assert "notes.csv: not read (no table of profile 'sap' matches it)" in lines
    assert "MCH1.xlsx[Sheet1]: lookup batches" in lines
    assert lines[-1] == "1 problem(s): the export cannot be loaded with profile 'sap' as it is."
    chinese = report.lines("zh-CN")
    assert "  缺少必需列 site（配置查找的列名：Plant, Plnt, 工厂, WERKS, site）；您是否指 'plnat'？" in chinese
    (folder / "MB52.xlsx").unlink()
    assert check_export(load_profile("sap"), folder).lines("en")[-2].startswith(
        "required table lots is missing: no file or sheet matches MB52*")


def run(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stockwarden.cli", *args], env={**os.environ, **env},
                          cwd=cwd, capture_output=True, text=True, timeout=300)


def test_the_console_ingests_with_a_profile_and_checks_one(database_url: str, tmp_path: Path) -> None:
    env = {"STOCKWARDEN_DATABASE_URL": database_url, "STOCKWARDEN_VAR_DIR": str(tmp_path / "var")}
    loaded = run("ingest", str(FIXTURES / "kingdee"), "--profile", "kingdee", "--as-of", AS_OF.isoformat(),
                 env=env, cwd=tmp_path)
    assert loaded.returncode == 0, loaded.stderr
    assert "stored: materials 2, movements 5, lots 2, purchase_orders 1." in loaded.stdout
    checked = run("profile", "check", str(FIXTURES / "yonyou_u8"), "--profile", "yonyou_u8", env=env, cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert "现存量.csv：lots" in checked.stdout and "必需列齐全" in checked.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(PROFILE.replace("expires_on:", "expiry_on:"), encoding="utf-8")
    refused = run("ingest", str(FIXTURES / "kingdee"), "--profile", str(bad), env=env, cwd=tmp_path)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert f"{bad}:8:7: tables.lots.columns.expiry_on: unknown column" in refused.stderr
    unknown = run("profile", "check", str(FIXTURES / "sap"), "--profile", "sapp", env=env, cwd=tmp_path)
    assert unknown.returncode == 1 and "no profile 'sapp' (there are: erpnext, kingdee" in unknown.stderr


@pytest.mark.asyncio
async def test_the_api_takes_a_snapshot_with_a_profile(engine: Engine, tmp_path: Path) -> None:
    erp = create_token(engine, "erp@example.com", [Role.ERP])
    app = create_app(engine, None, Settings(var_dir=tmp_path / "var"))  # type: ignore[arg-type]
    headers = {"Authorization": f"Bearer {erp}"}
    files = [("files", (p.name, p.read_bytes())) for p in sorted((FIXTURES / "odoo").iterdir())]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        unknown = await client.post("/snapshots", headers=headers, params={"profile": "../policies/default"},
                                    data={"as_of": AS_OF.isoformat()}, files=files)
        assert unknown.status_code == 422 and "there are: erpnext" in unknown.json()["detail"]
        assert str(ROOT) not in unknown.text
        loaded = await client.post("/snapshots", headers=headers, params={"profile": "odoo"},
                                   data={"as_of": AS_OF.isoformat()}, files=files)
        assert loaded.status_code == 200, loaded.text
        assert loaded.json()["row_counts"] == {"materials": 2, "movements": 4, "lots": 2, "purchase_orders": 1}


def test_rows_a_profile_skips_are_said_and_a_corrected_profile_is_a_new_snapshot(engine: Engine) -> None:
    said: list[str] = []
    first = ingest(engine, FIXTURES / "sap", as_of=AS_OF, profile=load_profile("sap"), progress=said.append)
    assert "MB51.xlsx[Sheet1]: 2 row(s) left out, as profile 'sap' says (skip) / 按配置 'sap' 跳过 2 行" in said
    text = (ROOT / "erp_profiles" / "sap.yaml").read_text(encoding="utf-8")
    moved = text.replace('"311": skip', '"311": {positive: transfer_in, negative: transfer_out}')
    second = ingest(engine, FIXTURES / "sap", as_of=AS_OF, profile=parse_profile(moved, "sap.yaml"))
    assert not second.already_loaded and second.snapshot_id != first.snapshot_id
    assert (first.row_counts["movements"], second.row_counts["movements"]) == (6, 8)
