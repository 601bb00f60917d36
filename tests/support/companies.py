"""Fixtures: the small companies on a fresh database (tests/support/data.py holds their export files and
policies): the KPI company, the same with a scan and two open cases (governed), the hip cups with and
without a scan (scanned, stock), and one lot of 42 to confirm in part (lot_of_42)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from governance.service import record_event
from inventory.ingest import ingest
from rules.scan import scan
from rules.versions import activate
from tests.support.data import (
    AS_OF,
    HIP_DEMAND,
    HIP_LOTS,
    HIP_ORDERS,
    HIP_POLICY,
    KPI_DEMAND,
    KPI_LOTS,
    KPI_MOVEMENTS,
    KPI_ORDERS,
    KPI_POLICY,
    PARTIAL_LOTS,
    PARTIAL_POLICY,
    kpi_case_event,
    write_export,
)


@pytest.fixture
def company(engine: Engine, tmp_path: Path) -> Engine:
    """The KPI company's snapshot under its policy (not yet scanned)."""
    ingest(engine, write_export(tmp_path / "x", lots=KPI_LOTS, movements=KPI_MOVEMENTS, demand=KPI_DEMAND,
                                purchase_orders=KPI_ORDERS), as_of=AS_OF)
    (tmp_path / "kpi.yaml").write_text(KPI_POLICY, encoding="utf-8")
    activate(engine, tmp_path / "kpi.yaml", actor="test")
    return engine


@pytest.fixture
def governed(company: Engine) -> Engine:
    """The KPI company scanned, with two open cases in the mirror (HIP-1 and CAT-1 at SH01)."""
    scan(company)
    with company.begin() as connection:
        record_event(connection, kpi_case_event("case/idle/SH01/HIP-1", "SH01", 1, "case.opened", "open", "2026-11-02T00:00:00+00:00",
                                                ack_due="2026-11-05T00:00:00+00:00", resolve_due="2026-12-02T00:00:00+00:00"))
        record_event(connection, kpi_case_event("case/idle/SH01/CAT-1", "SH01", 1, "case.opened", "open", "2026-11-24T00:00:00+00:00",
                                                ack_due="2026-11-27T00:00:00+00:00", resolve_due="2026-12-24T00:00:00+00:00"))
    return company


@pytest.fixture
def stock(engine: Engine, tmp_path: Path) -> Engine:
    """The snapshot the target checks read: BJ02 has demand for HIP-1, PO P9/10 has 5 open."""
    ingest(engine, write_export(tmp_path / "export", lots=HIP_LOTS, demand=HIP_DEMAND, purchase_orders=HIP_ORDERS),
           as_of=AS_OF)
    return engine


@pytest.fixture
def scanned(engine: Engine, tmp_path: Path) -> Engine:
    """A snapshot and a scan, so messages can name the SKU and say why the rule fired."""
    ingest(engine, write_export(tmp_path / "export", lots=HIP_LOTS, demand=HIP_DEMAND, purchase_orders=HIP_ORDERS),
           as_of=AS_OF)
    (tmp_path / "policy.yaml").write_text(HIP_POLICY, encoding="utf-8")
    activate(engine, tmp_path / "policy.yaml", actor="li.na")
    scan(engine)
    return engine


@pytest.fixture
def lot_of_42(engine: Engine, tmp_path: Path) -> Engine:
    """Lot R1: 42 catheters idle at SH01 under a policy that lets their owner scrap them unsigned (not yet
    scanned): one ERP instruction of 42 is a scan and a proposal away."""
    ingest(engine, write_export(tmp_path / "partial", lots=PARTIAL_LOTS), as_of=AS_OF)
    (tmp_path / "partial.yaml").write_text(PARTIAL_POLICY, encoding="utf-8")
    activate(engine, tmp_path / "partial.yaml", actor="li.na")
    return engine
