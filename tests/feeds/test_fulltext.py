"""Full text: only the story of a page is kept, fetched under the same rules as feeds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from monitor import db as storage
from monitor.feeds import extract_main_text, poll_feed
from monitor.feeds.addresses import resolve
from monitor.models import Article
from tests.conftest import make_settings
from tests.feeds.conftest import NOW, add_feed
from tests.support.feedserver import FeedServer

STORY = [
    "Japan and NATO agreed on Tuesday to open a liaison office in Tokyo, the first of its kind "
    "in Asia, officials from both sides said after talks in Brussels.",
    "The office will coordinate exercises, cyber defence and the exchange of intelligence on "
    "Chinese and North Korean military activity, according to a joint statement.",
    "Prime Minister's office staff said the arrangement did not amount to membership and would "
    "not change Japan's constitutional limits on the use of force abroad.",
]

PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Japan and NATO open liaison office</title></head>
<body>
<header><nav><ul>
  <li><a href="/">Home</a></li><li><a href="/world">World</a></li>
  <li><a href="/business">Business</a></li><li><a href="/subscribe">Subscribe now</a></li>
</ul></nav></header>
<div class="share-bar"><a href="#">Share on Facebook</a> <a href="#">Share on X</a>
  <a href="#">Email this story</a></div>
<main><article>
  <h1>Japan and NATO open liaison office</h1>
  <p class="byline">By Staff Reporter</p>
  {"".join(f"<p>{p}</p>" for p in STORY)}
</article></main>
<aside class="related"><h2>More like this</h2><ul>
  <li><a href="/a">Naira slides on the parallel market as the CBN tightens FX rules</a></li>
  <li><a href="/b">Boko Haram attack in Borno leaves twelve farmers dead</a></li>
</ul></aside>
<div class="newsletter">Sign up to our newsletter for the day's top stories</div>
<footer>© 2026 Example News. All rights reserved.</footer>
</body></html>"""

NOISE = [
    "Naira",
    "naira",
    "Boko Haram",
    "Share on",
    "Subscribe",
    "newsletter",
    "More like this",
    "Home",
    "All rights reserved",
]


def test_it_keeps_only_the_story_of_a_page() -> None:
    text = extract_main_text(PAGE, url="https://news.example.org/japan-nato")
    for paragraph in STORY:
        assert paragraph in text
    for noise in NOISE:
        assert noise not in text


def test_it_returns_nothing_for_an_empty_page() -> None:
    assert extract_main_text("") == ""
    assert extract_main_text("<html><body></body></html>") == ""


def feed_with(server: FeedServer, links: list[str]) -> bytes:
    items = "".join(
        f"<item><guid>{i}</guid><title>Story {i}</title><link>{link}</link>"
        f"<description>Teaser {i}</description></item>"
        for i, link in enumerate(links)
    )
    return f"<rss version='2.0'><channel><title>T</title>{items}</channel></rss>".encode()


def test_it_replaces_content_with_the_pages_main_text(server: FeedServer, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    storage.upgrade(settings)
    server.set("/story", PAGE, content_type="text/html; charset=utf-8")
    server.set("/missing", b"nope", status=404, content_type="text/plain")
    server.set("/rss", feed_with(server, [server.url("/story"), server.url("/missing")]))
    with storage.sessionmaker_for(settings)() as db:
        feed = add_feed(db, server.url("/rss"), fulltext=True)
        outcome = poll_feed(db, feed.id, settings=settings, now=NOW)
        assert outcome.outcome == "new"
        story, missing = db.scalars(select(Article).order_by(Article.id)).all()
    assert STORY[0] in story.content and "naira" not in story.content.lower()
    assert story.fulltext_error is None and story.summary == "Teaser 0"
    assert missing.fulltext_error == "HTTP 404" and missing.content == ""
    assert missing.summary == "Teaser 1"
    assert server.last_headers("/story")["user-agent"].startswith("monitor/")


def test_it_refuses_private_article_pages_unless_allowed(
    server: FeedServer, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, allow_private_feeds=False)
    storage.upgrade(settings)
    server.set("/story", PAGE, content_type="text/html")
    # The feed itself is reached through a public-looking path we allow for this test only.
    # Connections are checked as they open and then kept alive, so the page is named by a
    # host other than the feed's (localhost), which the check sees as it is.
    import monitor.feeds.network as network

    real = network.checked_addresses

    def only_pages(host: str, port: int) -> list[Any]:
        return resolve(host, port) if host == "127.0.0.1" else real(host, port)

    setattr(network, "checked_addresses", only_pages)  # noqa: B010
    try:
        page = server.url("/story").replace("127.0.0.1", "localhost")
        server.set("/rss", feed_with(server, [page]))
        with storage.sessionmaker_for(settings)() as db:
            feed = add_feed(db, server.url("/rss"), fulltext=True)
            assert poll_feed(db, feed.id, settings=settings, now=NOW).outcome == "new"
            (article,) = db.scalars(select(Article)).all()
    finally:
        setattr(network, "checked_addresses", real)  # noqa: B010
    assert "private address" in (article.fulltext_error or "")
    assert server.count("/story") == 0
