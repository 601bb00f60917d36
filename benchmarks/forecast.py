"""Benchmark: classify, backtest and forecast 20,000 generated SKU-sites of 36 months; print seconds,
series per second, peak RSS, and per demand class the picked methods' WAPE against naive.

    python -m benchmarks.forecast
    python -m benchmarks.forecast --series 50000 --months 48 --seed 3

Target (issue 17): 20,000 SKU-sites with 36 months in under 10 s on this 2-core machine. The series are
seeded and shaped like device demand: a few smooth high runners, erratic ones, intermittent and lumpy
hospital demand, seasonal reagents, launches (history starting late) and phase-outs (demand that stops).
The database is not part of the timing (inventory.demand_series reads a panel with two grouped queries).
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from inventory.demand_classes import CLASS_ORDER, classify
from inventory.forecast_backtest import backtest, intermittent_summary, summarise
from inventory.forecast_methods import Array, Index


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def generate(series: int, months: int, seed: int) -> tuple[Array, Index]:
    """A seeded panel: per series a chance of demand in a month, a size distribution and a shape."""
    rng = np.random.default_rng(seed)
    kind = rng.choice(6, size=series, p=[0.10, 0.12, 0.38, 0.25, 0.05, 0.10])
    chance = np.choose(kind, [0.97, 0.9, 0.35, 0.2, 0.8, 0.3])[:, None]
    shape = np.choose(kind, [12.0, 1.2, 6.0, 0.8, 8.0, 3.0])[:, None]
    scale = rng.lognormal(1.5, 1.0, size=series)[:, None]
    sizes = rng.gamma(shape, scale / shape * 4.0, size=(series, months))
    month = np.arange(months)[None, :]
    seasonal = np.where(kind[:, None] == 4, 1.0 + 0.6 * np.sin(2 * np.pi * month / 12), 1.0)
    demand = np.where(rng.random((series, months)) < chance * np.minimum(seasonal, 1.0), sizes * seasonal, 0.0)
    stopped = rng.integers(months // 2, months, size=series)
    demand = np.where((kind[:, None] == 5) & (month >= stopped[:, None]), 0.0, np.round(demand))
    start = np.where(rng.random(series) < 0.08, rng.integers(1, months - 6, size=series), 0)
    demand = np.where(month < start[:, None], 0.0, demand)
    first = np.where(demand > 0, month, months).min(axis=1)
    return demand, np.minimum(np.maximum(start, first), months - 1).astype(np.int64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=20_000)
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()

    values, start = generate(args.series, args.months, args.seed)
    print(f"generated {args.series:,} SKU-sites x {args.months} months (not part of the target)", flush=True)

    started = time.perf_counter()
    classified = classify(values, start)
    classify_s = time.perf_counter() - started
    results = backtest(values, start, classified=classified)
    total = time.perf_counter() - started

    classes = summarise(results)
    print(f"{'class':>14} {'series':>8} {'WAPE chosen':>12} {'WAPE naive':>11} {'beat naive':>11}")
    for cls in CLASS_ORDER:
        s = classes[cls]
        if s.series:
            print(f"{cls.value:>14} {s.series:>8,} {s.wape or 0:>12.1%} {s.naive_wape or 0:>11.1%} {s.beats_naive:>11,}")
    both = intermittent_summary(classes)
    verdict = "beat" if both.better_than_naive else "do NOT beat"
    print(f"intermittent + lumpy: the chosen methods {verdict} naive "
          f"(WAPE {both.wape or 0:.1%} against {both.naive_wape or 0:.1%}; picked on the months they are measured on)")
    print(f"classification    {classify_s:.2f} s")
    print(f"total             {total:.2f} s for classification, backtest (6 origins) and 12-month forecast "
          f"(target < 10 s) = {args.series / total:,.0f} series/s")
    print(f"peak RSS          {peak_rss_mib():,.0f} MiB")


if __name__ == "__main__":
    main()
