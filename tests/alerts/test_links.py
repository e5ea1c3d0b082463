"""Links back to the dashboard (MONITOR_PUBLIC_URL): each alert to its hit's page, each
throttle summary and digest to its hits, through the real outbox to the Slack stand-in and a
real SMTP server; and the links open the very hits on the dashboard."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.alerts.send import deliver
from monitor.alerts.sweep import open_due_digests
from monitor.config import Settings
from monitor.dashboard.app import create_app
from monitor.models import Delivery, Hit
from tests.alerts.conftest import NOW, World, alerts
from tests.alerts.test_digest import at
from tests.alerts.test_email import parts
from tests.support.slack_standin import SlackStandIn
from tests.support.smtp import SMTPServer

PUBLIC = "https://monitor.example.org"


def _configured(
    settings: Settings, slack: SlackStandIn, smtp: SMTPServer, *, public_url: str | None
) -> Settings:
    return settings.model_copy(
        update={
            "slack_base_url": slack.base_url,
            "slack_bot_token": SecretStr(slack.token),
            "smtp_url": SecretStr(smtp.url),
            "public_url": public_url,
        }
    )


def _send_all(session: Session, ids: list[int], settings: Settings) -> None:
    session.commit()
    for delivery_id in ids:
        assert deliver(session, delivery_id, settings=settings, now=NOW).sent


def test_it_links_each_slack_and_email_alert_to_its_hit_page(
    session: Session, settings: Settings, world: World, slack: SlackStandIn, smtp: SMTPServer
) -> None:
    settings = _configured(settings, slack, smtp, public_url=PUBLIC)
    spec = world.watchlist("floods", alerts=alerts("slack:#desk", "email:desk@example.org"))
    _send_all(session, world.hit(spec, settings=settings, now=NOW), settings)
    hit_id = session.scalars(select(Hit.id)).one()
    page = f"{PUBLIC}/hits/{hit_id}"

    [post] = slack.posts
    assert f"<{page}|Details on the dashboard>" in post.all_text()
    plain, html = parts(smtp.messages[0])
    assert f"Details: {page}" in plain
    assert f'<a href="{page}">Details on the dashboard</a>' in html


def test_it_gives_no_link_without_a_public_url(
    session: Session, settings: Settings, world: World, slack: SlackStandIn, smtp: SMTPServer
) -> None:
    settings = _configured(settings, slack, smtp, public_url=None)
    spec = world.watchlist("floods", alerts=alerts("slack:#desk", "email:desk@example.org"))
    _send_all(session, world.hit(spec, settings=settings, now=NOW), settings)

    [post] = slack.posts
    assert "/hits/" not in post.all_text() and "dashboard>" not in post.all_text()
    plain, html = parts(smtp.messages[0])
    assert "/hits/" not in plain + html
    assert "Details" not in plain


def _listed(settings: Settings, link: str) -> set[int]:
    """The hit ids the dashboard lists at *link* (a public link, served here on loopback)."""
    parts = urlsplit(link)
    assert f"{parts.scheme}://{parts.netloc}" == PUBLIC and parts.path == "/"
    client = TestClient(create_app(settings))
    return {row["id"] for row in client.get(f"/api/hits?limit=500&{parts.query}").json()["items"]}


@pytest.mark.parametrize("count", [3, 20], ids=["short", "cut-in-slack"])
def test_it_links_a_throttle_summary_to_its_watchlists_hits_of_the_window(
    session: Session,
    settings: Settings,
    world: World,
    slack: SlackStandIn,
    smtp: SMTPServer,
    count: int,
) -> None:
    settings = _configured(settings, slack, smtp, public_url=PUBLIC)
    spec = world.watchlist("floods", alerts=alerts("slack:#desk"), throttle="1/hour")
    other = world.watchlist("fires", alerts=alerts("slack:#desk"))
    for n in range(count + 1):
        world.hit(spec, f"Flood {n}", settings=settings, now=NOW + timedelta(minutes=n))
    world.hit(other, "Fire", settings=settings, now=NOW)
    # The next hour's hit of the same watchlist is not in that window.
    world.hit(spec, "Flood later", settings=settings, now=at("2026-03-02 10:05"))
    session.commit()
    [summary] = open_due_digests(session, now=at("2026-03-02 10:00"))
    session.commit()
    assert deliver(session, summary, settings=settings, now=at("2026-03-02 10:00")).sent

    link = f"{PUBLIC}/?watchlist=floods&range=custom&from=2026-03-02T09%3A00&to=2026-03-02T10%3A00"
    post = slack.posts[-1]
    assert f"<{link}|See them on the dashboard>" in post.all_text()
    if count > 15:  # Slack shows 15 and says how many more, with the link
        assert f"…and {count - 15} more, <{link}|listed on the dashboard>." in post.all_text()
    summarised = {row.hit_id for row in session.get_one(Delivery, summary).hits}
    window = session.scalars(
        select(Hit.id).where(Hit.watchlist_id == "floods", Hit.created_at < at("2026-03-02 10:00"))
    )
    # The window's hits of that watchlist: the one alerted at once, and the summarised ones.
    expected = set(window)
    assert len(summarised) == count and len(expected) == count + 1 and summarised < expected
    assert _listed(settings, link) == expected


def test_it_links_a_digest_to_its_period_and_each_group_to_its_watchlist(
    session: Session, settings: Settings, world: World, slack: SlackStandIn, smtp: SMTPServer
) -> None:
    settings = _configured(settings, slack, smtp, public_url=PUBLIC)
    desk = alerts("email:desk@example.org", digest="hourly")
    floods = world.watchlist("floods", alerts=desk)
    fires = world.watchlist("fires", alerts=desk)
    world.hit(floods, "Flood one", settings=settings, now=NOW)
    world.hit(fires, "Fire one", settings=settings, now=NOW + timedelta(minutes=5))
    session.commit()
    [digest] = open_due_digests(session, now=at("2026-03-02 10:00"))
    session.commit()
    assert deliver(session, digest, settings=settings, now=at("2026-03-02 10:00")).sent

    period = "range=custom&from=2026-03-02T09%3A00&to=2026-03-02T10%3A00"
    plain, html = parts(smtp.messages[0])
    # The whole digest: every watchlist's hits of the hour.
    assert f"These hits on the dashboard: {PUBLIC}/?{period}" in plain
    for watchlist in ("floods", "fires"):
        group = f"{PUBLIC}/?watchlist={watchlist}&amp;{period.replace('&', '&amp;')}"
        assert f'<a style="font-size: 12px; font-weight: normal;" href="{group}">' in html
    assert _listed(settings, f"{PUBLIC}/?{period}") == set(session.scalars(select(Hit.id)))
