"""The committee's KPIs against values computed by hand on a small fixed company (docs/metrics.md)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine

from inventory.metrics import iter_facts, latest_snapshot
from reports.stock_kpis import delivery_deviation, forecast_error, stock_kpis
from rules.scan import scan
from tests.support.data import kpi_case_event as _event


def test_stock_kpis_by_company_site_and_category(company: Engine) -> None:
    scan_id = scan(company).scan_id
    with company.connect() as connection:
        snapshot = latest_snapshot(connection)
        assert snapshot is not None
        kpis = stock_kpis(connection, snapshot, scan_id)
        projected = sum((f.sku_site.projected_expiry_value for f in iter_facts(connection, snapshot)), Decimal(0))
    whole = kpis[("company", "")]
    assert whole.on_hand_value == Decimal("36001.00")  # 12,000.50 x 2 + 10 x 800 + 5 x 800
    assert whole.issued_value_365d == Decimal("21600.50")  # 12 x 800 + 1 x 12,000.50
    assert whole.turnover_days == Decimal("608.3")  # 36,001 / (21,600.50 / 365)
    # L1 and B idle over a year (high), every lot of the phase-out HIP-1 at SH01 (critical), L1 once;
    # the medium rule that fires on everything does not count.
    assert whole.obsolete_value == Decimal("28001.00") and whole.obsolete_ratio == Decimal("0.7778")
    assert whole.aging == {"0-90": Decimal("12000.50"), "91-180": Decimal("8000"), "181-365": Decimal(0),
                           ">365": Decimal("16000.50")}
    assert whole.expiring[:4] == [Decimal("4000"), Decimal("8000"), Decimal(0), Decimal("12000.50")]
    assert sum(whole.expiring[4:]) == 0 and whole.projected_expiry_value == projected > 0
    sh01, gz03 = kpis[("site", "SH01")], kpis[("site", "GZ03")]
    assert (sh01.on_hand_value, sh01.turnover_days) == (Decimal("28001.00"), Decimal("851.7"))
    assert (gz03.obsolete_ratio, gz03.turnover_days) == (Decimal(0), Decimal("304.2"))  # 8,000 / (9,600 / 365)
    catheter = kpis[("category", "catheter")]
    assert (catheter.turnover_days, catheter.obsolete_ratio) == (Decimal("456.3"), Decimal("0.3333"))


def test_forecast_error_and_delivery_deviation(company: Engine) -> None:
    with company.connect() as connection:
        snapshot = latest_snapshot(connection)
        assert snapshot is not None
        errors = forecast_error(connection, snapshot, "2026-11")
        delivery = delivery_deviation(connection, snapshot, "2026-11")
    # Sep and Oct CAT-1 at GZ03 and Oct HIP-1: |12-10| + |6-8| + |1-2| = 5 over 20 actual; April is
    # outside the six months, November has no actual.
    assert (errors[("company", "")].wape, errors[("company", "")].bias) == (Decimal("0.25"), Decimal("-0.05"))
    assert (errors[("site", "GZ03")].wape, errors[("site", "GZ03")].bias) == (Decimal("0.2222"), Decimal(0))
    assert (errors[("category", "implant")].wape, errors[("category", "implant")].bias) == (Decimal("0.5"), Decimal("-0.5"))
    # November receipts: P1/10 three days late, P1/20 a day early; P2 came in October, P3 not yet.
    company_delivery = delivery[("company", "")]
    assert (company_delivery.lines, company_delivery.mean_days_late, company_delivery.share_late) == (
        2, Decimal("1.00"), Decimal("0.5"))
    assert delivery[("site", "GZ03")].share_late == Decimal(1)


def test_case_handling_for_a_month(engine: Engine) -> None:
    from datetime import UTC, datetime

    from core.case import Confirmation, InstructionLine, InstructionRequest
    from governance.outbox import confirm, issue
    from governance.service import record_event
    from reports.case_kpis import case_handling

    story = [  # (case, site, action, state, at, acknowledge due, resolve due)
        ("A", "SH01", "case.opened", "open", "2026-11-02T00:00:00+00:00", "2026-11-05", "2026-12-02"),
        ("A", "SH01", "case.acknowledged", "acknowledged", "2026-11-03T12:00:00+00:00", "2026-11-05", "2026-12-02"),
        ("A", "SH01", "case.resolved", "resolved", "2026-11-12T00:00:00+00:00", "2026-11-05", "2026-12-02"),
        ("B", "GZ03", "case.opened", "open", "2026-10-20T00:00:00+00:00", "2026-10-23", "2026-11-19"),
        ("B", "GZ03", "case.escalated", "open", "2026-11-05T00:00:00+00:00", "2026-11-08", "2026-11-19"),
        ("B", "GZ03", "case.resolved_by_itself", "resolved_by_itself", "2026-11-25T00:00:00+00:00", "2026-11-08", "2026-11-19"),
        ("C", "SH01", "case.opened", "open", "2026-11-20T00:00:00+00:00", "2026-11-23", "2026-12-20"),
        ("D", "SH01", "case.opened", "open", "2026-11-21T00:00:00+00:00", "2026-11-24", "2026-12-21"),
        ("D", "SH01", "case.acknowledged", "acknowledged", "2026-11-21T12:00:00+00:00", "2026-11-24", "2026-12-21"),
    ]
    numbers: dict[str, int] = {}
    with engine.begin() as connection:
        for case, site, action, state, at, ack_due, resolve_due in story:
            numbers[case] = numbers.get(case, 0) + 1
            record_event(connection, _event(case, site, numbers[case], action, state, at,
                                            ack_due=f"{ack_due}T00:00:00+00:00", resolve_due=f"{resolve_due}T00:00:00+00:00"))
        [scrapped] = issue(connection, InstructionRequest("A", 1, "scrap", "HIP-1", "SH01", "", "", "",
                                                          [InstructionLine("L1", "S1", "2", "24001.00")], ["qa"], "kpi v1",
                                                          "2026-11-10T00:00:00+00:00"))
        confirm(connection, Confirmation("A", [scrapped], "erp", "", "kpi v1", "2026-11-11T00:00:00+00:00"))
    with engine.connect() as connection:
        kpis = case_handling(connection, "2026-11", now=datetime(2026, 11, 26, tzinfo=UTC))
    company = kpis[("company", "")]
    assert (company.opened, company.resolved, company.resolved_by_itself, company.escalations, company.overdue_now) == (
        3, 1, 1, 1, 1)  # B opened in October; C is past its acknowledge deadline
    assert company.median_days_to_acknowledge == Decimal("1.0")  # 1.5 and 0.5 days
    assert company.median_days_to_resolve == Decimal("23.0")  # 10 and 36 days
    assert company.share_within_sla == Decimal("0.5")  # B resolved by itself after its deadline
    assert company.recovered == {"scrap": Decimal("24001.00")}
    sh01 = kpis[("site", "SH01")]
    assert (sh01.opened, sh01.median_days_to_resolve, sh01.share_within_sla) == (3, Decimal("10.0"), Decimal(1))


def test_a_month_is_stored_and_recomputing_replaces_it(company: Engine) -> None:
    from reports.kpis import NoSnapshotForPeriod, store, trend

    scan(company)
    stored = store(company, "2026-11")
    assert stored > 50
    assert store(company, "2026-11") == stored  # replaced, not added
    with company.connect() as connection:
        turnover = dict(trend(connection, "2026-11", "turnover_days"))
        obsolete = dict(trend(connection, "2026-11", "obsolete_ratio", ("site", "SH01")))
    assert len(turnover) == 12 and turnover["2026-11"] == Decimal("608.3") and turnover["2025-12"] is None
    assert obsolete["2026-11"] == Decimal("1")  # every SH01 position: L1 and B idle, L2 phase-out
    with pytest.raises(NoSnapshotForPeriod):
        store(company, "2026-10")  # the only snapshot is dated 2026-11-25


def test_the_kpis_command(company: Engine, database_url: str, tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "stockwarden.cli", "kpis", *args], capture_output=True, text=True,
                              timeout=120, cwd=tmp_path, env={**os.environ, "STOCKWARDEN_DATABASE_URL": database_url})

    bad = run("--period", "2026-13")
    assert bad.returncode == 1 and "is not a month (YYYY-MM)" in bad.stderr
    early = run("--period", "2025-01")
    assert early.returncode == 1 and "no snapshot is dated on or before the end of 2025-01" in early.stderr
    shown = run("--period", "2026-11", "--json")
    assert shown.returncode == 0, shown.stderr
    values = {(v["scope"], v["key"], v["name"]): v["value"] for v in json.loads(shown.stdout)}
    assert values[("company", "", "turnover_days")] == 608.3
    assert values[("category", "implant", "forecast_wape")] == 0.5
