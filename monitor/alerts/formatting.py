"""Rendering alerts for Slack (Block Kit plus a plain-text fallback) and email (plain text plus
HTML), safely.

Everything that came from a feed (headline, snippet, source name, URL) is hostile until
escaped, and each format escapes differently:

- Slack ``mrkdwn``: ``&``, ``<`` and ``>`` become ``&amp;``, ``&lt;`` and ``&gt;``: these are
  the only three characters Slack treats as control characters, and escaping them is what
  stops ``<!channel>`` from pinging a channel and ``<https://evil.example|Click here>`` from
  forging a link (https://api.slack.com/reference/surfaces/formatting#escaping).
- Link targets are kept only when they are plain ``http(s)`` URLs; ``javascript:`` and friends
  are dropped, and the characters that would end a Slack link early are percent-encoded.
- Email headers: CR, LF and every other control character become spaces, so a headline cannot
  add a header; the HTML part is a Jinja2 template with autoescape on.

The snippet is plain text with highlight spans; the spans are marked after escaping, by
splitting the text at the spans and escaping each piece, so no markup from a feed survives.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import quote, urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from monitor.alerts.message import AlertItem, Message
from monitor.states import DeliveryKind

__all__ = [
    "email_bodies",
    "email_subject",
    "header_text",
    "mark_html",
    "mark_plain",
    "mark_slack",
    "plain_text",
    "safe_url",
    "slack_escape",
    "slack_link",
    "slack_payload",
]

SNIPPET_LIMIT = 600
# Slack allows 50 blocks per message and 3,000 characters per section text; a digest keeps
# well under both and says how many hits it left out.
SLACK_MAX_ITEMS = 15
SLACK_SECTION_LIMIT = 2900
SLACK_TEXT_LIMIT = 3000
EMAIL_MAX_ITEMS = 200
SUBJECT_LIMIT = 180

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_SPACES = re.compile(r"\s+")


# -- escaping helpers -----------------------------------------------------------------------


def slack_escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def one_line(text: str) -> str:
    """Control characters (CR, LF, NUL, ...) become spaces; runs of whitespace collapse."""
    return _SPACES.sub(" ", _CONTROL.sub(" ", text)).strip()


def header_text(text: str, limit: int = SUBJECT_LIMIT) -> str:
    """Text safe for an email header: one line, no control characters, at most *limit*."""
    return _truncate(one_line(text), limit)


def safe_url(url: str | None) -> str | None:
    """*url* if it is an absolute http(s) URL, percent-encoding what could break out of a
    link in Slack or HTML; otherwise None (the headline is then shown without a link)."""
    if not url:
        return None
    url = url.strip()
    if _CONTROL.search(url) or " " in url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    # Keep every character a URL may hold except those that end a Slack link or an HTML
    # attribute; those are percent-encoded.
    return quote(url, safe="/:?#[]@!$&'()*+,;=%-._~")


def slack_link(url: str | None, label: str) -> str:
    """A Slack link ``<url|label>`` with the label escaped, or the escaped label alone."""
    target = safe_url(url)
    text = slack_escape(one_line(label)) or "(untitled)"
    if target is None:
        return text
    return f"<{target}|{text}>"


def _spans(text: str, highlights: Iterable[Iterable[int]]) -> list[tuple[int, int]]:
    """Sorted, clipped, non-overlapping spans. An entry that is not a pair of integers (a bug
    elsewhere, or a stored row edited by hand) is skipped: the text shows unmarked."""
    pairs: list[tuple[int, int]] = []
    for entry in highlights if isinstance(highlights, Iterable) else ():
        try:
            first, second = entry
            pairs.append((int(first), int(second)))
        except (TypeError, ValueError):
            continue
    spans: list[tuple[int, int]] = []
    for span in sorted(pairs):
        start, end = max(0, span[0]), min(len(text), span[1])
        if start >= end or (spans and start < spans[-1][1]):
            continue
        spans.append((start, end))
    return spans


def _mark(
    text: str,
    highlights: Iterable[Iterable[int]],
    plain: Callable[[str], str],
    marked: Callable[[str], str],
) -> str:
    pieces: list[str] = []
    position = 0
    for start, end in _spans(text, highlights):
        pieces.append(plain(text[position:start]))
        pieces.append(marked(text[start:end]))
        position = end
    pieces.append(plain(text[position:]))
    return "".join(pieces)


def _bold_slack(word: str) -> str:
    # Slack's bold needs the asterisks against non-space characters; a match that starts or
    # ends with a space is trimmed so the marking still works.
    stripped = word.strip()
    if not stripped:
        return slack_escape(word)
    lead = word[: len(word) - len(word.lstrip())]
    trail = word[len(word.rstrip()) :]
    return f"{lead}*{slack_escape(stripped)}*{trail}"


def mark_slack(snippet: str, highlights: Iterable[Iterable[int]]) -> str:
    """The snippet as Slack mrkdwn: escaped, matched words in bold."""
    return _mark(snippet, highlights, slack_escape, _bold_slack)


def mark_html(snippet: str, highlights: Iterable[Iterable[int]], *, tag: str = "strong") -> Markup:
    """The snippet as HTML: escaped, matched words in ``<strong>`` (what email clients
    render), or in *tag* (``mark`` on the dashboard, where a match is a search result)."""
    # Safe: every piece of feed text was escaped by _mark before it is wrapped, and the tag
    # is one of ours.
    return Markup(  # noqa: S704
        _mark(
            snippet,
            highlights,
            lambda t: str(escape(t)),
            lambda t: f"<{tag}>{escape(t)}</{tag}>",
        )
    )


def mark_plain(
    snippet: str, highlights: Iterable[Iterable[int]], *, left: str = "*", right: str = "*"
) -> str:
    """The snippet as plain text, matched words between *left* and *right* (asterisks in
    the console log, brackets in the terminal's ``monitor watchlists test``)."""
    return _mark(snippet, highlights, lambda t: t, lambda t: f"{left}{t}{right}")


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _cut_snippet(item: AlertItem) -> tuple[str, tuple[tuple[int, int], ...]]:
    snippet = one_line_keep_length(item.snippet)
    if len(snippet) <= SNIPPET_LIMIT:
        return snippet, item.highlights
    cut = snippet[: SNIPPET_LIMIT - 1] + "…"
    spans = tuple((s, e) for s, e in item.highlights if e <= SNIPPET_LIMIT - 1)
    return cut, spans


def one_line_keep_length(text: str) -> str:
    """Control characters become spaces one for one, so highlight offsets stay right."""
    return "".join(" " if _CONTROL.match(ch) else ch for ch in text)


def when(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _meta(item: AlertItem) -> list[str]:
    parts = [one_line(item.source)] if item.source else []
    if item.published_at:
        parts.append(when(item.published_at))
    if item.source_count > 1:
        parts.append(f"{item.source_count} sources")
    return parts


def _grouped(items: Iterable[AlertItem]) -> list[tuple[str, list[AlertItem]]]:
    groups: dict[str, list[AlertItem]] = {}
    for item in items:
        groups.setdefault(one_line(item.watchlist_name or item.watchlist_id), []).append(item)
    return list(groups.items())


# -- Slack ----------------------------------------------------------------------------------


def _slack_item_blocks(item: AlertItem, *, with_watchlist: bool) -> list[dict[str, Any]]:
    lines = [f"*{slack_link(item.url, item.title)}*"]
    meta = [slack_escape(part) for part in _meta(item)]
    if with_watchlist:
        meta.append(f"watchlist: {slack_escape(one_line(item.watchlist_name))}")
    if meta:
        lines.append(" · ".join(meta))
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": _slack_cut("\n".join(lines))}}
    ]
    snippet, spans = _cut_snippet(item)
    if snippet:
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": _slack_cut(mark_slack(snippet, spans))},
            }
        )
    context = []
    if item.matched:
        matched = ", ".join(one_line(t) for t in item.matched)
        where = f" in {', '.join(item.fields)}" if item.fields else ""
        context.append(f"Matched {slack_escape(matched)}{slack_escape(where)}")
    if item.also_reported_by:
        context.append("Also reported by " + slack_escape(", ".join(item.also_reported_by)))
    if context:
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": _slack_cut(" · ".join(context))}],
            }
        )
    return blocks


def _slack_cut(text: str) -> str:
    # Never cut inside an escape or a link: cut at the last line break before the limit.
    if len(text) <= SLACK_SECTION_LIMIT:
        return text
    head = text[:SLACK_SECTION_LIMIT]
    for stop in ("\n", " "):
        index = head.rfind(stop)
        if index > 0:
            head = head[:index]
            break
    if "<" in head[head.rfind(">") + 1 :] or "&" in head[-5:]:
        head = head[: max(head.rfind("<"), head.rfind("&"))]
    return head + " …"


def slack_payload(message: Message) -> tuple[str, list[dict[str, Any]]]:
    """The fallback ``text`` (notifications, screen readers) and the Block Kit ``blocks``."""
    blocks: list[dict[str, Any]] = []
    text = plain_summary(message, escape_for=slack_escape)
    if message.heading:
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"*{slack_escape(one_line(message.heading))}*"},
            }
        )
    many = message.kind in (DeliveryKind.DIGEST, DeliveryKind.THROTTLE)
    candidates = message.items[:SLACK_MAX_ITEMS] if many else message.items[:1]
    shown = 0
    # Slack refuses more than 50 blocks: keep two for the group header and the 'more' line.
    budget = 48 - len(blocks)
    if message.kind == DeliveryKind.DIGEST:
        for name, items in _grouped(candidates):
            group = [{"type": "header", "text": _plain_text_object(name, 150)}]
            for item in items:
                more = _slack_item_blocks(item, with_watchlist=False)
                if len(blocks) + len(group) + len(more) + 1 > budget:
                    break
                group.extend(more)
                shown += 1
            if len(group) > 1:
                blocks.extend([*group, {"type": "divider"}])
    else:
        for item in candidates:
            more = _slack_item_blocks(item, with_watchlist=True)
            if len(blocks) + len(more) > budget:
                break
            blocks.extend(more)
            shown += 1
    omitted = message.omitted + (len(message.items) - shown)
    if omitted > 0:
        blocks.append(
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": f"…and {omitted} more, listed on the dashboard."}
                ],
            }
        )
    return text, blocks


def _plain_text_object(text: str, limit: int) -> dict[str, Any]:
    # plain_text is never parsed for mentions or links, so it needs no escaping.
    return {"type": "plain_text", "text": _truncate(one_line(text) or "-", limit), "emoji": False}


def plain_summary(message: Message, *, escape_for: Callable[[str], str] = lambda t: t) -> str:
    """One line or a few: what a notification or the console log shows."""
    if message.kind == DeliveryKind.TEST:
        return escape_for(one_line(message.heading or "Test alert from monitor"))
    if message.kind in (DeliveryKind.DIGEST, DeliveryKind.THROTTLE):
        count = len(message.items) + message.omitted
        head = one_line(message.heading) or f"{count} hits"
        return _truncate(escape_for(head), SLACK_TEXT_LIMIT)
    item = message.items[0]
    line = f"[{one_line(item.watchlist_name)}] {one_line(item.title)}"
    if item.source:
        line += f" ({one_line(item.source)})"
    if message.heading:
        line = f"{one_line(message.heading)}: {line}"
    return _truncate(escape_for(line), SLACK_TEXT_LIMIT)


def plain_text(message: Message) -> str:
    """The whole message as plain text (the console log and the email's text part)."""
    return _environment().get_template("email.txt.j2").render(**_context(message)).strip() + "\n"


# -- email ----------------------------------------------------------------------------------


def email_subject(message: Message) -> str:
    """``[monitor] <watchlist>: <headline>``, one line whatever the feed put in it."""
    if message.kind == DeliveryKind.TEST:
        return header_text(f"[monitor] {message.heading or 'Test alert'}")
    if message.kind in (DeliveryKind.DIGEST, DeliveryKind.THROTTLE):
        return header_text(f"[monitor] {message.heading}")
    item = message.items[0]
    prefix = f"{message.heading}: " if message.heading else ""
    return header_text(f"[monitor] {prefix}{item.watchlist_name}: {item.title}")


def email_bodies(message: Message) -> tuple[str, str]:
    """The plain-text and HTML parts."""
    context = _context(message)
    environment = _environment()
    plain = environment.get_template("email.txt.j2").render(**context).strip() + "\n"
    html = environment.get_template("email.html.j2").render(**context)
    return plain, html


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("monitor.alerts", "templates"),
        # On for the HTML template (and anything but a .txt template), so feed text is escaped.
        autoescape=select_autoescape(disabled_extensions=("txt.j2",), default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _context(message: Message) -> dict[str, Any]:
    shown = message.items[:EMAIL_MAX_ITEMS]
    entries: list[dict[str, Any]] = []
    for item in shown:
        snippet, spans = _cut_snippet(item)
        entries.append(
            {
                "watchlist": one_line(item.watchlist_name or item.watchlist_id),
                "title": one_line(item.title) or "(untitled)",
                "url": safe_url(item.url),
                "meta": " · ".join(_meta(item)),
                "snippet_plain": mark_plain(snippet, spans),
                "snippet_html": mark_html(snippet, spans),
                "matched": ", ".join(one_line(t) for t in item.matched),
                "fields": ", ".join(item.fields),
                "also": ", ".join(one_line(s) for s in item.also_reported_by),
            }
        )
    groups: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        groups.setdefault(entry["watchlist"], []).append(entry)
    return {
        "kind": message.kind,
        "heading": one_line(message.heading),
        "groups": list(groups.items()),
        "grouped": message.kind == DeliveryKind.DIGEST,
        "omitted": message.omitted + (len(message.items) - len(shown)),
    }
