"""Normalisation of entries: identity, canonical URL, clean text, dates, language."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from monitor.feeds.normalise import articles_from_bytes, canonical_url, clean_text
from monitor.feeds.parser import parse_feed
from tests.feeds.conftest import NOW


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTPS://News.Example.ORG:443/a?b=1#frag", "https://news.example.org/a?b=1"),
        ("http://example.org:80", "http://example.org/"),
        ("http://example.org:8080/x", "http://example.org:8080/x"),
        (
            "https://e.org/a?utm_source=rss&utm_medium=x&id=7&fbclid=abc&gclid=z",
            "https://e.org/a?id=7",
        ),
        ("https://e.org/a?UTM_Campaign=x", "https://e.org/a"),
        ("https://e.org/a?id=7&mc_cid=1&mc_eid=2", "https://e.org/a?id=7"),
        ("javascript:alert(1)", ""),
        ("mailto:desk@example.org", ""),
        ("/2026/03/story", "https://feed.example.org/2026/03/story"),
        ("  https://e.org/with-space  ", "https://e.org/with-space"),
        ("http://[::1]:8000/x", "http://[::1]:8000/x"),
        ("", ""),
    ],
    ids=[
        "case-port-fragment",
        "default-port",
        "other-port",
        "tracking",
        "tracking-case",
        "mailchimp",
        "javascript",
        "mailto",
        "relative",
        "whitespace",
        "ipv6",
        "empty",
    ],
)
def test_it_canonicalises_urls(url: str, expected: str) -> None:
    assert canonical_url(url, base="https://feed.example.org/rss") == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<p>Hello <b>world</b></p><p>again</p>", "Hello world again"),
        ("Tom &amp; Jerry &eacute;t&eacute; &#8364;5", "Tom & Jerry été €5"),
        ("a\n\n  b\t c", "a b c"),
        ("<script>alert(1)</script>Safe", "Safe"),
        ("&lt;script&gt;alert(1)&lt;/script&gt;Safe", "Safe"),
        ('<a href="javascript:alert(1)" onclick="x()">link</a>', "link"),
        ("see javascript:void(0) here", "see void(0) here"),
        ("Cafe\u0301", "Café"),
        ("<style>p{color:red}</style><!-- note -->Text", "Text"),
        (None, ""),
    ],
    ids=[
        "tags",
        "entities",
        "whitespace",
        "script",
        "escaped-script",
        "handler",
        "javascript-text",
        "nfc",
        "style-comment",
        "none",
    ],
)
def test_it_cleans_text(value: str | None, expected: str) -> None:
    assert clean_text(value) == expected


def doc(items: str, *, channel: str = "") -> bytes:
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>T</title>"
        f"<link>https://feed.example.org/</link>{channel}{items}</channel></rss>"
    ).encode()


def test_it_picks_the_identity_guid_then_link_then_text() -> None:
    base = "https://feed.example.org/rss"
    with_guid = articles_from_bytes(doc("<item><guid>g1</guid><title>A</title></item>"), url=base)
    same_guid_other_text = articles_from_bytes(
        doc("<item><guid>g1</guid><title>B</title><link>https://x.org/b</link></item>"), url=base
    )
    by_link = articles_from_bytes(doc("<item><link>https://x.org/a?utm_source=1</link></item>"))
    same_link = articles_from_bytes(
        doc("<item><link>https://X.org/a#c</link><title>z</title></item>")
    )
    by_text = articles_from_bytes(doc("<item><title>Only a title</title></item>"), url=base)
    by_text_again = articles_from_bytes(doc("<item><title>Only a title</title></item>"), url=base)
    assert with_guid[0].identity == same_guid_other_text[0].identity
    assert by_link[0].identity == same_link[0].identity
    assert by_text[0].identity == by_text_again[0].identity
    assert len({with_guid[0].identity, by_link[0].identity, by_text[0].identity}) == 3
    assert all(len(a[0].identity) == 64 for a in (with_guid, by_link, by_text))


def test_it_dates_entries_in_utc_with_first_seen_and_clamping() -> None:
    articles = articles_from_bytes(
        doc(
            "<item><guid>a</guid><pubDate>Mon, 02 Mar 2026 13:00:00 +0100</pubDate></item>"
            "<item><guid>b</guid></item>"
            "<item><guid>c</guid><pubDate>Fri, 01 Jan 2100 00:00:00 GMT</pubDate></item>"
        ),
        now=NOW,
    )
    assert [a.published_at for a in articles] == [datetime(2026, 3, 2, 12, 0, tzinfo=UTC), NOW, NOW]
    assert all(a.published_at is not None and a.published_at.tzinfo is not None for a in articles)


def test_it_takes_language_from_the_entry_else_the_feed() -> None:
    atom = b"""<?xml version='1.0'?><feed xmlns='http://www.w3.org/2005/Atom' xml:lang='en'>
    <title>T</title><id>urn:t</id><updated>2026-03-02T10:00:00Z</updated>
    <entry><id>urn:1</id><title xml:lang='ja'>Nihon</title>
    <updated>2026-03-02T10:00:00Z</updated></entry>
    <entry><id>urn:2</id><title>English</title><updated>2026-03-02T10:00:00Z</updated></entry>
    </feed>"""
    rss = doc("<item><guid>x</guid><title>Sannu</title></item>", channel="<language>ha</language>")
    assert [a.language for a in articles_from_bytes(atom)] == ["ja", "en"]
    assert articles_from_bytes(rss)[0].language == "ha"


def test_it_keeps_author_summary_and_content_apart() -> None:
    atom = b"""<?xml version='1.0'?><feed xmlns='http://www.w3.org/2005/Atom'>
    <title>T</title><id>urn:t</id><updated>2026-03-02T10:00:00Z</updated>
    <entry><id>urn:1</id><title type='html'>A &amp;lt;b&amp;gt;bold&amp;lt;/b&amp;gt; move</title>
    <author><name>Ada Obi</name></author><updated>2026-03-02T10:00:00Z</updated>
    <summary>Short.</summary>
    <content type='html'>&lt;p&gt;The &lt;em&gt;long&lt;/em&gt; story.&lt;/p&gt;</content></entry>
    </feed>"""
    (article,) = articles_from_bytes(atom)
    assert article.title == "A bold move"
    assert (article.summary, article.content, article.author) == (
        "Short.",
        "The long story.",
        "Ada Obi",
    )


def test_it_returns_nothing_for_something_that_is_not_a_feed() -> None:
    assert articles_from_bytes(b"<html><body>hello</body></html>") == []
    assert articles_from_bytes(b"") == []


def test_it_reads_json_feed() -> None:
    document = b"""{"version": "https://jsonfeed.org/version/1.1", "title": "J", "language": "en",
      "items": [{"id": "1", "url": "https://e.org/1?utm_source=x", "title": "Hello",
                 "content_html": "<p>Body <script>x()</script></p>", "summary": "Sum",
                 "date_published": "2026-03-02T10:00:00+01:00", "authors": [{"name": "Ann"}]}]}"""
    (article,) = articles_from_bytes(document, url="https://e.org/feed.json", now=NOW)
    assert (article.title, article.url, article.content) == ("Hello", "https://e.org/1", "Body")
    assert article.published_at == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert (article.author, article.language, article.summary) == ("Ann", "en", "Sum")
    assert articles_from_bytes(b'{"error": "not found"}') == []


def test_half_a_character_in_a_json_feed_becomes_u_fffd() -> None:
    # JSON's \\ud800 escape decodes to a lone surrogate, which neither database (nor any
    # UTF-8 encoder) takes: storing the feed's articles would fail on every poll.
    document = rb"""{"version": "https://jsonfeed.org/version/1.1", "title": "J",
      "items": [{"id": "1", "url": "https://e.org/\ud800", "title": "Naira \ud800 falls",
                 "content_text": "x \udfff y \ud83d\ude00"}]}"""
    (article,) = articles_from_bytes(document, url="https://e.org/feed.json", now=NOW)
    assert article.title == "Naira \ufffd falls"
    assert article.content == "x \ufffd y \U0001f600"  # a whole pair stays one character
    assert article.url.encode("utf-8")  # no half characters left anywhere


def test_it_reads_a_gzip_body_served_without_its_header() -> None:
    import gzip

    document = doc("<item><guid>z</guid><title>Zipped</title></item>")
    assert [a.title for a in articles_from_bytes(gzip.compress(document))] == ["Zipped"]


def test_it_removes_control_characters() -> None:
    assert clean_text("ab\x08cd\x00e") == "abcde"


@pytest.mark.parametrize(
    "reference",
    [
        "&#xD800;",
        "&#55296;",
        "&#xdfff;",
        "&#x110000;",
        "&#99999999999;",
        "&#x" + "0" * 20 + "D800;",
        "&#" + "9" * 5000 + ";",  # more digits than int() reads
        "&#" + "9" * 5000,  # ... and no ';'
    ],
    ids=[
        "surrogate-hex",
        "surrogate-decimal",
        "low-surrogate",
        "past-unicode",
        "huge",
        "padded",
        "too-many-digits",
        "unterminated",
    ],
)
def test_a_character_reference_to_no_character_spoils_only_itself(reference: str) -> None:
    # feedparser raises on these; one in one entry must not fail the whole feed.
    escaped = reference.replace("&", "&amp;")  # as HTML inside the XML carries it
    body = doc(
        f"<item><guid>g1</guid><title>NATO {reference} office</title>"
        f"<description>&lt;p&gt;naira {escaped} market&lt;/p&gt;</description></item>"
        "<item><guid>g2</guid><title>Naira &#8217;s fall &#x1F600;</title></item>"
    )
    first, second = articles_from_bytes(body, url="https://feed.example.org/rss")
    assert first.title == "NATO \ufffd office"
    assert "naira \ufffd market" in first.summary
    assert second.title == "Naira \u2019s fall \U0001f600"


def test_a_long_but_valid_reference_is_read() -> None:
    body = doc(f"<item><guid>g1</guid><title>NATO &#{'0' * 5000}65; office</title></item>")
    (article,) = articles_from_bytes(body, url="https://feed.example.org/rss")
    assert article.title == "NATO A office"


@pytest.mark.parametrize(
    "name", [b"utf-8\x00", b"\xff\xfe", b"\xed\xa0\x80"], ids=["nul", "bom", "surrogate"]
)
def test_a_declared_encoding_that_names_nothing_is_read_as_utf8(name: bytes) -> None:
    body = doc("<item><guid>g1</guid><title>Naira’s fall</title></item>").replace(
        b"encoding='utf-8'", b"encoding='" + name + b"'"
    )
    (article,) = articles_from_bytes(body, url="https://feed.example.org/rss")
    assert article.title == "Naira’s fall"
    # ... and the feed's health says what was wrong with it.
    assert (parse_feed(body).problem or "").startswith("malformed feed: ")


@pytest.mark.parametrize(
    "soup",
    [
        "<image><link></image>https://e.org/0</link>",  # feedparser: IndexError
        "<source url='https://s.org/'><link></source>https://e.org/0</link>",  # KeyError
    ],
    ids=["link-across-image", "link-across-source"],
)
def test_badly_nested_tags_spoil_only_their_entry(soup: str) -> None:
    body = doc(
        f"<item><guid>g1</guid><title>Naira falls</title>{soup}</item>"
        "<item><guid>g2</guid><title>NATO office</title><link>https://e.org/2</link></item>"
    )
    first, second = articles_from_bytes(body, url="https://feed.example.org/rss")
    assert (first.title, second.title) == ("Naira falls", "NATO office")
    assert second.url == "https://e.org/2"
    # The feed's health names what was mended, on one line.
    problem = parse_feed(body).problem or ""
    assert problem.startswith("malformed feed: line 1: Opening and ending tag mismatch")
    assert "\n" not in problem


def bare(items: str) -> bytes:
    # No channel <link>: feedparser's crashes below need the channel to have none.
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>T</title>"
        f"{items}</channel></rss>"
    ).encode()


def test_a_feed_unreadable_as_a_whole_is_read_entry_by_entry() -> None:
    # Well-formed, yet feedparser raises KeyError on the channel's image: its entries are read
    # one by one, the image left out.
    body = bare(
        "<image><link><guid>g</guid></link></image>"
        "<item><guid>g1</guid><title>Naira falls</title></item>"
        "<item><guid>g2</guid><title>NATO office</title></item>"
    )
    parsed = parse_feed(body)
    assert parsed.title == "T"
    assert [entry.title for entry in parsed.entries] == ["Naira falls", "NATO office"]
    assert parsed.problem == (
        "malformed feed: unreadable as a whole (KeyError: 'links'); read entry by entry"
    )


_HEIGHT = "<image><url>https://e.org/i.png</url><heiht>1</height></image>"


@pytest.mark.parametrize(
    ("prologue", "channel"),
    [
        # feedparser: TypeError (an <image> height it finds no value for)
        ("", _HEIGHT),
        # ... and a control character before the root, on which libxml2 gives up
        ("<!-- \x1a -->", _HEIGHT),
        # KeyError, read entry by entry, with a prefix no one declared in the entry
        ("", "<image><link><guid>g</guid></link></image>"),
    ],
    ids=["image-height", "control-character", "undeclared-prefix"],
)
def test_other_documents_feedparser_raises_on_are_read(prologue: str, channel: str) -> None:
    body = bare(
        f"{channel}<item><guid>g1</guid><title>Naira falls</title>"
        "<content:encoded>&lt;p&gt;Naira falls&lt;/p&gt;</content:encoded></item>"
    ).replace(b"?><rss", f"?>{prologue}<rss".encode())
    parsed = parse_feed(body)
    assert [entry.title for entry in parsed.entries] == ["Naira falls"]
    assert (parsed.problem or "").startswith("malformed feed: ")


def test_an_entry_still_unreadable_is_left_out_alone_and_counted() -> None:
    body = bare(
        "<item><guid>g1</guid><title>Naira falls</title></item>"
        "<image><description><item><title>A</title><link><guid>g</guid></link></item>"
        "</description></image>"
        "<item><guid>g2</guid><title>NATO office</title></item>"
    )
    parsed = parse_feed(body)
    assert [entry.title for entry in parsed.entries] == ["Naira falls", "NATO office"]
    assert (parsed.problem or "").endswith("read entry by entry, 1 of 3 unreadable and left out")


_TAG_SOUP = [
    "<item>",
    "</item>",
    "<title>A</title>",
    "<link>",
    "</link>",
    "https://e.org/1",
    "<image>",
    "</image>",
    "<source url='https://s.org/'>",
    "</source>",
    "<description>",
    "</description>",
    "<guid>g</guid>",
]


def test_any_tag_soup_is_read_without_raising() -> None:
    # feedparser's lenient parser raises on some nestings (about one document in 150 of these);
    # whatever the order of the tags, reading the feed gives entries or a reported problem,
    # never an exception. Seeded, so that it tries the same 2,000 documents every time.
    rnd = random.Random(20261130)
    for _ in range(2000):
        parts = rnd.choices(_TAG_SOUP, k=rnd.randint(0, 16))
        body = bare("".join(parts))
        parse_feed(body)
        articles_from_bytes(body, url="https://feed.example.org/rss")
