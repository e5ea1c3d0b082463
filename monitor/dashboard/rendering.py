"""The Jinja2 filters that turn rows into markup: marked snippets, sparklines and short times.

Feed text reaches a page only through autoescaping or through :func:`marked_snippet`, which
leaves the escaping and the span rules to ``monitor.alerts.formatting.mark_html``, the one
implementation that alerts use too. :func:`sparkline` writes numbers only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from markupsafe import Markup

from monitor.alerts.formatting import mark_html

__all__ = ["marked_snippet", "short_time", "sparkline"]


def _pairs(highlights: Any) -> list[tuple[int, int]]:
    """The ``[start, end]`` pairs of a hit's stored highlights.

    mark_html sorts the spans and skips empty, overlapping and out-of-range ones itself, but
    raises on an entry that is not a pair of integers; a page shows such an entry (a bug
    elsewhere) as unmarked text rather than failing.
    """
    pairs: list[tuple[int, int]] = []
    for span in highlights if isinstance(highlights, list | tuple) else ():
        if not (isinstance(span, list | tuple) and len(span) == 2):
            continue
        try:
            pairs.append((int(span[0]), int(span[1])))
        except (TypeError, ValueError):
            continue
    return pairs


def marked_snippet(row: Mapping[str, Any]) -> Markup:
    """A hit's snippet as HTML: escaped, with the matched words in ``<mark>``."""
    html = str(mark_html(row["snippet"], _pairs(row.get("highlights"))))
    # mark_html wraps matches in <strong>, which email clients render; on a page a search
    # match is a <mark> (style.css, and what static/app.js adds to live rows). Feed text in
    # `html` is escaped, so every <strong> in it is one that mark_html wrote.
    html = html.replace("<strong>", "<mark>").replace("</strong>", "</mark>")
    return Markup(html)  # noqa: S704 (escaped by mark_html; only its own tags renamed)


def sparkline(counts: list[int], width: int = 150, height: int = 28) -> Markup:
    """Hits per day as an inline SVG bar chart: numbers only, no feed text, no script."""
    top = max(counts) or 1
    bar = width / len(counts)
    rects = []
    for i, n in enumerate(counts):
        h = round(n / top * (height - 2), 1) if n else 0
        rects.append(
            f'<rect x="{i * bar:.1f}" y="{height - h:.1f}" width="{bar - 1:.1f}" height="{h}">'
            f"<title>{n}</title></rect>"
        )
    return Markup(  # noqa: S704 (numbers only)
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="hits per day, 30 days">{"".join(rects)}</svg>'
    )


def short_time(value: str | None) -> str:
    """An ISO time as ``YYYY-MM-DD HH:MM``, or a dash when there is none."""
    return value[:16].replace("T", " ") if value else "—"
