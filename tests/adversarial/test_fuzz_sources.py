"""The seeded fuzz loop of test_fuzz.py over what sources beyond RSS hand the service: listing
pages, sitemaps and GDELT's JSON (feeds.yaml entries of every type are in test_fuzz.py).

Each mutated document must end in entries or in a one-line problem (never an exception),
within the same time per case and memory per loop; what it yields must be storable text,
and every link an http(s) URL.
"""

from __future__ import annotations

from pathlib import Path

from monitor.feeds.fetcher import FetchResult
from monitor.feeds.normalise import articles_from_parsed
from monitor.feeds.sources import SourceContext, read_source
from tests.adversarial.test_fuzz import SEED, _loop, _mutations

DATA = Path(__file__).parent.parent / "feeds" / "testdata" / "sources"
BASE = "https://www.cbt.example"
SELECTORS = {
    "items": "ul.circular-list li.circular",
    "title": "h3.circular-title",
    "link": "a.download",
    "date": "time",
    "summary": "p.summary",
}


def document(name: str) -> bytes:
    return (DATA / name).read_bytes().replace(b"{base}", BASE.encode())


def read_mutated(kind: str, body: bytes) -> None:
    result = FetchResult(
        status=200, url=BASE + "/", headers={"content-type": "text/html"}, body=body
    )
    parsed = read_source(kind, result, SourceContext(SELECTORS if kind == "html" else {}))
    if not parsed.is_feed:
        assert parsed.problem and "\n" not in parsed.problem, parsed.problem
    for article in articles_from_parsed(parsed, url=BASE + "/"):
        for text in (article.title, article.summary, article.url, article.language or ""):
            text.encode("utf-8")
        assert article.url.startswith(("http://", "https://")), article.url


def test_it_reads_any_mutated_listing_page_or_says_why() -> None:
    pages = [document("circulars.html"), document("circulars-redesigned.html")]
    assert _loop(_mutations(pages, 300, SEED + 20), lambda b: read_mutated("html", b), ()) == 300


def test_it_reads_any_mutated_sitemap_or_says_why() -> None:
    sitemaps = [document("news-sitemap.xml"), document("posts-2026-03.xml")]
    count = _loop(_mutations(sitemaps, 300, SEED + 21), lambda b: read_mutated("sitemap", b), ())
    assert count == 300


def test_it_reads_any_mutated_gdelt_answer_or_says_why() -> None:
    answers = [document("gdelt-artlist.json")]
    count = _loop(_mutations(answers, 300, SEED + 22), lambda b: read_mutated("gdelt", b), ())
    assert count == 300
