"""A deterministic demo company in the ingest format, for the set-up command, the tests and the benchmarks.

It is shaped like a Chinese medical-device distributor: serialised orthopaedic implants, vascular stents
and catheters in lots, cold-chain IVD reagents with short shelf lives, surgical consumables and
equipment spare parts, stocked at several sites, with intermittent demand, phase-out models and their
substitutes, open purchase orders, and some expired, near-expiry, quarantined and long-idle stock.
The same seed and as-of date always give the same files, byte for byte.
"""

from __future__ import annotations

import csv
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

SITES = ("SH01", "BJ02", "GZ03", "CD04")


@dataclass(frozen=True)
class Family:
    """A product family: how its SKUs are priced, packed, stored, tracked and consumed."""

    category: str
    names: tuple[str, ...]
    cost: tuple[int, int]
    risk_class: str
    storage: str
    shelf_life_days: int | None
    serialised: bool
    lot_qty: tuple[int, int]
    pack: tuple[str, int] | None  # a purchase unit and its size in base units
    base_uom: str
    share: float  # of all lot positions


FAMILIES = (
    Family("implant", ("髋臼杯 Acetabular cup", "股骨柄 Femoral stem", "胫骨平台 Tibial tray",
                       "椎弓根螺钉 Pedicle screw"), (8_000, 60_000), "III", "ambient", 1825, True,
           (1, 1), None, "ea", 0.25),
    Family("stent", ("药物洗脱支架 Drug-eluting stent", "外周支架 Peripheral stent"), (3_000, 12_000), "III",
           "ambient", 730, False, (2, 12), ("box5", 5), "ea", 0.15),
    Family("catheter", ("球囊扩张导管 PTCA balloon catheter", "导丝 Guide wire", "造影导管 Angiographic catheter"),
           (600, 3_000), "II", "ambient", 1095, False, (5, 40), ("box10", 10), "ea", 0.15),
    Family("ivd_reagent", ("肌钙蛋白试剂盒 Troponin kit", "血糖试剂 Glucose reagent", "凝血试剂 Coagulation kit"),
           (400, 4_000), "II", "cold", 270, False, (5, 60), ("carton", 20), "kit", 0.15),
    Family("consumable", ("手术铺单 Surgical drape", "可吸收缝线 Absorbable suture", "医用手套 Surgical gloves"),
           (5, 200), "I", "ambient", 1460, False, (50, 800), ("box50", 50), "ea", 0.2),
    Family("spare_part", ("监护仪电池 Monitor battery", "内窥镜光源灯泡 Endoscope lamp", "输液泵主板 Pump board"),
           (200, 20_000), "I", "ambient", None, False, (1, 6), None, "ea", 0.1),
)


@dataclass
class _Sku:
    sku: str
    family: Family
    name: str
    unit_cost: Decimal
    gtin: str
    lifecycle: str
    substitutes: list[str]
    daily_demand: float  # base units per day at a site with demand


def gtin14(body: str) -> str:
    """A GTIN-14 with its mod-10 check digit, so demo UDIs pass a real GS1 parser."""
    digits = body.rjust(13, "0")[-13:]
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return digits + str((10 - total % 10) % 10)


class _Company:
    def __init__(self, lots: int, seed: int, as_of: date):
        self.rng = random.Random(seed)
        self.as_of = as_of
        self.target_lots = lots
        self.skus = self._skus(max(24, lots // 25))

    def _skus(self, count: int) -> list[_Sku]:
        rng = self.rng
        skus: list[_Sku] = []
        for family in FAMILIES:
            for i in range(max(4, round(count * family.share))):
                name = family.names[i % len(family.names)]
                code = f"{family.category[:3].upper()}-{i + 1:05d}"
                cost = Decimal(rng.randint(*family.cost)) + Decimal(rng.choice((0, 50))) / 100
                roll = rng.random()
                lifecycle = "phase_out" if roll < 0.08 else "obsolete" if roll < 0.11 else "active"
                demand = 0.0 if rng.random() < 0.12 else rng.lognormvariate(-1.6, 1.1) * sum(family.lot_qty) / 8
                skus.append(_Sku(code, family, f"{name} {code[-3:]}", cost, gtin14(f"69{len(skus):011d}"),
                                 lifecycle, [], demand if lifecycle == "active" else demand * 0.2))
        active_by_family: dict[str, list[_Sku]] = {}
        for s in skus:
            if s.lifecycle == "active":
                active_by_family.setdefault(s.family.category, []).append(s)
        for s in skus:
            if s.lifecycle != "active" and active_by_family.get(s.family.category):
                s.substitutes = [rng.choice(active_by_family[s.family.category]).sku]
        return skus

    def materials(self) -> list[list[Any]]:
        return [[s.sku, s.name, s.family.category, s.family.base_uom, s.unit_cost, "CNY", s.family.risk_class,
                 s.lifecycle, s.family.storage, s.family.shelf_life_days or "",
                 f"供应商 Supplier {ord(s.sku[0]) % 7 + 1}", self.rng.choice((30, 60, 90, 180)),
                 ";".join(s.substitutes)] for s in self.skus]

    def conversions(self) -> list[list[Any]]:
        return [[s.sku, s.family.pack[0], s.family.pack[1]] for s in self.skus if s.family.pack]

    def stock(self) -> tuple[list[list[Any]], list[list[Any]]]:
        """Lots on hand and the movements that led there (receipts, issues, transfers, scrap, adjustments)."""
        rng, as_of = self.rng, self.as_of
        lots: list[list[Any]] = []
        movements: list[list[Any]] = []
        per_family = Counter(s.family.category for s in self.skus)
        weights = [s.family.share / per_family[s.family.category] for s in self.skus]
        picks = rng.choices(self.skus, weights=weights, k=self.target_lots)
        serial_counter = 0
        for n, s in enumerate(picks):
            f = s.family
            site = SITES[0] if rng.random() < 0.4 else rng.choice(SITES[1:])
            idle = rng.random() < 0.15
            age = rng.randint(200, 1100) if idle else int(rng.expovariate(1 / 150)) % 900
            received = as_of - timedelta(days=age)
            manufactured = received - timedelta(days=rng.randint(10, 120))
            expires = manufactured + timedelta(days=f.shelf_life_days) if f.shelf_life_days else None
            qty = rng.randint(*f.lot_qty)
            lot = "" if f.serialised else f"L{received:%y%m}{n:06d}"
            serial = ""
            if f.serialised:
                serial_counter += 1
                lot, serial = f"L{received:%y%m}{n % 97:02d}", f"SN{serial_counter:08d}"
            qc = rng.choices(("released", "quarantine", "hold", "rejected"), (0.955, 0.03, 0.01, 0.005))[0]
            udi = ""
            row_lot, row_serial = lot, serial
            if f.category in ("implant", "stent"):
                udi = f"(01){s.gtin}(11){manufactured:%y%m%d}"
                udi += f"(17){expires:%y%m%d}" if expires else ""
                udi += f"(10){lot}" + (f"(21){serial}" if serial else "")
                if rng.random() < 0.3:  # some ERPs only keep the scanned label: the UDI fills the row
                    row_lot = row_serial = ""
            reference = f"GRN-{received:%Y%m}-{n:07d}"
            movements.append([s.sku, site, lot, serial, "receipt", qty, "", received, reference])
            on_hand = qty
            last = received
            for _ in range(0 if f.serialised or idle else rng.randint(3, 14)):
                day = last + timedelta(days=rng.randint(1, 45))
                if day > as_of or on_hand <= 1:
                    break
                out = rng.randint(1, max(1, on_hand // 6))
                on_hand -= out
                last = day
                movements.append([s.sku, site, lot, serial, "issue", out, "", day, f"SO-{day:%Y%m}-{n:07d}"])
            if f.serialised:  # an implant's history is the serials already sold from the same delivery
                for k in range(rng.randint(4, 11)):
                    day = received + timedelta(days=rng.randint(1, max(1, age)))
                    if not idle and day <= as_of:
                        movements.append([s.sku, site, lot, f"SN-SOLD-{n:07d}-{k}", "issue", 1, "", day,
                                          f"SO-{day:%Y%m}-{n:07d}"])
            if rng.random() < 0.03 and on_hand > 2:
                movements.append([s.sku, site, lot, serial, "adjustment", -1, "", last, f"CNT-{n:07d}"])
                on_hand -= 1
            if f.pack and rng.random() < 0.2:  # the ERP booked some issues in the purchase unit
                movements.append([s.sku, site, lot, serial, "issue", 1, f.pack[0], last, f"SO-PK-{n:07d}"])
                on_hand = max(0, on_hand - f.pack[1])
            lots.append([s.sku, site, row_lot, row_serial, on_hand, "", received, "" if udi else manufactured,
                         "" if udi else (expires or ""), "" if rng.random() < 0.5 else last, qc, udi])
        return lots, movements

    def demand(self, movements: list[list[Any]]) -> list[list[Any]]:
        """Monthly actuals summed from the issues, and a noisy forecast for the last six and next three months."""
        actual: dict[tuple[str, str, str], int] = {}
        first_month = (self.as_of.replace(day=1) - timedelta(days=365)).replace(day=1)
        for sku, site, _lot, _serial, kind, qty, uom, moved_on, _ref in movements:
            if kind == "issue" and not uom and moved_on >= first_month:
                key = (sku, site, f"{moved_on:%Y-%m}")
                actual[key] = actual.get(key, 0) + qty
        rows: list[list[Any]] = [[sku, site, period, qty, "actual"] for (sku, site, period), qty in sorted(actual.items())]
        months = [(self.as_of.replace(day=15) + timedelta(days=30 * k)).strftime("%Y-%m") for k in range(-6, 4)]
        yearly: Counter[tuple[str, str]] = Counter()
        for (sku, site, _period), qty in actual.items():
            yearly[sku, site] += qty
        for (sku, site), total in sorted(yearly.items()):
            base = total / 12
            for month in sorted(set(months)):
                rows.append([sku, site, month, round(base * self.rng.uniform(0.6, 1.5)), "forecast"])
        return rows

    def purchase_orders(self, lots: list[list[Any]]) -> list[list[Any]]:
        rng, as_of = self.rng, self.as_of
        rows: list[list[Any]] = []
        pairs = sorted({(row[0], row[1]) for row in lots})
        for i, (sku, site) in enumerate(pairs):
            if rng.random() > 0.35:
                continue
            ordered = as_of - timedelta(days=rng.randint(5, 200))
            promised = ordered + timedelta(days=rng.randint(14, 60))
            po = f"PO{ordered:%y%m}{i:05d}"
            if promised < as_of and rng.random() < 0.7:
                received = promised + timedelta(days=rng.choice((-3, 0, 0, 2, 5, 12, 30)))
                received = min(received, as_of)
                rows.append([po, "10", sku, site, 0, "", ordered, promised, received, rng.randint(1, 50)])
            else:
                rows.append([po, "10", sku, site, rng.randint(1, 80), "", ordered, promised, "", ""])
        return rows


HEADERS = {
    "materials": ["sku", "name", "category", "base_uom", "unit_cost", "currency", "risk_class", "lifecycle",
                  "storage", "shelf_life_days", "supplier", "return_window_days", "substitutes"],
    "uom_conversions": ["sku", "uom", "factor"],
    "lots": ["sku", "site", "lot", "serial", "qty", "uom", "received_on", "manufactured_on", "expires_on",
             "last_movement_on", "qc_status", "udi"],
    "movements": ["sku", "site", "lot", "serial", "type", "qty", "uom", "moved_on", "reference"],
    "demand": ["sku", "site", "period", "qty", "kind"],
    "purchase_orders": ["po", "line", "sku", "site", "qty_open", "uom", "ordered_on", "promised_on",
                        "received_on", "received_qty"],
}

# Deliberately bad rows for --with-errors: each shows one class of problem the ingest reports.
BAD_LOTS = [
    ["{sku}", "SH01", "BAD-DATE", "", 5, "", "2025-01-10", "", "2026-13-01", "", "released", ""],
    ["NO-SUCH-SKU", "SH01", "BAD-SKU", "", 5, "", "2025-01-10", "", "", "", "released", ""],
    ["{sku}", "SH01", "BAD-UNIT", "", 5, "pallet", "2025-01-10", "", "", "", "released", ""],
    ["{sku}", "SH01", "BAD-QTY", "", -3, "", "2025-01-10", "", "", "", "released", ""],
    ["{sku}", "SH01", "DUP", "", 1, "", "2025-01-10", "", "", "", "released", ""],
    ["{sku}", "SH01", "DUP", "", 2, "", "2025-01-10", "", "", "", "released", ""],
    ["{sku}", "SH01", "BAD-EXPIRY", "", 1, "", "2025-01-10", "2025-06-01", "2025-01-01", "", "released", ""],
    ["{sku}", "SH01", "OTHER-LOT", "", 1, "", "2025-01-10", "", "", "", "released", "(01){gtin}(10)UDI-LOT"],
    ["{sku}", "SH01", "BAD-QC", "", 1, "", "2025-01-10", "", "", "", "blocked", ""],
]


def write_company(out: Path, *, lots: int = 2_000, seed: int = 7, as_of: date, with_errors: bool = False,
                  progress: Callable[[str], None] = lambda _message: None) -> dict[str, int]:
    """Write the demo company's CSV files into `out`; returns the row count of each file."""
    out.mkdir(parents=True, exist_ok=True)
    company = _Company(lots, seed, as_of)
    lot_rows, movement_rows = company.stock()
    progress(f"generated {len(lot_rows):,} lots and {len(movement_rows):,} movements")
    tables = {
        "materials": company.materials(),
        "uom_conversions": company.conversions(),
        "lots": lot_rows,
        "movements": movement_rows,
        "demand": company.demand(movement_rows),
        "purchase_orders": company.purchase_orders(lot_rows),
    }
    if with_errors:
        first = company.skus[0]
        tables["lots"] = lot_rows + [[str(v).format(sku=first.sku, gtin=first.gtin) for v in row] for row in BAD_LOTS]
    counts: dict[str, int] = {}
    for name, rows in tables.items():
        # The master data comes out of a Chinese ERP in GB18030, the rest in UTF-8: both must load.
        encoding = "gb18030" if name == "materials" else "utf-8"
        with (out / f"{name}.csv").open("w", newline="", encoding=encoding) as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(HEADERS[name])
            writer.writerows(rows)
        counts[name] = len(rows)
        progress(f"wrote {out / f'{name}.csv'} ({len(rows):,} rows)")
    return counts
