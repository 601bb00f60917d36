"""Charts for the pages as plain SVG geometry (no chart script, nothing from the internet), and numbers
shown the reader's way (Babel). The SVG has a viewBox, so it scales down to a phone's width."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from babel.numbers import format_decimal, format_percent

WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 640, 240, 8, 40, 20


def show(value: Decimal | float | None, kind: str, lang: str) -> str:
    """money, ratio, days, count or quantity (decimals only where it has them); "–" where there is no value."""
    if value is None:
        return "–"
    locale = lang.replace("-", "_")
    number = Decimal(str(value))
    if kind == "ratio":
        return format_percent(number, format="#,##0.0%", locale=locale)
    if kind == "days":
        return format_decimal(number, format="#,##0.0", locale=locale)
    if kind == "quantity":
        return format_decimal(number, format="#,##0.######", locale=locale)
    if kind == "count":
        return format_decimal(number, format="#,##0", locale=locale)
    return format_decimal(number, format="#,##0.00", locale=locale)


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    text: str


@dataclass(frozen=True)
class Chart:
    title: str
    width: int
    height: int
    baseline: float
    bars: list[Bar]
    points: str
    """For a line chart: the polyline's points; empty for bars."""


def _scale(series: list[tuple[str, Decimal | None]]) -> float:
    top = max((float(v) for _, v in series if v is not None), default=0.0)
    return (HEIGHT - BOTTOM - TOP) / top if top > 0 else 0.0


def bar_chart(title: str, series: list[tuple[str, Decimal | None]], kind: str, lang: str) -> Chart:
    step = (WIDTH - 2 * LEFT) / max(len(series), 1)
    scale, baseline = _scale(series), HEIGHT - BOTTOM
    bars = []
    for index, (label, value) in enumerate(series):
        height = float(value or 0) * scale
        bars.append(Bar(LEFT + index * step + step * 0.15, baseline - height, step * 0.7, height, label, show(value, kind, lang)))
    return Chart(title, WIDTH, HEIGHT, baseline, bars, "")


def line_chart(title: str, series: list[tuple[str, Decimal | None]], kind: str, lang: str) -> Chart:
    """Months without a value are left out of the line but keep their place on the axis."""
    chart = bar_chart(title, series, kind, lang)
    points = " ".join(f"{bar.x + bar.width / 2:.1f},{bar.y:.1f}" for bar, (_, value) in zip(chart.bars, series, strict=True)
                      if value is not None)
    return Chart(title, chart.width, chart.height, chart.baseline, chart.bars, points)
