"""OPML: lenient import of real files, OPML 2.0 export that imports back."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from monitor.feeds.config import FeedSpec
from monitor.feeds.opml import export_opml, parse_opml
from tests.conftest import shared_data


def test_it_reads_folders_and_categories_as_tags() -> None:
    result = parse_opml(b"""<?xml version="1.0"?><opml version="2.0"><head/><body>
      <outline text="Nigeria"><outline text="Premium Times" type="rss"
        xmlUrl="https://www.premiumtimesng.com/feed" htmlUrl="https://www.premiumtimesng.com/"
        category="/politics,business"/></outline>
      <outline text="A site" type="link" url="https://example.org/"/>
      <outline text="No URL"/>
      <outline text="Bad" xmlUrl="ftp://example.org/feed"/>
      <outline text="Twice" xmlUrl="https://www.premiumtimesng.com/feed"/>
    </body></opml>""")
    (feed,) = result.feeds
    assert feed.url == "https://www.premiumtimesng.com/feed" and feed.title == "Premium Times"
    assert feed.tags == ("Nigeria", "politics", "business")
    assert [why for _what, why in result.skipped] == [
        "a web link, not a feed (no xmlUrl)",
        "no xmlUrl",
        "not an http(s) URL: 'ftp://example.org/feed'",
        "listed twice",
    ]


def test_it_recovers_from_bare_ampersands() -> None:
    result = parse_opml(b"""<opml version="1.0"><body>
      <outline text="News & Views" xmlUrl="https://e.org/rss?a=1&b=2"/>
    </body></opml>""")
    assert result.recovered == "escaped bare '&' characters"
    assert [(f.title, f.url) for f in result.feeds] == [
        ("News & Views", "https://e.org/rss?a=1&b=2")
    ]


def test_it_reads_outline_by_outline_when_nothing_else_works() -> None:
    result = parse_opml(b"""<opml><body><outline text="One" xmlUrl="https://e.org/1">
      <outline text="Two" xmlUrl='https://e.org/2'/> <unclosed </body>""")
    assert [f.url for f in result.feeds] == ["https://e.org/1", "https://e.org/2"]
    assert result.recovered and "not well-formed" in result.recovered


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not xml at all",
        b"<rss/>",
        b"<opml><head/></opml>",
        b"\xff\xfe\x00<",
        b'<!DOCTYPE x [<!ENTITY a "aaaa">]><opml><body><outline text="&a;" xmlUrl="https://e.org/"/></body></opml>',
        b'<?xml version="1.0" encoding="U9F-8"?><opml><body>'
        b'<outline text="e" xmlUrl="https://e.org/"/></body></opml>',
    ],
    ids=["empty", "text", "other-xml", "no-body", "binary", "dtd", "unknown-encoding"],
)
def test_it_reports_files_it_cannot_use(data: bytes) -> None:
    result = parse_opml(data)
    assert result.feeds == [] or [f.url for f in result.feeds] == ["https://e.org/"]
    if not result.feeds:
        assert result.skipped


def test_it_exports_opml_2_that_imports_back() -> None:
    specs = [
        FeedSpec(
            url="https://a.example.org/rss?x=1&y=2", name="A & B", tags=("nigeria", "business")
        ),
        FeedSpec(url="https://b.example.org/rss"),
    ]
    document = export_opml(specs, titles={"https://b.example.org/rss": "Bee"})
    root = ET.fromstring(document)
    assert root.get("version") == "2.0" and root.find("head/title") is not None
    assert root.find("head/dateCreated") is not None
    back = parse_opml(document.encode())
    assert [(f.url, f.title, f.tags) for f in back.feeds] == [
        ("https://a.example.org/rss?x=1&y=2", "A & B", ("nigeria", "business")),
        ("https://b.example.org/rss", "Bee", ()),
    ]


@pytest.mark.shared_data
def test_it_imports_or_reports_every_real_opml_file() -> None:
    root = shared_data("opml")
    files = sorted(p for p in root.rglob("*") if p.is_file())
    assert len(files) > 100
    imported = 0
    for path in files:
        result = parse_opml(path.read_bytes())
        assert result.feeds or result.skipped, path
        imported += len(result.feeds)
        for feed in result.feeds:
            assert feed.url.startswith(("http://", "https://")), (path, feed.url)
    assert imported > 1000
    nigeria = parse_opml(
        (root / "awesome-rss-feeds/countries/with_category/Nigeria.opml").read_bytes()
    )
    assert any("premiumtimesng.com" in f.url for f in nigeria.feeds)
