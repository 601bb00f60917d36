"""`stockwarden forecast` as a person runs it: on the demo company, per demand class against naive, in en and zh-CN."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from inventory.forecast_models import SkuSiteForecast
from stockwarden.temporal import free_port
from tests.support.cli import run

AS_OF = "2026-11-25"


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {"STOCKWARDEN_DATABASE_URL": database_url, "STOCKWARDEN_VAR_DIR": str(tmp_path / "var"),
            "STOCKWARDEN_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}"}


def test_forecast_on_the_demo_company(env: dict[str, str], tmp_path: Path, engine: Engine) -> None:
    nothing = run("forecast", env=env, cwd=tmp_path)
    assert nothing.returncode == 1 and "No snapshot loaded yet" in nothing.stderr

    out = tmp_path / "demo"
    assert run("demo-data", "--out", str(out), "--lots", "300", "--as-of", AS_OF, env=env, cwd=tmp_path).returncode == 0
    assert run("ingest", str(out), "--as-of", AS_OF, env=env, cwd=tmp_path).returncode == 0

    shown = run("forecast", env=env, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "Classified and backtested" in shown.stderr and "Stored" in shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].startswith("Snapshot 1 as of 2026-11-25:")
    assert lines[1].split() == ["Demand", "class", "SKU-sites", "backtested", "WAPE", "chosen", "WAPE", "naive",
                                "beat", "naive", "bias"]
    assert [line.split()[0] for line in lines[2:6]] == ["smooth", "erratic", "intermittent", "lumpy"]
    assert "Intermittent and lumpy series together: the chosen methods" in lines[7]

    document = json.loads(run("forecast", "--json", env=env, cwd=tmp_path).stdout)
    with engine.connect() as connection:
        stored = connection.execute(select(func.count()).select_from(SkuSiteForecast)).scalar_one()
    assert document["series"] == stored == sum(c["series"] for c in document["classes"].values()) > 0
    both = document["intermittent_and_lumpy"]
    assert document["beats_naive"] == (both["wape"] < both["naive_wape"])
    verdict = "beat the naive forecast" if document["beats_naive"] else "do NOT beat the naive forecast"
    assert verdict in shown.stdout

    chinese = run("forecast", "--lang", "zh-CN", env=env, cwd=tmp_path)
    assert chinese.returncode == 0 and "需求类别" in chinese.stdout and "间歇与块状需求合计" in chinese.stdout
    wrong = run("forecast", "--lang", "fr", env=env, cwd=tmp_path)
    assert wrong.returncode == 1 and "--lang 'fr'" in wrong.stderr
