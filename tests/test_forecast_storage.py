"""Forecasts read from a snapshot's demand (else its issues), stored per SKU-site and month, replaced by a
second run, and summed back per class, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select
from sqlmodel import col

from core.db import session_scope
from inventory.demand_series import last_complete_month, read_series
from inventory.forecast_models import ForecastMonth, SkuSiteForecast
from inventory.forecasting import forecast_snapshot, stored_summary
from inventory.models import DemandRecord, Movement, Snapshot

AS_OF = date(2026, 11, 25)


def load(engine: Engine) -> Snapshot:
    """SKU A at S1 has demand records (its issues are not read); B at S1 only issues."""
    with session_scope(engine) as session:
        snapshot = Snapshot(as_of=AS_OF, source="test", checksum="f" * 64, row_counts={}, loaded_by="test",
                            loaded_at=datetime(2026, 11, 25, 8, tzinfo=UTC))
        session.add(snapshot)
        session.flush()
        assert snapshot.id is not None
        for month in range(5, 12):  # 2026-11 is still running on the 25th: not history
            session.add(DemandRecord(snapshot_id=snapshot.id, sku="A", site="S1", period=f"2026-{month:02d}",
                                     kind="actual", qty=Decimal(10)))
            session.add(DemandRecord(snapshot_id=snapshot.id, sku="A", site="S1", period=f"2026-{month:02d}",
                                     kind="forecast", qty=Decimal(99)))
        for sku, kind, qty, day in [("A", "issue", 500, date(2026, 9, 9)),
                                    ("B", "issue", 2, date(2026, 8, 3)), ("B", "issue", 3, date(2026, 8, 20)),
                                    ("B", "receipt", 50, date(2026, 9, 1)), ("B", "issue", 4, date(2026, 10, 1)),
                                    ("B", "issue", 7, date(2026, 11, 2))]:
            session.add(Movement(snapshot_id=snapshot.id, sku=sku, site="S1", type=kind, qty=Decimal(qty),
                                 moved_on=day))
    return snapshot


def test_the_history_ends_with_the_last_complete_month() -> None:
    assert str(last_complete_month(date(2026, 11, 25))) == "2026-10"
    assert str(last_complete_month(date(2026, 11, 30))) == "2026-11"
    assert str(last_complete_month(date(2026, 1, 1))) == "2025-12"


def test_series_come_from_demand_records_else_issues(engine: Engine) -> None:
    snapshot = load(engine)
    with engine.connect() as connection:
        series = read_series(connection, snapshot)
    assert series.months == ["2026-05", "2026-06", "2026-07", "2026-08", "2026-09", "2026-10"]
    assert series.keys == [("A", "S1"), ("B", "S1")]
    assert series.sources == ["demand", "issues"]
    assert series.values.tolist() == [[10, 10, 10, 10, 10, 10], [0, 0, 0, 5, 0, 4]]
    assert series.start.tolist() == [0, 3]


def test_forecasts_are_stored_and_a_second_run_replaces_them(engine: Engine) -> None:
    snapshot = load(engine)
    run = forecast_snapshot(engine, snapshot, made_at=datetime(2026, 11, 25, 9, tzinfo=UTC))
    assert run.series == 2
    with engine.connect() as connection:
        rows = {(r.sku, r.site): r for r in connection.execute(select(SkuSiteForecast)).all()}
        months = connection.execute(select(col(ForecastMonth.sku), col(ForecastMonth.period), col(ForecastMonth.qty))
                                    .order_by(col(ForecastMonth.sku), col(ForecastMonth.period))).all()
    a, b = rows["A", "S1"], rows["B", "S1"]
    # A: ten every month, smooth; SES and Holt both say 10 with no error, SES first on the tie
    assert (a.source, a.demand_class, a.method, a.monthly_demand) == ("demand", "smooth", "ses", Decimal("10.0000"))
    assert (a.history_months, a.demand_months, a.backtest_months, a.actual) == (6, 6, 5, 50.0)
    assert (a.abs_error, a.wape, a.naive_wape, a.mase) == (0.0, 0.0, 0.0, None)  # no change before: no MASE
    # B: 5 in August, 0, 4 in October (ADI 1.5, sizes 5 and 4: intermittent); origins September and October.
    # naive: 5 then 0 against 0 then 4: |e| 9, sum e 1, over 4 of demand
    assert (b.source, b.demand_class, b.history_months, b.demand_months) == ("issues", "intermittent", 3, 2)
    assert b.method in ("croston_sba", "tsb", "adida")
    assert (b.backtest_months, b.actual, b.naive_abs_error, b.naive_error) == (2, 4.0, 9.0, 1.0)
    assert (b.naive_wape, b.naive_bias) == pytest.approx((2.25, 0.25))
    assert b.made_at == datetime(2026, 11, 25, 9, tzinfo=UTC)
    assert [m.period for m in months if m.sku == "A"] == [f"2026-{m}" for m in ("11", "12")] + [
        f"2027-{m:02d}" for m in range(1, 11)]
    assert {m.qty for m in months if m.sku == "A"} == {Decimal("10.0000")}
    assert len(months) == 24

    with engine.connect() as connection:
        summary = stored_summary(connection, run.snapshot_id)
    for cls, figures in run.classes.items():
        assert summary[cls].series == figures.series
        assert summary[cls].backtested == figures.backtested
        assert summary[cls].beats_naive == figures.beats_naive
        assert (summary[cls].wape, summary[cls].naive_wape) == pytest.approx((figures.wape, figures.naive_wape))

    forecast_snapshot(engine, snapshot, made_at=datetime(2026, 11, 26, tzinfo=UTC))
    with engine.connect() as connection:
        made = connection.execute(select(col(SkuSiteForecast.made_at))).scalars().all()
        assert len(connection.execute(select(col(ForecastMonth.sku))).all()) == 24
    assert made == [datetime(2026, 11, 26, tzinfo=UTC)] * 2


def test_a_snapshot_without_demand_or_issues_stores_no_forecasts(engine: Engine) -> None:
    with session_scope(engine) as session:
        snapshot = Snapshot(as_of=AS_OF, source="test", checksum="e" * 64, row_counts={}, loaded_by="test",
                            loaded_at=datetime(2026, 11, 25, 8, tzinfo=UTC))
        session.add(snapshot)
    run = forecast_snapshot(engine, snapshot)
    assert (run.series, run.intermittent.series, run.intermittent.wape) == (0, 0, None)
    with engine.connect() as connection:
        assert connection.execute(select(col(SkuSiteForecast.sku))).all() == []
