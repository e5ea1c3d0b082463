"""Bar charts drawn on the server as SVG, with real axes: a y axis with round ticks and their
values, an x axis with dated labels, and each bar's exact count in its tooltip.

No script and no CDN: the dashboard works offline and the CSP stays strict. Every text that
may come from outside (a watchlist's name, an outcome) is escaped here, once, with
``markupsafe``; what the functions return is safe to put in a template as is.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from markupsafe import Markup, escape

__all__ = ["Series", "bar_chart", "nice_ticks"]

WIDTH = 760
HEIGHT = 200
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 14, 34


@dataclass(frozen=True, slots=True)
class Series:
    """One kind of bar: its name in the legend and tooltips, a CSS class for its colour, and
    one value per bucket."""

    label: str
    css: str
    values: Sequence[int]


def nice_ticks(top: int, count: int = 4) -> list[int]:
    """Round y-axis ticks from 0 to at least *top*: steps of 1, 2 or 5 times a power of ten."""
    if top <= 0:
        return [0, 1]
    raw = top / count
    power = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    step = max(1, int(step))
    last = math.ceil(top / step) * step
    return list(range(0, last + 1, step))


def bar_chart(
    buckets: Sequence[datetime | str],
    series: Sequence[Series],
    *,
    title: str,
    label: Callable[[datetime | str], str],
    link: Callable[[int], str | None] | None = None,
    stacked: bool = False,
    css: str = "",
) -> Markup:
    """An SVG bar chart of *series* over *buckets*, side by side or *stacked*; *label* names
    a bucket on the x axis and in tooltips, and *link* (given a bucket's index) makes its
    bars a link."""
    n = max(1, len(buckets))
    totals = [
        sum(s.values[i] for s in series)
        if stacked
        else max((s.values[i] for s in series), default=0)
        for i in range(len(buckets))
    ]
    ticks = nice_ticks(max(totals, default=0))
    top = ticks[-1] or 1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / n
    group_w = slot * 0.8
    bar_w = group_w if stacked else group_w / max(1, len(series))

    def y(value: float) -> float:
        return TOP + plot_h - plot_h * value / top

    parts = [
        f'<svg class="chart {escape(css)}" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="100%" preserveAspectRatio="xMinYMin meet" data-buckets="{len(buckets)}" '
        f'data-total="{sum(sum(s.values) for s in series)}">',
        f"<title>{escape(title)}</title>",
    ]
    for tick in ticks:
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(tick):.1f}" '
            f'y2="{y(tick):.1f}"/><text class="tick" x="{LEFT - 6}" y="{y(tick) + 4:.1f}" '
            f'text-anchor="end">{tick}</text>'
        )
    parts.append(
        f'<line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{TOP + plot_h}"/>'
        f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + plot_h}" '
        f'y2="{TOP + plot_h}"/>'
    )
    every = max(1, math.ceil(n / 8))
    # Escaped once, not once a bar: a week of hours is 168 buckets, drawn for every watchlist.
    kinds = [(str(escape(s.css)), str(escape(s.label)), s.values) for s in series]
    width = f"{max(bar_w - 0.5, 0.5):.1f}"
    scale = plot_h / top
    for i, bucket in enumerate(buckets):
        x0 = LEFT + slot * i + (slot - group_w) / 2
        names = str(escape(label(bucket)))
        bars = []
        said = []
        base = 0
        for k, (kind, what, values) in enumerate(kinds):
            value = values[i]
            if not value:
                continue
            if stacked:
                y_top, x = y(base + value), x0
                base += value
            else:
                y_top, x = y(value), x0 + bar_w * k
            bars.append(
                f'<rect class="bar {kind}" x="{x:.1f}" y="{y_top:.1f}" width="{width}" '
                f'height="{value * scale:.1f}"/>'
            )
            said.append(f"{value} {what}")
        if bars:
            # One tooltip for the bucket's bars: a week of hours is 168 buckets a chart, and
            # the page's size is what a browser waits for.
            inside = f"<title>{names}: {', '.join(said)}</title>{''.join(bars)}"
            target = link(i) if link is not None else None
            if target:
                parts.append(f'<a href="{escape(target)}">{inside}</a>')
            else:
                parts.append(f"<g>{inside}</g>")
        if i % every == 0:
            parts.append(
                f'<text class="tick" x="{x0 + group_w / 2:.1f}" y="{TOP + plot_h + 16}" '
                f'text-anchor="middle">{names}</text>'
            )
    legend_x = LEFT
    for s in series:
        parts.append(
            f'<rect class="bar {escape(s.css)}" x="{legend_x}" y="{HEIGHT - 10}" width="10" '
            f'height="8"/><text class="legend" x="{legend_x + 14}" y="{HEIGHT - 2}">'
            f"{escape(s.label)} ({sum(s.values)})</text>"
        )
        legend_x += 14 + 8 * (len(s.label) + 8)
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 (every outside text above is escaped)
