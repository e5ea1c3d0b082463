"""The hit page's actions in headless Chromium over a real uvicorn server (issue 17): the
buttons label, mute and undo, a double click acts once, and the label filters the list."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from monitor import db as storage
from monitor.config import Settings
from monitor.models import Hit, HitAction
from tests.conftest import make_settings
from tests.dashboard.test_browser import ARTIFACTS, page, server

__all__ = ["page", "server"]

pytestmark = pytest.mark.browser


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    """The browser tests' server, with writes on (what `server` is made from)."""
    settings = make_settings(tmp_path, dashboard_writes=True)
    storage.upgrade(settings)
    return settings


def newest_hit(settings: Settings) -> int:
    with storage.sessionmaker_for(settings)() as s:
        return int(s.scalars(select(Hit.id).order_by(Hit.created_at.desc())).first() or 0)


def test_it_labels_mutes_and_undoes_with_the_buttons(
    page: Any, server: tuple[str, Settings]
) -> None:
    base, settings = server
    hit_id = newest_hit(settings)
    page.goto(f"{base}/hits/{hit_id}")
    assert page.locator("#label").inner_text() == "—"

    page.click("button[value=not_relevant]")
    page.wait_for_url(f"**/hits/{hit_id}?act=*", wait_until="load")
    assert page.locator("#label .label").inner_text() == "not relevant"
    assert page.locator(".outcome").inner_text().startswith("Marked not relevant by local user")

    # A double click on Mute story: one act.
    page.dblclick("button[value=mute_story]")
    page.wait_for_url(f"**/hits/{hit_id}?act=*", wait_until="load")
    page.locator(".muted-story").wait_for()
    with storage.sessionmaker_for(settings)() as s:
        mutes = s.scalar(
            select(func.count()).select_from(HitAction).where(HitAction.action == "mute_story")
        )
    assert mutes == 1
    page.screenshot(path=str(ARTIFACTS / "dashboard-hit-actions.png"), full_page=True)

    page.locator("table.acts tr", has_text="Story muted").locator("text=Undo").click()
    page.wait_for_url(f"**/hits/{hit_id}?act=*", wait_until="load")
    assert page.locator(".outcome").inner_text().startswith("Undone by local user")
    assert page.locator(".muted-story").count() == 0

    page.goto(base + "/")
    page.select_option("select[name=label]", "not_relevant")
    page.wait_for_url("**label=not_relevant**", wait_until="load")
    rows = page.locator("#hits tbody tr")
    assert rows.count() == 1 and rows.first.locator(".label").inner_text() == "not relevant"
    assert not [e for e in page.events if e.startswith(("dialog", "pageerror"))]
