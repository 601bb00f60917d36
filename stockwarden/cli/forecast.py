"""`stockwarden forecast`: forecast every SKU-site of the latest snapshot and say, per demand class, whether
the picked methods beat the naive forecast."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from inventory.demand_classes import CLASS_ORDER, DemandClass
from inventory.forecast_backtest import BACKTEST_MONTHS, ClassSummary
from inventory.forecasting import ForecastRun, forecast_snapshot
from inventory.metrics import latest_snapshot
from stockwarden.cli.common import AsJson, database, say

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "smooth": "smooth", "erratic": "erratic", "intermittent": "intermittent", "lumpy": "lumpy",
        "no_demand": "no demand", "class": "Demand class", "series": "SKU-sites", "backtested": "backtested",
        "wape": "WAPE chosen", "naive_wape": "WAPE naive", "beats": "beat naive", "bias": "bias",
        "header": "Snapshot {snapshot} as of {as_of}: {series} SKU-sites, {months} months of history, "
                  "backtest over the last {window} months (one month ahead).",
        "beats_verdict": "Intermittent and lumpy series together: the chosen methods beat the naive forecast "
                         "(WAPE {wape} against {naive}).",
        "loses_verdict": "Intermittent and lumpy series together: the chosen methods do NOT beat the naive "
                         "forecast (WAPE {wape} against {naive}).",
        "no_verdict": "Intermittent and lumpy series together: no demand in the backtest months, so no comparison "
                      "with the naive forecast.",
        "in_sample": "Methods are picked on the same months they are measured on, which flatters them against naive.",
        "stored": "Forecasts stored for snapshot {snapshot} in {seconds:.1f} s.",
        "no_snapshot": "No snapshot loaded yet: run `stockwarden ingest PATH` or `stockwarden up`.",
        "bad_lang": "error: --lang '{lang}' is not one of {langs}",
    },
    "zh-CN": {
        "smooth": "平稳", "erratic": "波动", "intermittent": "间歇", "lumpy": "块状", "no_demand": "无需求",
        "class": "需求类别", "series": "物料-地点数", "backtested": "已回测", "wape": "所选方法 WAPE",
        "naive_wape": "朴素预测 WAPE", "beats": "优于朴素", "bias": "偏差",
        "header": "快照 {snapshot}（{as_of}）：{series} 个物料-地点，{months} 个月历史，"
                  "回测最近 {window} 个月（提前一个月预测）。",
        "beats_verdict": "间歇与块状需求合计：所选方法优于朴素预测（WAPE {wape}，朴素 {naive}）。",
        "loses_verdict": "间歇与块状需求合计：所选方法未能优于朴素预测（WAPE {wape}，朴素 {naive}）。",
        "no_verdict": "间歇与块状需求合计：回测月份内没有需求，无法与朴素预测比较。",
        "in_sample": "方法在其被评估的同一段月份上选出，因此相对朴素预测的表现偏乐观。",
        "stored": "快照 {snapshot} 的预测已保存，用时 {seconds:.1f} 秒。",
        "no_snapshot": "尚未载入快照：请运行 `stockwarden ingest PATH` 或 `stockwarden up`。",
        "bad_lang": "错误：--lang '{lang}' 不是 {langs} 之一",
    },
}

Lang = Annotated[str, typer.Option("--lang", help="en or zh-CN.")]


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _summary_json(summary: ClassSummary) -> dict[str, object]:
    return {"series": summary.series, "backtested": summary.backtested, "actual": summary.actual,
            "wape": summary.wape, "naive_wape": summary.naive_wape, "bias": summary.bias,
            "beats_naive": summary.beats_naive}


def verdict(run: ForecastRun, lang: str) -> str:
    """The plain sentence on the intermittent series: beat naive, or not."""
    words, both = TEXTS[lang], run.intermittent
    if both.wape is None:
        return words["no_verdict"]
    key = "beats_verdict" if both.better_than_naive else "loses_verdict"
    return words[key].format(wape=_share(both.wape), naive=_share(both.naive_wape))


def forecast_command(lang: Lang = "en", as_json: AsJson = False) -> None:
    """Forecast every SKU-site of the latest snapshot (backtest, pick, store) and print the accuracy per demand class."""
    if lang not in TEXTS:
        say(TEXTS["en"]["bad_lang"].format(lang=lang, langs=", ".join(TEXTS)))
        raise typer.Exit(1)
    words = TEXTS[lang]
    engine = database()
    with engine.connect() as connection:
        snapshot = latest_snapshot(connection)
    if snapshot is None:
        say(words["no_snapshot"])
        raise typer.Exit(1)
    run = forecast_snapshot(engine, snapshot, progress=say)
    if as_json:
        typer.echo(json.dumps({"snapshot": run.snapshot_id, "as_of": run.as_of, "series": run.series,
                               "classes": {str(c): _summary_json(run.classes[c]) for c in CLASS_ORDER},
                               "intermittent_and_lumpy": _summary_json(run.intermittent),
                               "beats_naive": run.intermittent.better_than_naive
                               if run.intermittent.wape is not None else None}, ensure_ascii=False, indent=1))
        return
    typer.echo(words["header"].format(snapshot=run.snapshot_id, as_of=run.as_of, series=f"{run.series:,}",
                                      months=run.months, window=BACKTEST_MONTHS))
    heads = [words[k] for k in ("class", "series", "backtested", "wape", "naive_wape", "beats", "bias")]
    typer.echo("  ".join(f"{h:>14}" for h in heads))
    for cls in CLASS_ORDER:
        s = run.classes[cls]
        cells = [words[DemandClass(cls).value], f"{s.series:,}", f"{s.backtested:,}", _share(s.wape),
                 _share(s.naive_wape), f"{s.beats_naive:,}", _share(s.bias)]
        typer.echo("  ".join(f"{c:>14}" for c in cells))
    typer.echo(verdict(run, lang))
    typer.echo(words["in_sample"])
    say(words["stored"].format(snapshot=run.snapshot_id, seconds=run.seconds))
