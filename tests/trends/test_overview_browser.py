"""The overview page in headless Chromium: the charts render with data, pointing at a bucket
shows its counts and a click opens its slice of the hits list, no console errors, and the
screenshots are checked pixel by pixel."""

from __future__ import annotations

import base64
import re
import struct
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from monitor import db as storage
from monitor.alerts.links import hits_list_link
from monitor.config import Settings
from monitor.dashboard.app import create_app
from monitor.dashboard.charts import BOTTOM, HEIGHT, LEFT, RIGHT, WIDTH
from monitor.trends.polls import count_poll
from monitor.trends.rollup import HOUR, roll_up
from tests.alerts.conftest import World
from tests.conftest import need
from tests.dashboard.test_browser import ARGS, CHROMIUM

pytestmark = pytest.mark.browser

# Pixels of the screenshot, counted in a blank page of the same browser (no CSP there, so
# the PNG can be drawn on a canvas): its size, how many colours, how many in the bar blue.
PIXELS = """async (b64) => {
  const img = new Image();
  img.src = 'data:image/png;base64,' + b64;
  await img.decode();
  const canvas = document.createElement('canvas');
  canvas.width = img.width; canvas.height = img.height;
  const ctx = canvas.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const d = ctx.getImageData(0, 0, img.width, img.height).data;
  const colours = new Set();
  let stories = 0;
  for (let i = 0; i < d.length; i += 4) {
    colours.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
    if (d[i] === 0x24 && d[i + 1] === 0x57 && d[i + 2] === 0xc5) stories++;
  }
  return {width: img.width, height: img.height, colours: colours.size, stories};
}"""


@pytest.fixture
def server(sqlite_settings: Settings) -> Iterator[str]:
    now = datetime.now(UTC)
    with storage.sessionmaker_for(sqlite_settings)() as session:
        world = World(session)
        spec = world.watchlist("nk-russia", "North Korea & Russia <i>")
        for h in range(0, 7 * 24, 3):
            for n in range(1 + h % 4):
                moment = now - timedelta(hours=h, minutes=n)
                article = world.article(f"Item {h}.{n}", published_at=moment, first_seen_at=moment)
                world.hit(spec, article, settings=sqlite_settings, now=moment)
            count_poll(session, "new" if h % 2 else "unchanged", now=now - timedelta(hours=h))
        session.commit()
        roll_up(session, now=now)
    config = uvicorn.Config(
        create_app(sqlite_settings), host="127.0.0.1", port=0, log_level="warning"
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    port = srv.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


@pytest.fixture
def browser() -> Iterator[Any]:
    need(CHROMIUM.exists(), "Chromium is not installed at /usr/bin/chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def test_it_renders_the_charts_with_data_and_no_console_errors(
    browser: Any, server: str, tmp_path: Path
) -> None:
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    events: list[str] = []
    page.on("console", lambda m: events.append(f"console {m.type} {m.text}"))
    page.on("pageerror", lambda e: events.append(f"pageerror {e}"))
    page.on("response", lambda r: r.status >= 400 and events.append(f"{r.status} {r.url}"))
    page.goto(server + "/overview?range=7d")

    chart = page.locator("svg.watchlist-chart").first
    assert (
        page.locator("section[data-watchlist=nk-russia] h3")
        .inner_text()
        .startswith("North Korea & Russia <i>")
    )
    # One path a series, one subpath a bar: 56 three-hourly buckets with hits in the week.
    assert bars(page, "svg.watchlist-chart path.c-stories") >= 50
    assert bars(page, "svg.polls-chart path.bar") >= 50
    assert bars(page, "svg.articles-chart path.bar") >= 7
    box = chart.bounding_box()
    assert box is not None and box["width"] > 600 and box["height"] > 150
    ticks = chart.locator("text.tick").evaluate_all("els => els.map(e => e.textContent)")
    assert "0" in ticks and len(ticks) >= 8  # y values and dated x labels

    shots = {"page": tmp_path / "overview.png", "chart": tmp_path / "overview-chart.png"}
    page.screenshot(path=str(shots["page"]), full_page=True)
    chart.screenshot(path=str(shots["chart"]))
    blank = browser.new_page()
    for name, path in shots.items():
        width, height = png_size(path)
        assert width >= 600 and height >= 150, name
        pixels = blank.evaluate(PIXELS, base64.b64encode(path.read_bytes()).decode())
        assert (pixels["width"], pixels["height"]) == (width, height)
        assert pixels["colours"] > 8, f"{name} looks blank"
        assert pixels["stories"] > 200, f"{name} shows no story bars"

    # Pointing at a bucket shows its exact counts; a click opens that hour of the watchlist's
    # hits, with the link hits_list_link writes for it (what overview() gives as its link).
    buckets = int(chart.get_attribute("data-buckets") or 0)
    start = datetime.fromisoformat(chart.get_attribute("data-start") + "+00:00")
    stories, articles = (
        [int(v) for v in part.split(",")]
        for part in (chart.get_attribute("data-values") or "").split("|")
    )
    last = max(i for i in range(buckets) if articles[i])
    empty = max(i for i in range(buckets) if not articles[i])
    x, y = bucket_point(box, buckets, last)
    page.mouse.move(x, y)
    tip = page.locator(".chart-tip")
    assert tip.is_visible()
    said = f"{stories[last]} stories, {articles[last]} articles"
    assert re.fullmatch(r"\d\d-\d\d \d\d:00: " + said, tip.inner_text())
    assert page.locator("svg.watchlist-chart.linked").count() == 1
    hour = start + timedelta(hours=last)
    expected = hits_list_link(".", watchlist_id="nk-russia", period=(hour, hour + HOUR))
    page.mouse.click(x, y)
    page.wait_for_url("**watchlist=nk-russia**range=custom**", wait_until="load")
    assert expected is not None and page.url == server + expected.removeprefix(".")
    assert page.locator("#hits tbody tr").count() >= 1

    # A bucket with no hits is not a link: the click stays on the overview.
    page.go_back(wait_until="load")
    chart = page.locator("svg.watchlist-chart").first
    x, y = bucket_point(chart.bounding_box(), buckets, empty)
    page.mouse.move(x, y)
    assert page.locator(".chart-tip").inner_text().endswith(": 0 stories, 0 articles")
    page.mouse.click(x, y)
    page.wait_for_timeout(300)
    assert "/overview" in page.url
    assert not [e for e in events if "error" in e.lower()], events


def bars(page: Any, selector: str) -> int:
    """How many bars the paths of *selector* draw (each bar a subpath, 'M' to 'z')."""
    paths = page.locator(selector).evaluate_all("els => els.map(e => e.getAttribute('d'))")
    return sum(d.count("M") for d in paths)


def bucket_point(box: Any, buckets: int, index: int) -> tuple[float, float]:
    """Where bucket *index* of a chart of *buckets* is on the screen, halfway up its bars."""
    scale = box["width"] / WIDTH  # the viewBox is scaled to the width, from the top left
    slot = (WIDTH - LEFT - RIGHT) / buckets
    x = box["x"] + (LEFT + slot * (index + 0.5)) * scale
    y = box["y"] + (HEIGHT - BOTTOM - 10) * scale
    return x, y


def test_the_keyboard_steps_through_buckets_and_opens_one(browser: Any, server: str) -> None:
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server + "/overview?range=7d")
    chart = page.locator("svg.watchlist-chart").first
    labels = (chart.get_attribute("data-labels") or "").split("|")
    stories, articles = (
        [int(v) for v in part.split(",")]
        for part in (chart.get_attribute("data-values") or "").split("|")
    )
    last = max(i for i in range(len(labels)) if articles[i])
    tip = page.locator(".chart-tip")

    chart.focus()  # opens on the newest bucket with hits
    assert tip.is_visible() and tip.inner_text().startswith(f"{labels[last]}: ")
    page.keyboard.press("ArrowLeft")
    assert tip.inner_text() == (
        f"{labels[last - 1]}: {stories[last - 1]} stories, {articles[last - 1]} articles"
    )
    page.keyboard.press("ArrowRight")
    assert tip.inner_text().startswith(f"{labels[last]}: ")

    start = datetime.fromisoformat((chart.get_attribute("data-start") or "") + "+00:00")
    hour = start + timedelta(hours=last)
    expected = hits_list_link(".", watchlist_id="nk-russia", period=(hour, hour + HOUR))
    page.keyboard.press("Enter")
    page.wait_for_url("**watchlist=nk-russia**range=custom**", wait_until="load")
    assert expected is not None and page.url == server + expected.removeprefix(".")
    assert page.locator("#hits tbody tr").count() >= 1 and not errors


def test_a_day_bucket_opens_that_day_of_hits(browser: Any, server: str) -> None:
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.goto(server + "/overview?range=30d")
    chart = page.locator("svg.watchlist-chart").first
    assert chart.get_attribute("data-step") == "86400"
    buckets = int(chart.get_attribute("data-buckets") or 0)
    articles = [int(v) for v in (chart.get_attribute("data-values") or "").split("|")[1].split(",")]
    day = max(i for i in range(buckets) if articles[i])
    start = datetime.fromisoformat((chart.get_attribute("data-start") or "") + "+00:00")
    since = start + timedelta(days=day)
    expected = hits_list_link(
        ".", watchlist_id="nk-russia", period=(since, since + timedelta(days=1))
    )
    box = chart.bounding_box()
    assert box is not None
    page.mouse.click(*bucket_point(box, buckets, day))
    page.wait_for_url("**watchlist=nk-russia**range=custom**", wait_until="load")
    assert expected is not None and page.url == server + expected.removeprefix(".")
    assert "T00%3A00" in page.url and page.locator("#hits tbody tr").count() >= 1
