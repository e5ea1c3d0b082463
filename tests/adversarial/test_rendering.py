"""Hostile text in alerts, issue #19: bidi overrides (18) and huge headlines (10, rendering).

A U+202E in a headline reversed what followed it in Slack, in the email subject and on the
dashboard. A 5 MB headline became a 10.7 MB email; in Slack a headline past 2,900 characters
was cut to ``* …``, or to an unclosed link when its URL held ``&``. The property test holds
every rendering to the formats' own rules, whatever the text.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from email import message_from_bytes, policy
from html.parser import HTMLParser
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.alerts.channels import console, email, slack
from monitor.alerts.formatting import (
    SLACK_HEADER_LIMIT,
    SLACK_SECTION_LIMIT,
    SLACK_TEXT_LIMIT,
    SUBJECT_LIMIT,
    plain_summary,
    slack_payload,
)
from monitor.alerts.message import AlertItem, Message
from monitor.config import Settings, load_settings
from monitor.destinations import parse_destination
from monitor.logs import configure_logging, get_logger
from tests.alerts.test_email import configured as with_smtp
from tests.alerts.test_formatting import item
from tests.alerts.test_slack import configured as with_slack
from tests.support.slack_standin import SlackStandIn
from tests.support.smtp import SMTPServer

BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
RLO, PDF = "\u202e", "\u202c"
# A Slack link we wrote: an http(s) target without '<', '>', '|' or spaces, then a label.
# The target keeps its '&' as a URL does; the label is text and escaped like the rest.
LINK = re.compile(r"<https?://[^<>|\s]+\|([^<>]*)>")
# An '&' that does not start one of the three escapes: text cut inside '&amp;', or raw.
BARE_AMPERSAND = re.compile(r"&(?!(?:amp|lt|gt);)")
MB5 = 5 * 1024 * 1024


@pytest.fixture
def standin() -> Iterator[SlackStandIn]:
    with SlackStandIn() as server:
        yield server


@pytest.fixture
def smtp() -> Iterator[SMTPServer]:
    with SMTPServer() as server:
        yield server


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def assert_valid_mrkdwn(text: str) -> None:
    """Every '<' and '>' belongs to one of our whole links, and every '&' of the text (link
    labels included) to a whole escape."""
    as_read = LINK.sub(r"\1", text)
    assert "<" not in as_read and ">" not in as_read, text[-200:]
    assert not BARE_AMPERSAND.search(as_read), text[-200:]


def text_objects(blocks: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(block type, text type, text) of every text object in *blocks*."""
    found: list[tuple[str, str, str]] = []
    for block in blocks:
        texts = [block.get("text"), *(block.get("elements") or [])]
        for obj in texts:
            if isinstance(obj, dict) and obj.get("type") in ("mrkdwn", "plain_text"):
                found.append((block["type"], obj["type"], obj["text"]))
    return found


def assert_slack_within_the_rules(message: Message) -> None:
    text, blocks = slack_payload(message)
    assert len(blocks) <= 50
    assert utf16(text) <= SLACK_TEXT_LIMIT
    assert_valid_mrkdwn(text)
    for block_type, text_type, body in text_objects(blocks):
        assert body.strip(), block_type  # Slack refuses an empty text
        if block_type == "header":
            assert utf16(body) <= SLACK_HEADER_LIMIT
        else:
            assert utf16(body) <= SLACK_SECTION_LIMIT
        if text_type == "mrkdwn":
            assert_valid_mrkdwn(body)
    everything = text + json.dumps(blocks, ensure_ascii=False)
    assert not [c for c in BIDI if c in everything]


class Balanced(HTMLParser):
    """Checks that every element the HTML opens it closes, in order."""

    VOID = frozenset({"meta", "br", "img", "hr", "link", "input"})

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.wrong: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open.pop() != tag:
            self.wrong.append(tag)


SETTINGS = load_settings(email_from="Monitor <monitor@example.org>")


def assert_email_within_the_rules(message: Message) -> bytes:
    mail = email.build_email(message, ["desk@example.org"], settings=SETTINGS)
    raw = mail.as_bytes()
    # RFC 5322 2.1.1: no line of a message longer than 998 characters (headers folded).
    assert max(len(line) for line in raw.split(b"\n")) <= 998
    parsed = message_from_bytes(raw, policy=policy.default)
    subject = str(parsed["Subject"])
    assert "\n" not in subject and "\r" not in subject and len(subject) <= SUBJECT_LIMIT
    plain = parsed.get_body(preferencelist=("plain",))
    html = parsed.get_body(preferencelist=("html",))
    assert plain is not None and html is not None
    checker = Balanced()
    checker.feed(html.get_content())
    checker.close()
    assert checker.open == [] and checker.wrong == []
    for part in (subject, plain.get_content(), html.get_content()):
        assert not [c for c in BIDI if c in part]
    return raw


# Pieces that mean something to Slack, HTML or a terminal, the bidi controls, and anything.
PIECES = st.one_of(
    st.sampled_from(list("&<>|*_~`@!#:/\"' \n\r\t\x00") + list(BIDI) + ["&amp;", "<!here>", "😀"]),
    st.characters(),
)
hostile_text = st.one_of(
    st.lists(PIECES, max_size=300).map("".join),
    # Long ones, past each limit: a few pieces repeated up to 2,000 times.
    st.builds(
        lambda pieces, n: "".join(pieces) * n,
        st.lists(PIECES, min_size=1, max_size=8),
        st.integers(1, 2000),
    ),
)
urls = st.one_of(
    st.just(""),
    st.builds(
        lambda path, query: f"https://news.example/{path}?{query}",
        st.text(st.sampled_from(list("ab&|<> %é/")), max_size=60),
        st.builds(
            lambda q, n: q * n,
            st.text(st.sampled_from(list("a=&b|>")), max_size=6),
            st.integers(0, 800),
        ),
    ),
)


@settings(max_examples=150, deadline=None)
@given(
    title=hostile_text,
    snippet=hostile_text,
    url=urls,
    source=hostile_text,
    also=st.lists(hostile_text, max_size=3),
    spans=st.lists(st.tuples(st.integers(-5, 4000), st.integers(-5, 4000)), max_size=4),
    kind=st.sampled_from(["instant", "digest", "throttle"]),
    copies=st.integers(1, 20),
    heading=hostile_text,
)
def test_it_renders_any_text_within_the_limits_and_with_its_markup_whole(
    title: str,
    snippet: str,
    url: str,
    source: str,
    also: list[str],
    spans: list[tuple[int, int]],
    kind: str,
    copies: int,
    heading: str,
) -> None:
    one = item(
        title=title,
        snippet=snippet,
        url=url,
        source=source,
        also_reported_by=tuple(also),
        highlights=tuple(spans),
        watchlist_name=source[:400],
        matched=(title[:500],),
    )
    many = kind != "instant"
    message = Message(
        kind=kind,  # type: ignore[arg-type]
        items=(one,) * (copies if many else 1),
        heading=heading if many else "",
    )
    assert_slack_within_the_rules(message)
    assert_email_within_the_rules(message)
    summary = plain_summary(message)
    assert len(summary) <= SLACK_TEXT_LIMIT and "\n" not in summary


# -- 10: a huge headline through the real channels -----------------------------------------

HUGE_TITLE = ("Acme & Sons <b>merger</b> " * (MB5 // 26 + 1))[:MB5]
AMPERSAND_URL = "https://news.example/story?id=1&utm_source=rss&x=<y>"


def huge(**overrides: object) -> Message:
    values: dict[str, object] = {"title": HUGE_TITLE, "url": AMPERSAND_URL, "snippet": HUGE_TITLE}
    values.update(overrides)
    return Message(kind="instant", items=(item(**values),), delivery_id=7)  # type: ignore[arg-type]


def test_it_sends_a_5mb_headline_as_an_email_of_a_few_kilobytes(
    sqlite_settings: Settings, smtp: SMTPServer
) -> None:
    started = time.monotonic()
    email.send(
        huge(),
        parse_destination("email:desk@example.org"),
        settings=with_smtp(sqlite_settings, smtp),
    )
    assert time.monotonic() - started < 5
    [envelope] = smtp.envelopes
    assert len(envelope["raw"]) < 20_000  # it was 10.7 MB
    [mail] = smtp.messages
    assert str(mail["Subject"]).startswith("[monitor] Floods: Acme & Sons <b>merger</b>")
    assert len(str(mail["Subject"])) <= SUBJECT_LIMIT


@pytest.mark.parametrize(
    "title",
    [HUGE_TITLE, "A & B " * 500, "x" * 2_950],
    ids=["5-mb", "ampersands-past-2900", "just-past-2900"],
)
def test_it_posts_a_long_headline_to_slack_as_a_whole_link(
    sqlite_settings: Settings, standin: SlackStandIn, title: str
) -> None:
    slack.send(
        huge(title=title),
        parse_destination("slack:#desk"),
        settings=with_slack(sqlite_settings, standin),
    )
    [post] = standin.posts
    headline = post.blocks[0]["text"]["text"]
    # The link is whole, to the whole (encoded) URL, and its label ends with the cut.
    assert headline.startswith("*<https://news.example/story?id=1&utm_source=rss&x=%3Cy%3E|")
    assert headline.split("\n")[0].endswith("…>*")
    for _, text_type, body in text_objects(post.blocks):
        assert utf16(body) <= SLACK_SECTION_LIMIT
        if text_type == "mrkdwn":
            assert_valid_mrkdwn(body)
    assert utf16(post.text) <= SLACK_TEXT_LIMIT
    assert len(json.dumps(post.body)) < 20_000


@pytest.fixture
def console_log(monkeypatch: pytest.MonkeyPatch) -> None:
    """The console channel on a logger of this test's own: structlog caches a logger on first
    use, and the module's own, cached with this test's configuration, would stay silent in the
    tests after this one."""
    monkeypatch.setattr(console, "log", get_logger("monitor.alerts.console"))


def test_it_logs_a_5mb_headline_to_the_console_as_one_short_line(
    sqlite_settings: Settings, console_log: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(fmt="json")
    capsys.readouterr()
    # Every field the console line carries, huge: the URL and the matched terms as well.
    message = huge(url="https://news.example/" + "a" * MB5, matched=(HUGE_TITLE,))
    console.send(message, parse_destination("console"), settings=sqlite_settings)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and len(lines[0]) < 10_000
    assert json.loads(lines[0])["event"].startswith("ALERT [Floods] Acme & Sons <b>merger</b>")


# -- 18: bidi overrides through the real channels ------------------------------------------

SPOOF = f"Invoice {RLO}fdp.exe{PDF} \u2067approved\u2069 \u200fnow\u061c"
READ = "Invoice fdp.exe approved now"


def spoofed() -> Message:
    return Message(
        kind="instant",
        items=(
            AlertItem(
                watchlist_id="floods",
                watchlist_name=f"Floods {RLO}x",
                title=SPOOF,
                url="https://news.example/a",
                source=f"Wire {RLO}1",
                snippet=f"{RLO}The flood{RLO} came",
                highlights=((5, 10),),
                matched=(f"flood{RLO}",),
                also_reported_by=(f"Other {RLO}2",),
            ),
        ),
        delivery_id=8,
    )


def test_it_strips_bidi_controls_from_what_slack_shows(
    sqlite_settings: Settings, standin: SlackStandIn
) -> None:
    slack.send(
        spoofed(), parse_destination("slack:#desk"), settings=with_slack(sqlite_settings, standin)
    )
    [post] = standin.posts
    seen = post.all_text()
    assert not [c for c in BIDI if c in seen]
    assert f"|{READ}>" in seen and "The *flood* came" in seen


def test_it_strips_bidi_controls_from_the_email_subject_and_bodies(
    sqlite_settings: Settings, smtp: SMTPServer
) -> None:
    email.send(
        spoofed(),
        parse_destination("email:desk@example.org"),
        settings=with_smtp(sqlite_settings, smtp),
    )
    [mail] = smtp.messages
    assert str(mail["Subject"]) == f"[monitor] Floods x: {READ}"
    for part in mail.walk():
        if part.get_content_maintype() == "text":
            content = part.get_content()
            assert not [c for c in BIDI if c in content]
            assert READ in content


def test_it_strips_bidi_controls_from_the_console_line(
    sqlite_settings: Settings, console_log: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(fmt="json")
    capsys.readouterr()
    console.send(spoofed(), parse_destination("console"), settings=sqlite_settings)
    line = capsys.readouterr().err
    logged = json.loads(line)
    assert not [c for c in BIDI if c in json.dumps(logged, ensure_ascii=False)]
    assert READ in logged["event"]
