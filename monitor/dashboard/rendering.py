"""The Jinja2 filters that turn rows into markup: marked snippets, sparklines and short times.

Feed text reaches a page only through autoescaping or through :func:`marked_snippet`, which
escapes every piece of the snippet before it adds the marks. :func:`sparkline` writes numbers
only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from markupsafe import Markup, escape

__all__ = ["marked_snippet", "short_time", "sparkline"]


def marked_snippet(row: Mapping[str, Any]) -> Markup:
    """A hit's snippet as HTML: escaped, with its [start, end) highlight spans in ``<mark>``;
    bad spans are ignored."""
    text, spans = row["snippet"], row.get("highlights") or []
    out: list[str] = []
    pos = 0
    for span in sorted(s for s in spans if isinstance(s, list | tuple) and len(s) == 2):
        start, end = int(span[0]), int(span[1])
        if start < pos or end <= start or end > len(text):
            continue
        out.append(str(escape(text[pos:start])))
        out.append(f"<mark>{escape(text[start:end])}</mark>")
        pos = end
    out.append(str(escape(text[pos:])))
    return Markup("".join(out))  # noqa: S704 (every piece was escaped above)


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
