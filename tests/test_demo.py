"""The demo company: deterministic, shaped as promised, and clean enough to load on both databases."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import date
from pathlib import Path

from sqlalchemy import Engine

from inventory.demo import write_company
from inventory.ingest import ingest
from inventory.metrics import iter_facts, latest_snapshot

AS_OF = date(2026, 11, 25)


def test_same_seed_same_bytes_other_seed_other_company(tmp_path: Path) -> None:
    write_company(tmp_path / "a", lots=400, seed=3, as_of=AS_OF)
    write_company(tmp_path / "b", lots=400, seed=3, as_of=AS_OF)
    write_company(tmp_path / "c", lots=400, seed=4, as_of=AS_OF)
    for name in ("materials", "lots", "movements", "demand", "purchase_orders"):
        assert (tmp_path / "a" / f"{name}.csv").read_bytes() == (tmp_path / "b" / f"{name}.csv").read_bytes()
    assert (tmp_path / "a" / "lots.csv").read_bytes() != (tmp_path / "c" / "lots.csv").read_bytes()


def test_the_demo_company_loads_and_has_the_stock_a_demo_needs(engine: Engine, tmp_path: Path) -> None:
    counts = write_company(tmp_path / "x", lots=1500, as_of=AS_OF)
    assert counts["movements"] >= 4 * counts["lots"]
    ingest(engine, tmp_path / "x", as_of=AS_OF)
    with engine.connect() as connection:
        snapshot = latest_snapshot(connection)
        assert snapshot is not None
        groups = list(iter_facts(connection, snapshot))
    lots = [lot for group in groups for lot in group.lots]
    assert len(lots) == 1500
    assert {lot.category for lot in lots} == {"implant", "stent", "catheter", "ivd_reagent", "consumable", "spare_part"}
    assert len({lot.site for lot in lots}) == 4
    assert any(lot.days_to_expiry is not None and lot.days_to_expiry <= 0 for lot in lots)
    assert any(lot.days_to_expiry is not None and 0 < lot.days_to_expiry <= 90 for lot in lots)
    assert any(lot.days_since_movement > 365 for lot in lots)
    assert Counter(lot.qc_status for lot in lots)["quarantine"] > 0
    assert any(lot.serial for lot in lots if lot.category == "implant")
    assert any(lot.lifecycle == "phase_out" for lot in lots)
    assert any(group.sku_site.open_po_qty > 0 for group in groups)
    assert any(group.sku_site.projected_expiry_qty > 0 for group in groups)
    with (tmp_path / "x" / "materials.csv").open(encoding="gb18030") as handle:
        assert any(row["substitutes"] for row in csv.DictReader(handle))
