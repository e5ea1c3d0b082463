"""``monitor feeds add`` on a site's page finds the site's feed: announced, else at a usual
path; says what it chose, and lists the feeds a page offers."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from monitor.cli.main import cli
from monitor.feeds.sources.discover import FoundFeed, announced_feeds
from tests.feeds.conftest import rss
from tests.feeds.sourcesite import DATA, serve_site
from tests.support.feedserver import FeedServer

HTML = "text/html; charset=utf-8"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "MONITOR_DATABASE_URL": f"sqlite:///{tmp_path}/monitor.db",
        "MONITOR_FEEDS": str(tmp_path / "feeds.yaml"),
        "MONITOR_VAR_DIR": str(tmp_path / "var"),
        "MONITOR_ALLOW_PRIVATE_FEEDS": "1",
    }


def add(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(cli, ["feeds", "add", *args], env=env, catch_exceptions=False)


def stored(env: dict[str, str]) -> list[str]:
    data = yaml.safe_load(Path(env["MONITOR_FEEDS"]).read_text(encoding="utf-8"))
    return [entry["url"] for entry in data["feeds"]]


def test_it_reads_the_feeds_a_homepage_announces_in_order() -> None:
    body = (DATA / "homepage.html").read_text().replace("{base}", "https://ledger.example")

    found = announced_feeds(body.encode(), base="https://ledger.example/")

    # Not the stylesheet, the icon or the French edition: only links of a feed's type.
    assert found == [
        FoundFeed("https://ledger.example/feed/", "The Lagos Ledger » Feed", "application/rss+xml"),
        FoundFeed(
            "https://ledger.example/comments/feed/",
            "The Lagos Ledger » Comments Feed",
            "application/rss+xml",
        ),
        FoundFeed(
            "https://ledger.example/business/atom.xml", "Business (Atom)", "application/atom+xml"
        ),
    ]


def test_it_stores_the_announced_feed_of_a_homepage_and_lists_the_others(
    env: dict[str, str], server: FeedServer
) -> None:
    serve_site(server)

    result = add(env, server.url("/"), "--name", "Ledger")

    assert result.exit_code == 0, result.output
    assert stored(env) == [server.url("/feed/")]
    lines = result.output.splitlines()
    assert lines[0] == f"{server.url('/')} offers 3 feeds:"
    assert f"  {server.url('/comments/feed/')}  The Lagos Ledger » Comments Feed" in lines
    assert f'chose {server.url("/feed/")}: the page\'s <link rel="alternate">' in lines
    assert lines[-1].startswith("added Ledger")


def test_it_passes_over_an_announced_feed_that_is_gone(
    env: dict[str, str], server: FeedServer
) -> None:
    serve_site(server)
    server.set("/feed/", b"not here", status=404, content_type="text/plain")

    result = add(env, server.url("/"))

    assert result.exit_code == 0, result.output
    assert stored(env) == [server.url("/comments/feed/")]


def test_it_tries_the_usual_paths_when_a_page_announces_no_feed(
    env: dict[str, str], server: FeedServer
) -> None:
    server.set(
        "/",
        b"<html><head><title>Ministry</title></head><body>News</body></html>",
        content_type=HTML,
    )
    server.set("/rss.xml", rss(("1", "Minister speaks"), title="Ministry"))

    result = add(env, server.url("/"))

    assert result.exit_code == 0, result.output
    assert stored(env) == [server.url("/rss.xml")]
    assert f"chose {server.url('/rss.xml')}: the usual path /rss.xml" in result.output
    assert server.count("/feed/") == 1 and server.count("/index.xml") == 0


def test_it_keeps_a_feed_url_as_it_is(env: dict[str, str], server: FeedServer) -> None:
    server.set("/rss", rss(("1", "One")))

    result = add(env, server.url("/rss"))

    assert stored(env) == [server.url("/rss")]
    assert result.output.splitlines() == [f"added {server.url('/rss')} to {env['MONITOR_FEEDS']}"]


def test_it_refuses_a_page_with_no_feed_in_one_line(
    env: dict[str, str], server: FeedServer
) -> None:
    server.set("/", b"<html><body>Circulars</body></html>", content_type=HTML)

    result = add(env, server.url("/"))

    assert result.exit_code == 1
    assert result.output.strip() == (
        f"monitor: cannot add {server.url('/')}: it is a page, not a feed, and no feed announced "
        "or at the usual paths; see docs/feeds.md for 'type: html' and 'type: sitemap'"
    )
    assert not Path(env["MONITOR_FEEDS"]).exists()


def test_it_adds_a_url_it_cannot_reach_as_given_and_says_so(
    env: dict[str, str], server: FeedServer
) -> None:
    server.set("/down", b"", status=503, content_type="text/plain")

    result = add(env, server.url("/down"))

    assert result.exit_code == 0
    assert stored(env) == [server.url("/down")]
    assert f"could not check {server.url('/down')} (HTTP 503); adding it as given" in result.output


def test_it_stores_a_page_as_given_when_asked_not_to_discover(
    env: dict[str, str], server: FeedServer
) -> None:
    serve_site(server)

    add(env, server.url("/"), "--no-discover")

    assert stored(env) == [server.url("/")]
    assert server.count("/") == 0


def test_it_names_the_sitemaps_of_a_site_without_a_feed(
    env: dict[str, str], server: FeedServer
) -> None:
    server.set("/", b"<html><body>Circulars</body></html>", content_type=HTML)
    robots = (
        "User-agent: *\nDisallow: /admin/\n\n"
        f"Sitemap: {server.url('/sitemap_index.xml')}\n"
        f"sitemap: {server.url('/news-sitemap.xml')}  # Google News\n"
        "Sitemap: /relative.xml\n"
    )
    server.set("/robots.txt", robots, content_type="text/plain")

    result = add(env, server.url("/"))

    assert result.exit_code == 1
    assert result.output.strip().endswith(
        "; its robots.txt names these sitemaps: "
        f"{server.url('/sitemap_index.xml')}, {server.url('/news-sitemap.xml')}"
    )
    assert len(result.output.strip().splitlines()) == 1
