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
- Everywhere, bidi controls (U+202A-U+202E, U+2066-U+2069, U+200E, U+200F, U+061C) are
  removed (:func:`neutralise`): a headline's U+202E must not reverse what a reader sees after
  it. Lone surrogates, which no encoder takes, become U+FFFD there too. The dashboard uses the
  same function for every value on its pages.

The snippet is plain text with highlight spans; the spans are marked after escaping, by
splitting the text at the spans and escaping each piece, so no markup from a feed survives.

Lengths: every field is cut as plain text first (:data:`TITLE_LIMIT`, :data:`NAME_LIMIT`,
...), and only then escaped and wrapped, so a cut never lands inside ``&amp;`` or a
``<url|label>``. Where the escaped result has a hard limit (a Slack section's 3,000
characters, a header block's 150), the plain text is cut shorter until the rendered text fits
(:func:`_fit`). A URL longer than :data:`URL_LIMIT` is not linked. So a 5 MB headline makes a
message of a few kilobytes, in Slack, email and the console alike.
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

from monitor.alerts import slack_actions
from monitor.alerts.message import AlertItem, Message
from monitor.states import DeliveryKind

__all__ = [
    "clip",
    "email_bodies",
    "email_subject",
    "header_text",
    "mark_html",
    "mark_plain",
    "mark_slack",
    "matched_terms",
    "neutralise",
    "neutralise_marked",
    "one_line",
    "plain_text",
    "safe_url",
    "slack_escape",
    "slack_link",
    "slack_payload",
]

# Plain-text lengths, in characters, before any escaping. A headline past 300 characters is
# not a headline; names (sources, watchlists, each 'also reported by') past 150 are not names.
TITLE_LIMIT = 300
NAME_LIMIT = 150
# The matched terms, and the other sources, each as one joined line.
LIST_LIMIT = 300
HEADING_LIMIT = 300
# Kinds whose heading says what happened and whose items are a list under it, and kinds that
# are their heading alone (no hit behind them).
MANY_ITEMS = (
    DeliveryKind.DIGEST,
    DeliveryKind.THROTTLE,
    DeliveryKind.SNOOZE,
    DeliveryKind.SPIKE,
)
HEADING_ONLY = (DeliveryKind.TEST, DeliveryKind.OPS)
SNIPPET_LIMIT = 600
# Past this a URL is shown without its link (browsers and proxies start refusing them).
URL_LIMIT = 2000
# Slack allows 50 blocks per message; a digest keeps well under it and says how many hits it
# left out. Section and context texts: 3,000 characters; header blocks: 150
# (https://api.slack.com/reference/block-kit/blocks). Counted in UTF-16 units, which is the
# larger count for emoji. The fallback text is ours to bound (Slack cuts at 40,000).
SLACK_MAX_ITEMS = 15
SLACK_SECTION_LIMIT = 3000
SLACK_HEADER_LIMIT = 150
SLACK_TEXT_LIMIT = 3000
EMAIL_MAX_ITEMS = 200
SUBJECT_LIMIT = 180

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_SPACES = re.compile(r"\s+")
# Embeddings and overrides (LRE, RLE, PDF, LRO, RLO), isolates (LRI, RLI, FSI, PDI) and the
# marks (LRM, RLM, ALM): the characters that reorder what follows them.
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")
# Half of a UTF-16 pair alone (from a numeric character reference such as &#xD800;): UTF-8
# cannot encode it, so an email or a page holding one would fail to send.
_SURROGATE = re.compile("[\ud800-\udfff]")


# -- escaping helpers -----------------------------------------------------------------------


def neutralise(text: str) -> str:
    """*text* without bidi control characters, so that what a reader sees is in the order it
    was written (right-to-left scripts need none of them to display right), and with lone
    surrogates replaced by U+FFFD."""
    return _SURROGATE.sub("\ufffd", _BIDI.sub("", text))


def neutralise_marked(
    text: str, highlights: Iterable[Iterable[int]]
) -> tuple[str, list[list[int]]]:
    """:func:`neutralise` for a snippet, with its highlight spans moved to match."""
    spans = _spans(text, highlights)
    if not _BIDI.search(text):
        return neutralise(text), [list(span) for span in spans]  # the same length
    # new_index[i]: where the character at i lands once the bidi controls before it are gone.
    new_index = [0] * (len(text) + 1)
    kept = 0
    for index, char in enumerate(text):
        new_index[index] = kept
        kept += not _BIDI.match(char)
    new_index[len(text)] = kept
    moved = [[new_index[s], new_index[e]] for s, e in spans if new_index[s] < new_index[e]]
    return neutralise(text), moved


def slack_escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters (and drop bidi
    controls)."""
    return neutralise(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def one_line(text: str) -> str:
    """Control characters (CR, LF, NUL, ...) become spaces; runs of whitespace collapse; bidi
    controls go."""
    return _SPACES.sub(" ", _CONTROL.sub(" ", neutralise(text))).strip()


def clip(text: str, limit: int) -> str:
    """:func:`one_line`, cut to *limit* characters (the last one '…' when cut). Applied to
    plain text, before any escaping. A huge text is cut roughly first, so that cleaning it
    costs what cleaning *limit* characters costs."""
    rough = text[: limit * 4]
    line = _truncate(one_line(rough), limit)
    if len(rough) < len(text) and not line.endswith("…"):
        line = line[: limit - 1] + "…"  # what the rough cut left out was mostly blank
    return line


def header_text(text: str, limit: int = SUBJECT_LIMIT) -> str:
    """Text safe for an email header: one line, no control characters, at most *limit*."""
    return clip(text, limit)


def safe_url(url: str | None) -> str | None:
    """*url* if it is an absolute http(s) URL of at most URL_LIMIT characters,
    percent-encoding what could break out of a link in Slack or HTML; otherwise None (the
    headline is then shown without a link)."""
    if not url:
        return None
    url = url.strip()
    if _CONTROL.search(url) or _SURROGATE.search(url) or " " in url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    # Keep every character a URL may hold except those that end a Slack link or an HTML
    # attribute; those are percent-encoded.
    quoted = quote(url, safe="/:?#[]@!$&'()*+,;=%-._~")
    return quoted if len(quoted) <= URL_LIMIT else None


def slack_link(url: str | None, label: str) -> str:
    """A Slack link ``<url|label>`` with the label escaped, or the escaped label alone."""
    target = safe_url(url)
    text = slack_escape(clip(label, TITLE_LIMIT)) or "(untitled)"
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
    # Split at the spans first, then drop bidi controls from each piece: the offsets are those
    # of the text as stored.
    pieces: list[str] = []
    position = 0
    for start, end in _spans(text, highlights):
        pieces.append(plain(neutralise(text[position:start])))
        pieces.append(marked(neutralise(text[start:end])))
        position = end
    pieces.append(plain(neutralise(text[position:])))
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


def _cut(text: str, keep: int) -> str:
    """The first *keep* characters of *text*, and '…' if that is not all of it."""
    return text if keep >= len(text) else text[:keep].rstrip() + "…"


def _cut_snippet(
    item: AlertItem, keep: int = SNIPPET_LIMIT
) -> tuple[str, tuple[tuple[int, int], ...]]:
    """The snippet cut to *keep* characters and '…', with the spans that still fit."""
    snippet = one_line_keep_length(item.snippet[: SNIPPET_LIMIT + 1])
    spans = _spans(snippet, item.highlights)
    if len(snippet) <= SNIPPET_LIMIT and keep >= len(snippet):
        return snippet, tuple(spans)
    keep = min(keep, SNIPPET_LIMIT - 1)
    return snippet[:keep] + "…", tuple((s, e) for s, e in spans if e <= keep)


def one_line_keep_length(text: str) -> str:
    """Control characters become spaces one for one, so highlight offsets stay right."""
    return "".join(" " if _CONTROL.match(ch) else ch for ch in text)


def _slack_length(text: str) -> int:
    # Slack counts UTF-16 units, as JavaScript does: an emoji counts two.
    return len(text.encode("utf-16-le")) // 2


def _fit(render: Callable[[int], str], size: int, limit: int) -> str:
    """``render(keep)`` for the largest ``keep <= size`` whose result is within *limit* (in
    Slack's count); ``render(0)`` if none is. *render* cuts the plain text to *keep*
    characters and only then escapes and wraps it, so no cut lands inside markup."""
    whole = render(size)
    if _slack_length(whole) <= limit:
        return whole
    low, high = 0, size  # render(high) is too long; render(low) is the fallback
    while high - low > 1:
        middle = (low + high) // 2
        if _slack_length(render(middle)) <= limit:
            low = middle
        else:
            high = middle
    return render(low)


def _fit_text(
    text: str, limit: int, escape_for: Callable[[str], str] = lambda t: t, wrap: str = "{}"
) -> str:
    """Plain *text*, escaped by *escape_for* and put into *wrap*, within *limit*."""
    return _fit(lambda keep: wrap.format(escape_for(_cut(text, keep))), len(text), limit)


def when(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _meta(item: AlertItem) -> list[str]:
    parts = [clip(item.source, NAME_LIMIT)] if item.source else []
    if item.published_at:
        parts.append(when(item.published_at))
    if item.source_count > 1:
        parts.append(f"{item.source_count} sources")
    return parts


def _grouped(items: Iterable[AlertItem]) -> list[tuple[str, list[AlertItem]]]:
    groups: dict[str, list[AlertItem]] = {}
    for item in items:
        groups.setdefault(_watchlist(item), []).append(item)
    return list(groups.items())


def _watchlist(item: AlertItem) -> str:
    return clip(item.watchlist_name or item.watchlist_id, NAME_LIMIT)


def matched_terms(item: AlertItem) -> str:
    """The terms that matched, as one line of at most LIST_LIMIT characters."""
    return clip(", ".join(one_line(t[:LIST_LIMIT]) for t in item.matched[:50]), LIST_LIMIT)


def _also(item: AlertItem) -> str:
    names = (clip(s, NAME_LIMIT) for s in item.also_reported_by[:50])
    return clip(", ".join(names), LIST_LIMIT)


# -- Slack ----------------------------------------------------------------------------------


def _slack_item_blocks(item: AlertItem, *, with_watchlist: bool) -> list[dict[str, Any]]:
    meta = [slack_escape(part) for part in _meta(item)]
    if with_watchlist:
        meta.append(f"watchlist: {slack_escape(_watchlist(item))}")
    tail = "\n" + " · ".join(meta) if meta else ""
    title = clip(item.title, TITLE_LIMIT) or "(untitled)"
    url = safe_url(item.url)

    def headline(keep: int) -> str:
        label = slack_escape(_cut(title, keep))
        return f"*<{url}|{label}>*{tail}" if url else f"*{label}*{tail}"

    if url and _slack_length(headline(0)) > SLACK_SECTION_LIMIT:
        url = None  # a link this long leaves no room for the headline: show it unlinked
    blocks: list[dict[str, Any]] = [
        _mrkdwn_section(_fit(headline, len(title), SLACK_SECTION_LIMIT))
    ]

    def snippet(keep: int) -> str:
        return mark_slack(*_cut_snippet(item, keep))

    marked = _fit(snippet, SNIPPET_LIMIT, SLACK_SECTION_LIMIT) if item.snippet else ""
    if marked.strip():  # Slack refuses an empty section (a snippet of spaces and bidi marks)
        blocks.append(_mrkdwn_section(marked))
    context = []
    if item.matched:
        where = f" in {clip(', '.join(item.fields), LIST_LIMIT)}" if item.fields else ""
        context.append(f"Matched {matched_terms(item)}{where}")
    if item.also_reported_by:
        context.append("Also reported by " + _also(item))
    # The link is markup of ours: it goes after the escaped (and, if need be, cut) text.
    hit_page = safe_url(item.hit_link)
    link = f"<{hit_page}|Details on the dashboard>" if hit_page else ""
    if context or link:
        room = SLACK_SECTION_LIMIT - len(link) - 3
        text = _fit_text(" · ".join(context), room, slack_escape) if context else ""
        text = " · ".join(part for part in (text, link) if part)
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": text}]})
    return blocks


def _with_actions(
    blocks: list[dict[str, Any]], item: AlertItem, message: Message
) -> list[dict[str, Any]]:
    """*blocks* with the hit's triage actions (monitor.alerts.slack_actions): a menu beside a
    listed hit's headline, a row of buttons under a hit alerted alone."""
    if item.hit_id is None or message.kind in HEADING_ONLY:
        return blocks
    if message.kind in MANY_ITEMS:
        blocks[0]["accessory"] = slack_actions.hit_menu(item.hit_id, message.delivery_id)
        return blocks
    return [*blocks, slack_actions.action_block(item.hit_id, message.delivery_id)]


def _mrkdwn_section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def slack_payload(message: Message) -> tuple[str, list[dict[str, Any]]]:
    """The fallback ``text`` (notifications, screen readers) and the Block Kit ``blocks``."""
    blocks: list[dict[str, Any]] = []
    text = plain_summary(message, escape_for=slack_escape)
    heading = clip(message.heading, HEADING_LIMIT)
    list_page = safe_url(message.list_link)
    link_line = f"\n<{list_page}|See them on the dashboard>" if list_page else ""
    if heading:
        room = SLACK_SECTION_LIMIT - len(link_line)
        blocks.append(_mrkdwn_section(_fit_text(heading, room, slack_escape, "*{}*") + link_line))
    many = message.kind in MANY_ITEMS
    candidates = message.items[:SLACK_MAX_ITEMS] if many else message.items[:1]
    shown = 0
    # Slack refuses more than 50 blocks: keep two for the group header and the 'more' line.
    budget = 48 - len(blocks)
    if message.kind == DeliveryKind.DIGEST:
        for name, items in _grouped(candidates):
            group = [{"type": "header", "text": _plain_text_object(name, SLACK_HEADER_LIMIT)}]
            hit_ids: list[int] = []
            for item in items:
                more = _with_actions(_slack_item_blocks(item, with_watchlist=False), item, message)
                # One more for the divider, one for the group's snooze menu.
                if len(blocks) + len(group) + len(more) + 2 > budget:
                    break
                group.extend(more)
                hit_ids.extend([item.hit_id] if item.hit_id is not None else [])
                shown += 1
            if len(group) > 1:
                snooze = slack_actions.snooze_block(hit_ids, message.delivery_id)
                blocks.extend([*group, *([snooze] if snooze else []), {"type": "divider"}])
    else:
        hit_ids = []
        for item in candidates:
            more = _with_actions(_slack_item_blocks(item, with_watchlist=True), item, message)
            if len(blocks) + len(more) + (1 if many else 0) > budget:
                break
            blocks.extend(more)
            hit_ids.extend([item.hit_id] if item.hit_id is not None else [])
            shown += 1
        snooze = slack_actions.snooze_block(hit_ids, message.delivery_id) if many else None
        if snooze:
            blocks.append(snooze)
    omitted = message.omitted + (len(message.items) - shown)
    if omitted > 0:
        listed = (
            f"<{list_page}|listed on the dashboard>" if list_page else "listed on the dashboard"
        )
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"…and {omitted} more, {listed}."}],
            }
        )
    return text, blocks


def _plain_text_object(text: str, limit: int) -> dict[str, Any]:
    # plain_text is never parsed for mentions or links, so it needs no escaping.
    return {"type": "plain_text", "text": _fit_text(one_line(text) or "-", limit), "emoji": False}


def plain_summary(message: Message, *, escape_for: Callable[[str], str] = lambda t: t) -> str:
    """One line or a few: what a notification or the console log shows, within
    SLACK_TEXT_LIMIT once escaped by *escape_for*."""
    if message.kind in HEADING_ONLY:
        line = clip(message.heading, HEADING_LIMIT) or "Test alert from monitor"
    elif message.kind in MANY_ITEMS:
        count = len(message.items) + message.omitted
        line = clip(message.heading, HEADING_LIMIT) or f"{count} hits"
    else:
        item = message.items[0]
        line = f"[{_watchlist(item)}] {clip(item.title, TITLE_LIMIT)}"
        if item.source:
            line += f" ({clip(item.source, NAME_LIMIT)})"
        if message.heading:
            line = f"{clip(message.heading, HEADING_LIMIT)}: {line}"
    return _fit_text(line, SLACK_TEXT_LIMIT, escape_for)


def plain_text(message: Message) -> str:
    """The whole message as plain text (the console log and the email's text part)."""
    return _environment().get_template("email.txt.j2").render(**_context(message)).strip() + "\n"


# -- email ----------------------------------------------------------------------------------


def email_subject(message: Message) -> str:
    """``[monitor] <watchlist>: <headline>``, one line whatever the feed put in it."""
    if message.kind in HEADING_ONLY:
        return header_text(f"[monitor] {clip(message.heading, HEADING_LIMIT) or 'Test alert'}")
    if message.kind in MANY_ITEMS:
        return header_text(f"[monitor] {clip(message.heading, HEADING_LIMIT)}")
    item = message.items[0]
    prefix = f"{clip(message.heading, HEADING_LIMIT)}: " if message.heading else ""
    return header_text(f"[monitor] {prefix}{_watchlist(item)}: {clip(item.title, TITLE_LIMIT)}")


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
                "watchlist": _watchlist(item),
                "title": clip(item.title, TITLE_LIMIT) or "(untitled)",
                "url": safe_url(item.url),
                "meta": " · ".join(_meta(item)),
                "snippet_plain": mark_plain(snippet, spans),
                "snippet_html": mark_html(snippet, spans),
                "matched": matched_terms(item),
                "fields": clip(", ".join(item.fields), LIST_LIMIT),
                "also": _also(item),
                "link": safe_url(item.hit_link),
                "list_link": safe_url(item.list_link),
                "actions": [
                    (text, url) for text, url in ((t, safe_url(u)) for t, u in item.actions) if url
                ],
            }
        )
    groups: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        groups.setdefault(entry["watchlist"], []).append(entry)
    return {
        "kind": message.kind,
        "heading": clip(message.heading, HEADING_LIMIT),
        "groups": list(groups.items()),
        "grouped": message.kind == DeliveryKind.DIGEST,
        "omitted": message.omitted + (len(message.items) - len(shown)),
        "list_link": safe_url(message.list_link),
        "footer": _footer(message),
    }


def _footer(message: Message) -> dict[str, Any] | None:
    """Why the reader got this email: the watchlists behind it, each with its query, and
    where to see more (the hit's page, or a digest's or summary's hits)."""
    if message.kind in HEADING_ONLY or not message.items:
        return None
    watchlists: dict[str, dict[str, str]] = {}
    for item in message.items:
        watchlists.setdefault(
            item.watchlist_id,
            {
                "id": one_line(item.watchlist_id),
                "name": one_line(item.watchlist_name or item.watchlist_id),
                "query": one_line(item.watchlist_query),
            },
        )
    grouped = message.kind in MANY_ITEMS
    return {
        "watchlists": list(watchlists.values()),
        "link": safe_url(message.list_link if grouped else message.items[0].hit_link),
        "link_label": "These hits on the dashboard" if grouped else "This hit on the dashboard",
    }
