"""The Jinja2 filters that turn rows into markup: marked snippets, sparklines and short times.

Feed text reaches a page only through autoescaping or through :func:`marked_snippet`, which
leaves the escaping and the span rules to ``monitor.alerts.formatting.mark_html``, the one
implementation that alerts use too. :func:`sparkline` writes numbers only. Every value a
template prints passes :func:`readable` first, which removes bidi controls with the alerts'
rule (``formatting.neutralise``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from markupsafe import Markup

from monitor.alerts.formatting import mark_html, neutralise

__all__ = ["marked_snippet", "readable", "short_time", "sparkline"]


def readable(value: Any) -> Any:
    """*value* without bidi control characters, if it is text (Jinja's ``finalize``: every
    ``{{ ... }}`` of every page). Markup stays Markup: removing characters from it cannot make
    a tag, since every ``<`` in it is ours."""
    if isinstance(value, Markup):
        return Markup(neutralise(str(value)))  # noqa: S704 (escaped already, only removed from)
    if isinstance(value, str):
        return neutralise(value)
    return value


def marked_snippet(row: Mapping[str, Any]) -> Markup:
    """A hit's snippet as HTML: escaped, with the matched words in ``<mark>`` (style.css, and
    what static/app.js adds to live rows)."""
    return mark_html(row["snippet"], row.get("highlights") or (), tag="mark")


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
