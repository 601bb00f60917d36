"""The headline figures of a snapshot that `stockwarden up` prints: how much stock, how much of it idle or expiring."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from inventory.metrics import SkuSiteFacts

IDLE_DAYS = 180
EXPIRING_DAYS = 90
TOP = 5


@dataclass
class StockSummary:
    """Money is kept per currency: adding yuan to euros without a rate would be a made-up number."""

    as_of: date
    positions: int = 0
    sku_sites: int = 0
    stock_value: defaultdict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    idle_value: defaultdict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    expiring_value: defaultdict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    expired_value: defaultdict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    top_idle: list[tuple[str, str, str, Decimal]] = field(default_factory=list)
    """(sku, site, currency, idle value) of the SKU-sites with the most idle value, largest first."""


def summarise(facts: Iterable[SkuSiteFacts], as_of: date) -> StockSummary:
    summary = StockSummary(as_of)
    idle_by_sku_site: list[tuple[Decimal, str, str, str]] = []
    for group in facts:
        summary.sku_sites += 1
        idle_here = Decimal(0)
        for lot in group.lots:
            summary.positions += 1
            summary.stock_value[lot.currency] += lot.value
            if lot.days_since_movement > IDLE_DAYS:
                summary.idle_value[lot.currency] += lot.value
                idle_here += lot.value
            if lot.days_to_expiry is not None:
                if lot.days_to_expiry <= 0:
                    summary.expired_value[lot.currency] += lot.value
                elif lot.days_to_expiry <= EXPIRING_DAYS:
                    summary.expiring_value[lot.currency] += lot.value
        if idle_here:
            fact = group.sku_site
            idle_by_sku_site.append((idle_here, fact.sku, fact.site, fact.currency))
    idle_by_sku_site.sort(key=lambda item: (-item[0], item[1], item[2]))
    summary.top_idle = [(sku, site, currency, value) for value, sku, site, currency in idle_by_sku_site[:TOP]]
    return summary


def _money(amounts: dict[str, Decimal]) -> str:
    if not amounts:
        return "0.00"
    return " + ".join(f"{currency} {value:,.2f}" for currency, value in sorted(amounts.items()))


def render_summary(summary: StockSummary) -> str:
    lines = [
        f"Snapshot as of 库存日期 {summary.as_of}",
        f"  Lot positions 批次库位: {summary.positions:,} at {summary.sku_sites:,} SKU-sites 品规-库点",
        f"  Stock value 库存金额: {_money(summary.stock_value)}",
        f"  Idle over {IDLE_DAYS} days 呆滞超{IDLE_DAYS}天: {_money(summary.idle_value)}",
        f"  Expiring within {EXPIRING_DAYS} days {EXPIRING_DAYS}天内效期: {_money(summary.expiring_value)}",
        f"  Already expired 已过期: {_money(summary.expired_value)}",
        f"  Top {TOP} SKU-sites by idle value 呆滞金额前{TOP}:",
    ]
    for rank, (sku, site, currency, value) in enumerate(summary.top_idle, start=1):
        lines.append(f"    {rank}. {sku} @ {site}: {currency} {value:,.2f}")
    if not summary.top_idle:
        lines.append("    (none)")
    return "\n".join(lines)
