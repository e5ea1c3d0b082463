"""Bar charts drawn on the server as SVG, with real axes: a y axis with round ticks and their
values, an x axis with dated labels, and each bucket's exact counts in a tooltip.

Each series is one ``<path>`` (a subpath a bar), not an element a bar: a week of hours is 168
buckets, drawn for every watchlist, and a link and a tooltip a bucket made the 7-day overview
a megabyte of markup. The buckets' values, labels and where a click goes ride on the ``<svg>``
as ``data-*`` attributes, and ``static/charts.js`` (same origin, so the CSP stays strict; no
CDN) turns the pointer's position into a bucket for the tooltip and the click. Without script
the chart still shows its bars, axes and the legend's totals.

Every text that may come from outside (a watchlist's name, an outcome) is escaped here, once,
with ``markupsafe``; what the functions return is safe to put in a template as is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from markupsafe import Markup, escape

__all__ = ["BucketLinks", "Series", "bar_chart", "nice_ticks"]

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


@dataclass(frozen=True, slots=True)
class BucketLinks:
    """Where a click on a bucket with data goes: *prefix* (a query string ending in a
    parameter, e.g. ``./?watchlist=w1&range=custom``) plus ``&from=…&to=…``, the bucket's
    bounds in the hits list's form (``YYYY-MM-DDTHH:MM``, UTC), for buckets of *step* from
    *start*. The script writes the bounds: the page carries one link a chart, not one a bar."""

    prefix: str
    start: datetime
    step: timedelta


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
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    link: BucketLinks | None = None,
    stacked: bool = False,
    css: str = "",
) -> Markup:
    """An SVG bar chart of *series* over buckets named *labels*, side by side or *stacked*;
    with *link*, a click on a bucket with data opens its slice of the hits list."""
    n = max(1, len(labels))
    totals = [
        sum(s.values[i] for s in series)
        if stacked
        else max((s.values[i] for s in series), default=0)
        for i in range(len(labels))
    ]
    ticks = nice_ticks(max(totals, default=0))
    top = ticks[-1] or 1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / n
    group_w = slot * 0.8
    bar_w = group_w if stacked else group_w / max(1, len(series))
    floor = TOP + plot_h
    scale = plot_h / top

    def y(value: float) -> float:
        return floor - value * scale

    # The labels are the server's own dates or status names, never '|'; escaped all the same.
    data = (
        f'data-buckets="{len(labels)}" data-total="{sum(sum(s.values) for s in series)}" '
        f'data-left="{LEFT}" data-slot="{slot:.4f}" data-stacked="{int(stacked)}" '
        f'data-series="{escape("|".join(s.label for s in series))}" '
        f'data-values="{"|".join(",".join(map(str, s.values)) for s in series)}" '
        f'data-labels="{escape("|".join(labels))}"'
    )
    if link is not None:
        # tabindex: the keyboard reaches the buckets through the chart (static/charts.js).
        data += (
            f' data-href="{escape(link.prefix)}" data-start="{link.start:%Y-%m-%dT%H:%M}" '
            f'data-step="{int(link.step.total_seconds())}" tabindex="0"'
        )
    parts = [
        f'<svg class="chart {escape(css)}" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="100%" preserveAspectRatio="xMinYMin meet" {data}>',
        f"<title>{escape(title)}</title>",
    ]
    for tick in ticks:
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(tick):.1f}" '
            f'y2="{y(tick):.1f}"/><text class="tick" x="{LEFT - 6}" y="{y(tick) + 4:.1f}" '
            f'text-anchor="end">{tick}</text>'
        )
    parts.append(
        f'<line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{floor}"/>'
        f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{floor}" y2="{floor}"/>'
        # The bucket under the pointer, moved there by the script.
        f'<rect class="band" x="{LEFT}" y="{TOP}" width="{slot:.2f}" height="{plot_h}" '
        'visibility="hidden"/>'
    )
    every = max(1, math.ceil(n / 8))
    for i in range(0, len(labels), every):
        x = LEFT + slot * i + slot / 2
        parts.append(
            f'<text class="tick" x="{x:.1f}" y="{floor + 16}" text-anchor="middle">'
            f"{escape(labels[i])}</text>"
        )
    # One decimal is a tenth of a viewBox unit, well under a screen pixel.
    width = f"{max(bar_w - 0.5, 0.5):.1f}"
    lefts = [LEFT + slot * i + (slot - group_w) / 2 for i in range(len(labels))]
    base = [0] * len(labels)
    for k, s in enumerate(series):
        # Each bar a subpath: across to its width, down to its base (absolute, so rounding
        # never drifts), back, closed.
        d = []
        shift = 0 if stacked else bar_w * k
        for i, value in enumerate(s.values):
            if not value:
                continue
            if stacked:
                low, base[i] = base[i], base[i] + value
                d.append(f"M{lefts[i]:.1f} {y(base[i]):.1f}h{width}V{y(low):.1f}h-{width}z")
            else:
                d.append(f"M{lefts[i] + shift:.1f} {y(value):.1f}h{width}V{floor}h-{width}z")
        if d:
            parts.append(f'<path class="bar {escape(s.css)}" d="{"".join(d)}"/>')
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
