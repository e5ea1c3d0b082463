"""The overview's SVG: one path a series whose bars have the right heights and stack, the
values and links the script reads, and a 7-day page of 20 watchlists that stays small."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from monitor.dashboard.charts import BOTTOM, HEIGHT, TOP, BucketLinks, Series, bar_chart
from monitor.dashboard.overview import Overview, WatchlistSeries, charts

BAR = re.compile(r"M([\d.]+) ([\d.]+)h([\d.]+)V([\d.]+)h-([\d.]+)z")
FLOOR = HEIGHT - BOTTOM
PLOT = FLOOR - TOP


def bars(svg: str, css: str) -> list[tuple[float, float, float]]:
    """(x, top, bottom) of each bar in the path of class *css*."""
    [d] = re.findall(rf'<path class="bar {css}" d="([^"]+)"/>', svg)
    found = BAR.findall(d)
    assert "".join(f"M{x} {t}h{w}V{b}h-{w2}z" for x, t, w, b, w2 in found) == d
    return [(float(x), float(t), float(b)) for x, t, _, b, _ in found]


def test_it_draws_a_path_a_series_with_a_bar_a_nonzero_value() -> None:
    svg = str(
        bar_chart(
            ["a", "b", "c", "d"],
            [
                Series("stories", "c-stories", [2, 0, 5, 1]),
                Series("articles", "c-articles", [4, 0, 10, 1]),
            ],
            title="t",
        )
    )
    assert svg.count("<path") == 2 and "<a " not in svg
    stories, articles = bars(svg, "c-stories"), bars(svg, "c-articles")
    assert len(stories) == len(articles) == 3  # the zero bucket draws nothing
    top = 10  # the y axis ends at the largest value here
    for (_, t, b), value in zip(articles, [4, 10, 1], strict=True):
        assert b == FLOOR and abs((b - t) - PLOT * value / top) < 0.11
    # Side by side: each story bar is left of the article bar of its bucket, in bucket order.
    assert [x for x, _, _ in stories] == sorted(x for x, _, _ in stories)
    assert all(s[0] < a[0] for s, a in zip(stories, articles, strict=True))
    assert 'data-values="2,0,5,1|4,0,10,1"' in svg and 'data-labels="a|b|c|d"' in svg
    assert 'data-series="stories|articles"' in svg and "data-href" not in svg


def test_it_stacks_bars_one_on_another() -> None:
    svg = str(
        bar_chart(
            ["x", "y"],
            [Series("new", "c-new", [3, 0]), Series("error", "c-error", [1, 4])],
            title="t",
            stacked=True,
        )
    )
    [(x_new, top_new, bottom_new)] = bars(svg, "c-new")
    (x_err, top_err, bottom_err), (_, top_only, bottom_only) = bars(svg, "c-error")
    assert x_new == x_err and bottom_new == FLOOR and bottom_err == top_new
    assert top_err == TOP  # 3 + 1 reaches the top tick, 4
    assert bottom_only == FLOOR and top_only == TOP


def test_it_escapes_outside_text_in_the_data_the_script_reads() -> None:
    svg = str(
        bar_chart(
            ['<b onmouseover="x">'],
            [Series('"><script>', "c-other", [1])],
            title="<i>",
            link=BucketLinks(
                './?watchlist="><svg>', datetime(2026, 1, 1, tzinfo=UTC), timedelta(hours=1)
            ),
        )
    )
    assert "<script>" not in svg and "<b " not in svg and "<svg>" not in svg
    assert 'data-href="./?watchlist=&#34;&gt;&lt;svg&gt;"' in svg
    assert 'data-start="2026-01-01T00:00" data-step="3600"' in svg


def test_a_week_of_hours_for_20_watchlists_stays_small() -> None:
    start = datetime(2026, 3, 2, 13, tzinfo=UTC)
    buckets = [start + timedelta(hours=h) for h in range(168)]
    rows = [
        WatchlistSeries(
            f"w{n}",
            f"Watchlist {n}",
            [40 + (h * 7 + n) % 60 for h in range(168)],
            [70 + (h * 11 + n) % 90 for h in range(168)],
        )
        for n in range(20)
    ]
    data = Overview(
        "7d", "hour", buckets, rows, {"new": [50] * 168, "error": [3] * 168}, buckets[::24], [9] * 7
    )
    made = charts(data)
    svg = "".join(str(w["svg"]) for w in made["watchlists"])
    # Every bucket of every chart has its two bars, values and a link prefix, in 15 KB a
    # chart: the same week drawn as a link and a rect a bar was 1.06 MB.
    assert svg.count('<path class="bar') == 40
    assert sum(len(bars(str(w["svg"]), "c-stories")) for w in made["watchlists"]) == 20 * 168
    assert svg.count('data-href="./?watchlist=w') == 20
    assert len(svg) < 20 * 15_000
