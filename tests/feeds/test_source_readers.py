"""The source readers on hostile documents: whatever a page, a sitemap or GDELT sends, the
reader ends in entries or in a one-line problem, and nothing from it keeps its markup."""

from __future__ import annotations

import gzip

import pytest

from monitor.feeds.fetcher import FetchResult
from monitor.feeds.limits import FeedLimits
from monitor.feeds.normalise import articles_from_parsed
from monitor.feeds.parser import ParsedFeed
from monitor.feeds.sources import SourceContext, read_source
from monitor.feeds.sources.html import compile_selector

BASE = "https://www.cbt.example/out/circulars.html"
SELECTORS = {"items": "li", "title": "h3", "link": "a", "date": "time", "summary": "p"}


def read(kind: str, body: bytes, **options: str) -> ParsedFeed:
    result = FetchResult(status=200, url=BASE, headers={"content-type": "text/html"}, body=body)
    return read_source(kind, result, SourceContext({**SELECTORS, **options}))


def test_it_keeps_no_markup_or_script_link_from_a_listing_page() -> None:
    body = b"""<ul>
      <li><h3>Rates &amp; <b>limits</b><script>alert(1)</script></h3>
          <a href="javascript:alert(1)">x</a></li>
      <li><h3>&lt;img src=x onerror=alert(1)&gt; Circular</h3><a href="/c/1.html">read</a>
          <p>Text <i>here</i></p><time>not a date at all</time></li>
    </ul>"""

    parsed = read("html", body)
    articles = articles_from_parsed(parsed, url=BASE)

    assert [a.title for a in articles] == ["Circular"]
    assert articles[0].url == "https://www.cbt.example/c/1.html"
    assert articles[0].summary == "Text here"
    assert parsed.problem == "1 of 2 items had no title or no link"


@pytest.mark.parametrize(
    ("kind", "body", "problem"),
    [
        ("html", b"", "items: the page is empty"),
        ("html", b"\x00\xff\xfe" * 100, "items: matched nothing ('li'); has the page changed?"),
        ("sitemap", b"<urlset><url><loc>", "not a sitemap: not well-formed XML"),
        ("sitemap", b"<rss version='2.0'/>", "not a sitemap: the document is <rss>, not <urlset>"),
        ("gdelt", b"[" * 100_000, "GDELT answered: " + "[" * 199 + "…"),
        ("gdelt", b'"just a string"', "GDELT answered JSON without articles"),
        ("gdelt", b'{"articles": {"url": 1}}', "GDELT's 'articles' is not a list"),
        ("rss-bridge", b"", "unknown source type 'rss-bridge'"),
    ],
    ids=[
        "empty-page",
        "binary-page",
        "cut-off-sitemap",
        "feed-not-sitemap",
        "deep-json",
        "json-string",
        "articles-not-a-list",
        "unknown-type",
    ],
)
def test_it_ends_a_hostile_document_in_one_problem(kind: str, body: bytes, problem: str) -> None:
    parsed = read(kind, body)

    assert (parsed.is_feed, parsed.entries, parsed.problem) == (False, [], problem)


def test_it_never_expands_a_sitemaps_external_entities() -> None:
    body = b"""<?xml version="1.0"?>
    <!DOCTYPE urlset [<!ENTITY leak SYSTEM "file:///etc/hostname"><!ENTITY a "aaaaaaaaaa">
    <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>
    <urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
            xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
      <url><loc>https://x.example/1</loc><news:news><news:title>&leak;&c;</news:title></news:news></url>
      <url><loc>javascript:alert(1)</loc></url>
    </urlset>"""

    parsed = read("sitemap", body)

    assert [(e["link"], e["title"]) for e in parsed.entries] == [("https://x.example/1", "")]


def test_it_keeps_the_newest_urls_of_a_sitemap_past_the_entry_limit() -> None:
    urls = "".join(
        f"<url><loc>https://x.example/{day}</loc><lastmod>2026-02-{day:02d}</lastmod></url>"
        for day in range(1, 29)
    )
    result = FetchResult(status=200, url=BASE, headers={}, body=f"<urlset>{urls}</urlset>".encode())

    parsed = read_source("sitemap", result, SourceContext({}, FeedLimits(max_entries=3)))

    assert [e["link"] for e in parsed.entries] == [f"https://x.example/{d}" for d in (26, 27, 28)]
    assert parsed.left_out == 25
    assert parsed.problem == "25 URLs left out: a poll reads at most 3, newest first"


def test_it_refuses_a_selector_that_is_not_css() -> None:
    with pytest.raises(ValueError, match=r"not a CSS selector: 'li\[\['"):
        compile_selector("li[[")


def test_it_makes_gdelts_half_characters_whole() -> None:
    # Found by the fuzz loop: a lone surrogate escape reached the database as half a character.
    body = b'{"articles": [{"url": "https://x.example/1", "title": "Naira \\ud800 falls"}]}'

    parsed = read("gdelt", body)

    assert parsed.entries[0]["title"] == "Naira \ufffd falls"


def test_it_inflates_a_gzipped_sitemap_within_the_byte_limit() -> None:
    urls = "".join(f"<url><loc>https://x.example/{n}</loc></url>" for n in range(3))
    body = gzip.compress(f"<urlset>{urls}</urlset>".encode())
    result = FetchResult(status=200, url=BASE, headers={}, body=body)

    parsed = read_source("sitemap", result, SourceContext({}))
    bomb = FetchResult(status=200, url=BASE, headers={}, body=gzip.compress(b" " * 10_000))
    refused = read_source("sitemap", bomb, SourceContext({}, FeedLimits(max_bytes=1024)))

    assert [e["link"] for e in parsed.entries] == [f"https://x.example/{n}" for n in range(3)]
    assert refused.problem == (
        "refused: body larger than 1024 bytes once inflated (gzip without its header)"
    )
