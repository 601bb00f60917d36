"""Writing facts for people (a tab-separated table) and for programs (JSON), streaming, one line at a time."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import fields
from datetime import date
from decimal import Decimal
from typing import Any, TextIO

from inventory.metrics import LotFact, SkuSiteFact, SkuSiteFacts
from inventory.models import Snapshot

LOT_FIELDS = [f.name for f in fields(LotFact)]
SKU_SITE_FIELDS = [f.name for f in fields(SkuSiteFact)]


def jsonable(value: Any) -> Any:
    """Decimals become JSON numbers (an integer when whole), dates ISO strings."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def fact_dict(fact: LotFact | SkuSiteFact) -> dict[str, Any]:
    names = LOT_FIELDS if isinstance(fact, LotFact) else SKU_SITE_FIELDS
    return {name: jsonable(getattr(fact, name)) for name in names}


def write_json(out: TextIO, snapshot: Snapshot, facts: Iterable[SkuSiteFacts]) -> None:
    """`{"snapshot": ..., "lots": [...], "skus": [...]}`; lots stream, the fewer SKU-sites are held back."""
    head = {"id": snapshot.id, "as_of": snapshot.as_of.isoformat(), "source": snapshot.source}
    out.write('{"snapshot": ' + json.dumps(head) + ', "lots": [')
    sku_sites: list[dict[str, Any]] = []
    separator = "\n"
    for group in facts:
        for lot in group.lots:
            out.write(separator + json.dumps(fact_dict(lot), ensure_ascii=False))
            separator = ",\n"
        sku_sites.append(fact_dict(group.sku_site))
    out.write('\n], "skus": [')
    out.write(",".join("\n" + json.dumps(s, ensure_ascii=False) for s in sku_sites))
    out.write("\n]}\n")


def _cell(value: Any) -> str:
    value = jsonable(value)
    return "" if value is None else str(value)


def write_table(out: TextIO, facts: Iterable[SkuSiteFacts]) -> None:
    """Two tab-separated tables, lots first, that paste straight into a spreadsheet."""
    sku_sites: list[SkuSiteFact] = []
    out.write("# lots\n" + "\t".join(LOT_FIELDS) + "\n")
    for group in facts:
        for lot in group.lots:
            out.write("\t".join(_cell(getattr(lot, name)) for name in LOT_FIELDS) + "\n")
        sku_sites.append(group.sku_site)
    out.write("\n# skus\n" + "\t".join(SKU_SITE_FIELDS) + "\n")
    for fact in sku_sites:
        out.write("\t".join(_cell(getattr(fact, name)) for name in SKU_SITE_FIELDS) + "\n")
