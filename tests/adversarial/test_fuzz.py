"""A seeded fuzz loop over everything the outside world hands the service.

Feeds, OPML, the two YAML files people write, watchlist queries and the HTTP API each get a
few hundred generated or mutated inputs, from a fixed seed (so a failure replays). For each
case: it must end in a result or in the one kind of error a person is shown (never another
exception, never a 5xx), within :data:`CASE_SECONDS`; and the whole loop must not grow the
process's peak memory by more than :data:`LOOP_MEGABYTES`. The caps these cases run into are
the ones in docs/operations.md, 'Limits'.
"""

from __future__ import annotations

import random
import resource
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from monitor.config import Settings
from monitor.dashboard.app import create_app
from monitor.errors import MonitorError
from monitor.feeds.config import read_feeds_text
from monitor.feeds.normalise import articles_from_bytes
from monitor.feeds.opml import parse_opml
from monitor.matching import Document, Matcher, QuerySyntaxError, parse_query
from monitor.watchlists.load import load_file
from tests.dashboard.conftest import seed

SEED = 20261204
CASE_SECONDS = 3.0
LOOP_MEGABYTES = 300

RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Wire &amp; co</title><link>https://wire.example/</link>
<item><title>Naira slides on the parallel market</title><link>https://wire.example/1</link>
<guid>1</guid><pubDate>Fri, 04 Dec 2026 09:00:00 GMT</pubDate>
<description>&lt;p&gt;The naira fell &amp;amp; traders waited.&lt;/p&gt;</description></item>
<item><title>NATO liaison office in Japan</title><link>https://wire.example/2</link>
<guid>2</guid><description>France objected.</description></item>
</channel></rss>"""
ATOM = b"""<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>A</title>
<entry><title type="html">&lt;b&gt;Grid&lt;/b&gt; collapse</title><id>urn:1</id>
<link href="https://grid.example/1"/><updated>2026-12-04T09:00:00Z</updated>
<content type="html">Blackout in Lagos.</content></entry></feed>"""
JSON_FEED = (
    b'{"version": "https://jsonfeed.org/version/1.1", "title": "J", "items": '
    b'[{"id": "1", "url": "https://j.example/1", "title": "Turbine failure", '
    b'"content_text": "Output fell."}]}'
)
OPML = b"""<?xml version="1.0"?><opml version="2.0"><head><title>t</title></head><body>
<outline text="News"><outline type="rss" text="Wire" xmlUrl="https://wire.example/rss"/>
<outline text="Grid" xmlUrl="https://grid.example/atom" category="/energy"/></outline>
</body></opml>"""
WATCHLIST = b"""name: Naira
query: naira AND ("parallel market" OR "black market")
alerts:
  - slack: "#fx"
  - email: [desk@example.org]
    digest: daily 08:00 Africa/Lagos
throttle: 10/hour
examples:
  match: ["The naira fell on the parallel market."]
"""
FEEDS_YAML = b"""feeds:
  - url: https://wire.example/rss
    name: Wire
    tags: [nigeria]
    interval: 600
  - https://grid.example/atom
"""
# Sources beyond RSS: each type's own keys.
SOURCES_YAML = b"""feeds:
  - url: https://www.cbt.example/out/circulars.html
    type: html
    items: "ul.circular-list li.circular"
    title: h3
    link: a.download
  - url: https://www.ledger.example/news-sitemap.xml
    type: sitemap
  - type: gdelt
    query: 'naira "parallel market"'
    url: https://api.gdeltproject.org/api/v2/doc/doc?timespan=1d
"""
# Pieces a mutation may splice in: markup, entities, YAML syntax, controls, big numbers.
SPLICES = [
    b"<",
    b">",
    b"&",
    b"&#x10FFFF;",
    b"&#99999999999;",
    b"&amp;",
    b"]]>",
    b"<![CDATA[",
    b"<!DOCTYPE x [<!ENTITY a 'aaaaaaaaaa'>]>",
    b"&a;&a;&a;",
    b"\x00",
    b"\x1b[2J",
    b"\xe2\x80\xae",
    b"\xff\xfe",
    b"*a",
    b"&a [",
    b": ",
    b"- ",
    b"{",
    b"[[[[[[[[",
    b"\n  ",
    b"\t",
    b"'",
    b'"',
    b"9" * 400,
    b"\\ud800",
    b"%",
    b"</item><item>",
    b"<entry>",
]


def mutate(rng: random.Random, data: bytes) -> bytes:
    """One random mutation of *data*: flip, delete, duplicate or splice, one to four times."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(out) + 1)
        kind = rng.randrange(5)
        if kind == 0 and out:
            out[min(at, len(out) - 1)] = rng.randrange(256)
        elif kind == 1 and out:
            del out[at : at + rng.randint(1, 40)]
        elif kind == 2:
            piece = out[at : at + rng.randint(1, 60)]
            out[at:at] = piece * rng.randint(2, 50)
        else:
            out[at:at] = rng.choice(SPLICES) * rng.randint(1, 20)
    return bytes(out)


def _loop(
    cases: Iterator[Any], run: Callable[[Any], object], allowed: tuple[type[BaseException], ...]
) -> int:
    """Run every case; fail on an exception not in *allowed* or a case slower than
    CASE_SECONDS, naming the case so it can be replayed. Returns how many cases ran."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    count = 0
    for number, case in enumerate(cases):
        started = time.perf_counter()
        try:
            run(case)
        except allowed:
            pass
        except Exception as exc:  # the point of the loop: anything else is a finding
            pytest.fail(f"case {number} ({case!r:.200}) raised {type(exc).__name__}: {exc}")
        spent = time.perf_counter() - started
        assert spent < CASE_SECONDS, f"case {number} ({case!r:.200}) took {spent:.1f} s"
        count += 1
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown < LOOP_MEGABYTES, f"peak memory grew by {grown:.0f} MB"
    return count


def _mutations(base: list[bytes], n: int, seed: int) -> Iterator[bytes]:
    rng = random.Random(seed)
    for _ in range(n):
        yield mutate(rng, rng.choice(base))


def test_it_reads_any_mutated_feed_or_says_why() -> None:
    def run(body: bytes) -> None:
        articles = articles_from_bytes(
            body, url="https://wire.example/rss", headers={"content-type": "application/xml"}
        )
        for article in articles:  # what is stored must be encodable text
            for text in (article.title, article.summary, article.content, article.url):
                text.encode("utf-8")

    count = _loop(_mutations([RSS, ATOM, JSON_FEED], 400, SEED), run, ())
    assert count == 400


def test_it_imports_any_mutated_opml_or_says_why() -> None:
    def run(data: bytes) -> None:
        result = parse_opml(data)
        for feed in result.feeds:
            assert feed.url.startswith(("http://", "https://"))

    assert _loop(_mutations([OPML], 400, SEED + 1), run, (MonitorError,)) == 400


def test_it_loads_any_mutated_watchlist_or_reports_it_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "naira.yaml"

    def run(data: bytes) -> None:
        _specs, errors, _ids = load_file(path, data)
        for error in errors:
            assert "\n" not in str(error), str(error)

    assert _loop(_mutations([WATCHLIST], 300, SEED + 2), run, ()) == 300


def test_it_reads_any_mutated_feeds_yaml_or_reports_it_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"

    def run(data: bytes) -> None:
        try:
            loaded = read_feeds_text(data.decode("utf-8", errors="replace"), path=path)
        except MonitorError as exc:
            assert "\n" not in str(exc), str(exc)
            raise
        for problem in loaded.problems:
            assert "\n" not in problem, problem

    assert _loop(_mutations([FEEDS_YAML, SOURCES_YAML], 300, SEED + 3), run, (MonitorError,)) == 300


WORDS = ["naira", "NATO", "econom*", '"parallel market"', "東京", "北한", "-cedi", "title:oil"]
OPERATORS = ["AND", "OR", "NOT", "NEAR/3", "ONEAR/2", "(", ")", "lede:", "source:"]


def _queries(n: int, seed: int) -> Iterator[str]:
    rng = random.Random(seed)
    for _ in range(n):
        parts = [rng.choice(WORDS + OPERATORS) for _ in range(rng.randint(1, 14))]
        if rng.random() < 0.1:
            parts = ["("] * rng.randint(50, 400) + parts  # deep nesting
        yield " ".join(parts)


def test_it_parses_and_matches_any_generated_query_or_says_why() -> None:
    rng = random.Random(SEED + 4)
    text = " ".join(
        rng.choice(["naira", "parallel", "market", "economy", "NATO", "oil"]) for _ in range(3000)
    )
    document = Document(id="1", title="Naira and NATO", content=text)

    def run(query: str) -> None:
        parse_query(query)
        spec = type(
            "Spec", (), {"id": "w", "query": query, "enabled": True, "feeds": [], "languages": []}
        )()
        Matcher([spec]).match(document)

    # A query nested deeper than Python's stack is refused like any syntax error.
    assert _loop(_queries(300, SEED + 5), run, (QuerySyntaxError, RecursionError)) == 300


ROUTES = [
    "/",
    "/hits/{id}",
    "/watchlists",
    "/feeds",
    "/deliveries",
    "/api/hits",
    "/api/hits/export",
    "/api/hits/{id}",
    "/api/watchlists",
    "/api/feeds",
    "/api/deliveries",
]
PARAMS = [
    "watchlist",
    "feed",
    "range",
    "from",
    "to",
    "q",
    "limit",
    "cursor",
    "after",
    "sort",
    "alerted",
    "format",
    "max_rows",
    "offset",
]
VALUES = [
    "",
    "1",
    "-1",
    "0",
    "2" * 30,
    "9" * 5000,
    "²",
    "acme",
    "custom",
    "7d",
    "1h",
    "2026-13-40",
    "2026-12-04T09:00:00Z",
    "x" * 600,
    "%00",
    "\u202e",
    "score",
    "yes",
    "csv",
    "json",
    "' OR 1=1 --",
    "<script>",
    "MTIzfDQ1Ng==",
    "../../etc/passwd",
]


def _requests(n: int, seed: int) -> Iterator[str]:
    rng = random.Random(seed)
    for _ in range(n):
        route = rng.choice(ROUTES).replace("{id}", rng.choice(["1", "0", "-3", "9" * 25, "abc"]))
        pairs = [(rng.choice(PARAMS), rng.choice(VALUES)) for _ in range(rng.randint(0, 4))]
        query = "&".join(f"{k}={v}" for k, v in pairs)
        yield f"{route}?{query}" if query else route


def test_it_answers_any_request_without_a_server_error(
    settings: Settings, session: Session
) -> None:
    seed(session)
    with TestClient(create_app(settings)) as client:

        def run(path: str) -> None:
            for accept in ("application/json", "text/html"):
                response = client.get(path, headers={"accept": accept})
                assert response.status_code < 500, (path, response.status_code)

        assert _loop(_requests(150, SEED + 6), run, ()) == 150
