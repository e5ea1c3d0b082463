"""Rendering: Block Kit and email parts, with everything from a feed escaped."""

from __future__ import annotations

from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.alerts.formatting import (
    email_bodies,
    email_subject,
    header_text,
    mark_html,
    mark_plain,
    mark_slack,
    safe_url,
    slack_escape,
    slack_link,
    slack_payload,
)
from monitor.alerts.message import AlertItem, Message

HOSTILE_TITLES = [
    pytest.param("<!channel> <https://evil.example|Click here>", id="mention-and-forged-link"),
    pytest.param("<!here> & <@U0123> <#C0123>", id="here-user-channel-mentions"),
    pytest.param("Tom & Jerry <3", id="ampersand"),
    pytest.param("Breaking\r\nBcc: victim@example.org", id="crlf-header-injection"),
    pytest.param("<script>alert(1)</script><img src=x onerror=alert(2)>", id="html"),
]


def item(**overrides: object) -> AlertItem:
    values: dict[str, object] = {
        "watchlist_id": "floods",
        "watchlist_name": "Floods",
        "title": "Heavy flood hits Lagos",
        "url": "https://news.example/a?x=1&y=2",
        "source": "Daily Wire",
        "published_at": datetime(2026, 3, 2, 8, 0, tzinfo=UTC),
        "snippet": "Heavy flood hits Lagos after a night of rain.",
        "highlights": ((6, 11),),
        "matched": ("flood",),
        "fields": ("title",),
    }
    values.update(overrides)
    return AlertItem(**values)  # type: ignore[arg-type]


def instant(**overrides: object) -> Message:
    return Message(kind="instant", items=(item(**overrides),), delivery_id=7)


def all_slack_text(message: Message) -> str:
    text, blocks = slack_payload(message)
    parts = [text]

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                parts.append(str(node["text"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(blocks)
    return "\n".join(parts)


def test_it_escapes_the_three_slack_control_characters() -> None:
    assert slack_escape("<a> & <b>") == "&lt;a&gt; &amp; &lt;b&gt;"


@pytest.mark.parametrize("title", HOSTILE_TITLES)
def test_it_never_lets_a_headline_ping_or_forge_a_link_in_slack(title: str) -> None:
    text = all_slack_text(instant(title=title, snippet=title, highlights=((0, 5),)))
    # The only '<' left in the whole message is our own link to the article.
    assert text.count("<") == text.count("<https://news.example/a?x=1&y=2|")
    assert "<!" not in text and "<@" not in text and "<#" not in text
    assert "|Click here>" not in text


@pytest.mark.parametrize("title", HOSTILE_TITLES)
def test_it_keeps_an_email_subject_on_one_line(title: str) -> None:
    subject = email_subject(instant(title=title))
    assert "\r" not in subject and "\n" not in subject
    assert subject.startswith("[monitor] Floods: ")


@pytest.mark.parametrize("title", HOSTILE_TITLES)
def test_it_escapes_html_in_the_email_body(title: str) -> None:
    _, html = email_bodies(instant(title=title, snippet=f"before {title} after"))
    assert "<script>" not in html and "<img" not in html and "<!channel>" not in html
    assert "&lt;" in html or "&amp;" in html or "\r" not in html


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://news.example/a", "https://news.example/a"),
        ("http://news.example/a b", None),
        ("javascript:alert(1)", None),
        ("data:text/html,<script>", None),
        ("https://evil.example/a|b>c<d", "https://evil.example/a%7Cb%3Ec%3Cd"),
        ("/relative/path", None),
        ("", None),
    ],
    ids=["https", "space", "javascript", "data", "pipe-and-bracket", "relative", "empty"],
)
def test_it_keeps_only_plain_http_links(url: str, expected: str | None) -> None:
    assert safe_url(url) == expected


def test_it_shows_a_headline_without_a_safe_url_as_text() -> None:
    assert slack_link("javascript:alert(1)", "<b>x</b>") == "&lt;b&gt;x&lt;/b&gt;"
    _, html = email_bodies(instant(url="javascript:alert(1)"))
    assert "javascript:" not in html


def test_it_marks_matched_words_after_escaping() -> None:
    snippet = "a <b>flood</b> & more"
    spans = ((5, 10),)
    assert mark_slack(snippet, spans) == "a &lt;b&gt;*flood*&lt;/b&gt; &amp; more"
    assert (
        str(mark_html(snippet, spans)) == "a &lt;b&gt;<strong>flood</strong>&lt;/b&gt; &amp; more"
    )


def test_it_ignores_broken_highlight_spans() -> None:
    assert mark_slack("flood here", ((0, 5), (3, 8), (50, 60), (7, 2))) == "*flood* here"


def test_it_builds_block_kit_with_link_source_time_watchlist_and_bold_matches() -> None:
    text, blocks = slack_payload(instant())
    assert text == "[Floods] Heavy flood hits Lagos (Daily Wire)"
    head = blocks[0]["text"]["text"]
    assert head.startswith("*<https://news.example/a?x=1&y=2|Heavy flood hits Lagos>*")
    assert "Daily Wire" in head and "2026-03-02 08:00 UTC" in head and "watchlist: Floods" in head
    assert blocks[1]["text"]["text"] == "Heavy *flood* hits Lagos after a night of rain."
    assert "Matched flood in title" in blocks[2]["elements"][0]["text"]


def test_it_groups_a_digest_by_watchlist_and_says_how_many_were_left_out() -> None:
    items = tuple(
        item(watchlist_id=w, watchlist_name=w.title(), title=f"{w} {n}")
        for w in ("floods", "fires")
        for n in range(12)
    )
    _, blocks = slack_payload(Message(kind="digest", items=items, heading="Hourly digest"))
    headers = [b["text"]["text"] for b in blocks if b["type"] == "header"]
    assert headers == ["Floods", "Fires"]
    assert len(blocks) <= 50
    listed = sum(1 for b in blocks if b["type"] == "section" and "*<https://" in b["text"]["text"])
    omitted = int(blocks[-1]["elements"][0]["text"].split()[1])
    assert listed + omitted == 24 and omitted > 0
    plain, html = email_bodies(Message(kind="digest", items=items, heading="Hourly digest"))
    assert "== Floods ==" in plain and "== Fires ==" in plain
    assert html.count("<h2") == 2


def test_it_cuts_a_long_snippet_without_breaking_escapes() -> None:
    snippet = "flood & " * 500
    _, blocks = slack_payload(instant(snippet=snippet, highlights=((0, 5),)))
    body = blocks[1]["text"]["text"]
    assert len(body) < 3000
    assert not body.rstrip(" …").endswith(("&", "&am", "&amp"))


def test_it_strips_control_characters_from_headers() -> None:
    assert header_text("a\r\nb\x00c\u2028d") == "a b c d"


@settings(max_examples=300, deadline=None)
@given(
    title=st.text(max_size=80),
    snippet=st.text(max_size=200),
    spans=st.lists(st.tuples(st.integers(-5, 210), st.integers(-5, 210)), max_size=4),
)
def test_it_never_passes_feed_markup_through_whatever_the_text(
    title: str, snippet: str, spans: list[tuple[int, int]]
) -> None:
    message = instant(
        title=title, snippet=snippet, highlights=tuple(spans), url="https://a.example/"
    )
    slack_text = all_slack_text(message)
    # Every '<' Slack would parse is the start of our own link to the article.
    assert slack_text.count("<") == slack_text.count("<https://a.example/|")
    assert slack_text.count(">") == slack_text.count("<https://a.example/|")
    subject = email_subject(message)
    assert not any(ch in subject for ch in "\r\n\x00")
    _, html = email_bodies(message)
    tags = Tags()
    tags.feed(html)
    # Only the template's own elements and attributes, and only the article's link.
    assert {t for t, _ in tags.seen} <= {
        "html",
        "head",
        "meta",
        "title",
        "body",
        "p",
        "div",
        "a",
        "strong",
        "h2",
    }
    assert {a for _, attrs in tags.seen for a, _ in attrs} <= {"lang", "charset", "style", "href"}
    assert {v for _, attrs in tags.seen for a, v in attrs if a == "href"} <= {"https://a.example/"}


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.append((tag, attrs))


HOSTILE = "<!channel> <https://evil.example|x> <script>alert(1)</script>\r\nBcc: v@example.org"


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"source": HOSTILE}, id="source"),
        pytest.param({"also_reported_by": (HOSTILE, "Wire B")}, id="also-reported-by"),
        pytest.param({"matched": (HOSTILE,)}, id="matched-terms"),
    ],
)
@pytest.mark.parametrize("kind", ["instant", "digest"])
def test_it_escapes_every_other_field_a_feed_can_fill(
    overrides: dict[str, object], kind: str
) -> None:
    # A feed names itself and its articles' sources; a watchlist term can echo feed text.
    message = Message(kind=kind, items=(item(url="https://a.example/", **overrides),))  # type: ignore[arg-type]
    slack_text = all_slack_text(message)
    assert "<!channel>" not in slack_text and "<https://evil" not in slack_text
    assert slack_text.count("<") == slack_text.count("<https://a.example/|")
    _, html = email_bodies(message)
    assert "<script>" not in html and "&lt;script&gt;" in html
    subject = email_subject(message)
    assert not any(ch in subject for ch in "\r\n\x00")


@pytest.mark.parametrize(
    "highlights",
    [[[1]], [5], [None], ["ab"], [["x", "y"]], [[0, 2, 9]], "xy", None],
    ids=["one-number", "bare-int", "null", "string", "words", "triple", "text", "none"],
)
def test_it_shows_a_snippet_unmarked_when_its_stored_spans_are_not_pairs(highlights: Any) -> None:
    # The one highlighter serves alerts, the dashboard and the CLI: a bad stored span (a bug
    # elsewhere, a row edited by hand) must not fail a message or a page.
    assert mark_plain("naira falls", highlights or ()) == "naira falls"
    assert str(mark_html("a <b> c", highlights or ())) == "a &lt;b&gt; c"


def test_it_marks_in_the_tag_and_brackets_each_caller_asks_for() -> None:
    assert str(mark_html("the naira fell", [[4, 9]], tag="mark")) == "the <mark>naira</mark> fell"
    assert mark_plain("the naira fell", [[4, 9]], left="[", right="]") == "the [naira] fell"
