"""The dashboard in headless Chromium over a real uvicorn server on loopback."""

from __future__ import annotations

import secrets
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from monitor import db as storage
from monitor.config import Settings
from monitor.dashboard.app import create_app
from monitor.models import Article, Hit, Watchlist, utcnow
from monitor.states import NotAlerted
from tests.conftest import ROOT, need
from tests.dashboard.conftest import seeded

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture
def server(sqlite_settings: Settings) -> Iterator[tuple[str, Settings]]:
    with seeded(sqlite_settings, hits=12) as made:
        made["hits"][0].article.title = "<script>window.pwned=1</script>"
        made["hits"][1].snippet = "<img src=x onerror=window.pwned=2> solar"
        made["hits"][1].highlights = [[36, 41]]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        create_app(sqlite_settings), host="127.0.0.1", port=port, log_level="warning"
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", sqlite_settings
    srv.should_exit = True
    thread.join(10)


@pytest.fixture
def page(server: tuple[str, Settings]) -> Iterator[Any]:
    need(CHROMIUM.exists(), "Chromium is not installed at /usr/bin/chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        pg = browser.new_page(viewport={"width": 1360, "height": 820})
        pg.events: list[str] = []  # type: ignore[attr-defined,misc]
        pg.on("dialog", lambda d: (pg.events.append(f"dialog {d.message}"), d.dismiss()))
        pg.on("console", lambda m: pg.events.append(f"console {m.type} {m.text}"))
        pg.on("pageerror", lambda e: pg.events.append(f"pageerror {e}"))
        yield pg
        browser.close()


def _store_hit(
    settings: Settings,
    title: str,
    snippet: str,
    spans: list[list[int]],
    *,
    published_at: datetime | None = None,
    **values: Any,
) -> None:
    """A hit as the pipeline would store it while the page is open."""
    with storage.sessionmaker_for(settings)() as s:
        article = Article(
            identity=secrets.token_hex(32),
            url="http://wire.test/new",
            title=title,
            published_at=published_at,
        )
        s.add(article)
        s.flush()
        s.add(
            Hit(
                watchlist_id="acme",
                article_id=article.id,
                created_at=utcnow(),
                snippet=snippet,
                highlights=spans,
                **values,
            )
        )
        s.commit()


def test_it_filters_opens_a_hit_and_shows_new_hits_live(
    page: Any, server: tuple[str, Settings]
) -> None:
    base, settings = server
    page.goto(base + "/")
    assert page.locator("#hits tbody tr").count() == 12
    page.screenshot(path=str(ARTIFACTS / "dashboard-hits.png"), full_page=True)

    page.select_option("select[name=watchlist]", "acme")
    page.wait_for_url("**watchlist=acme**", wait_until="load")
    assert page.locator("#hits tbody tr").count() == 6
    page.locator("#hits tbody tr td.time a").nth(1).click()
    page.wait_for_url("**/hits/**", wait_until="load")
    assert page.locator(".snippet mark").first.inner_text() == "acme"
    page.screenshot(path=str(ARTIFACTS / "dashboard-hit.png"), full_page=True)

    page.goto(base + "/")
    _store_hit(settings, "Fresh acme news", "Breaking acme story", [[9, 13]])
    first = page.locator("#hits tbody tr").first
    first.locator("text=Fresh acme news").wait_for(timeout=10_000)
    assert first.locator("mark").inner_text() == "acme"
    page.screenshot(path=str(ARTIFACTS / "dashboard-live.png"), full_page=True)

    for name in ("watchlists", "feeds", "deliveries"):
        page.goto(f"{base}/{name}")
        page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}.png"), full_page=True)


def test_it_renders_hostile_headlines_as_text(page: Any, server: tuple[str, Settings]) -> None:
    base, settings = server
    page.goto(base + "/")
    assert page.locator("text=<script>window.pwned=1</script>").count() == 1
    # Rows added by the live refresh are built in the browser: they must stay text as well.
    hostile = "<img src=x onerror=window.pwned=3>"
    _store_hit(settings, hostile, f"{hostile} acme", [[35, 39]])
    page.locator("#hits tbody tr.fresh").first.wait_for(timeout=10_000)
    fresh = page.locator("#hits tbody tr.fresh")
    assert fresh.locator("td.headline").inner_text() == hostile
    assert fresh.locator("td.snippet mark").inner_text() == "acme"
    assert page.locator("#hits img").count() == 0
    assert page.evaluate("window.pwned") is None
    assert not [e for e in page.events if e.startswith(("dialog", "pageerror"))]
    page.screenshot(path=str(ARTIFACTS / "dashboard-xss.png"), full_page=True)


def test_it_shows_live_rows_with_the_same_cells_as_the_page(
    page: Any, server: tuple[str, Settings]
) -> None:
    base, settings = server
    with storage.sessionmaker_for(settings)() as s:
        s.get_one(Watchlist, "acme").name = "Acme merger watch"
        s.commit()
    page.goto(base + "/")
    served = page.locator("#hits tbody tr").first.locator("td").all_inner_texts()
    _store_hit(
        settings,
        "An old acme story",
        "An old acme story",
        [[7, 11]],
        published_at=datetime(2016, 5, 4, 8, 30, tzinfo=UTC),
        not_alerted=NotAlerted.TOO_OLD,
        score=1.5,
    )
    fresh = page.locator("#hits tbody tr.fresh")
    fresh.wait_for(timeout=10_000)
    cells = fresh.locator("td").all_inner_texts()
    assert len(cells) == len(served) == 8
    assert cells[1:3] == ["2016-05-04 08:30", "Acme merger watch"]
    assert cells[5] == "1.50"
    assert cells[7] == "not alerted: too old"
    page.screenshot(path=str(ARTIFACTS / "dashboard-live-silent.png"), full_page=True)


def test_it_shows_a_page_not_json_for_a_missing_hit(
    page: Any, server: tuple[str, Settings]
) -> None:
    base, _ = server
    for path in ("/hits/999999", "/hits/abc", "/no-such-page"):
        response = page.goto(base + path)
        assert response is not None and response.status == 404
        assert page.locator("h1").inner_text() == "404: not found"
    page.screenshot(path=str(ARTIFACTS / "dashboard-404.png"), full_page=True)
    page.locator("text=Back to recent hits").click()
    page.wait_for_url(base + "/", wait_until="load")
    assert page.locator("#hits tbody tr").count() == 12
