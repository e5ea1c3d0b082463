"""Digests: hits gathered per destination and period, sent once when the period ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.alerts.record import digest_period
from monitor.alerts.send import deliver
from monitor.alerts.sweep import open_due_digests
from monitor.config import Settings
from monitor.destinations import DigestSchedule
from monitor.models import Delivery, DeliveryHit
from tests.alerts.conftest import NOW, World, alerts
from tests.alerts.test_email import parts
from tests.support.slack_standin import SlackStandIn
from tests.support.smtp import SMTPServer


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("schedule", "now", "start", "end"),
    [
        ("hourly", "2026-03-02 09:15", "2026-03-02 09:00", "2026-03-02 10:00"),
        ("hourly", "2026-03-02 10:00", "2026-03-02 10:00", "2026-03-02 11:00"),
        # Lagos is UTC+1 all year: 08:00 there is 07:00 UTC.
        ("daily 08:00 Africa/Lagos", "2026-03-02 09:15", "2026-03-02 07:00", "2026-03-03 07:00"),
        ("daily 08:00 Africa/Lagos", "2026-03-02 06:59", "2026-03-01 07:00", "2026-03-02 07:00"),
        ("daily 08:00 Africa/Lagos", "2026-03-02 07:00", "2026-03-02 07:00", "2026-03-03 07:00"),
        ("daily 18:30", "2026-03-02 20:00", "2026-03-02 18:30", "2026-03-03 18:30"),
        # Berlin moves to summer time on 29 March 2026: that period is 23 hours long.
        ("daily 08:00 Europe/Berlin", "2026-03-28 12:00", "2026-03-28 07:00", "2026-03-29 06:00"),
    ],
    ids=[
        "hourly",
        "hourly-on-the-hour",
        "lagos-after",
        "lagos-before",
        "lagos-exactly",
        "utc-default",
        "berlin-dst",
    ],
)
def test_it_computes_the_period_in_the_digest_time_zone(
    schedule: str, now: str, start: str, end: str
) -> None:
    assert digest_period(DigestSchedule.parse(schedule), at(now)) == (at(start), at(end))


def slack_settings(settings: Settings, slack: SlackStandIn) -> Settings:
    return settings.model_copy(
        update={"slack_base_url": slack.base_url, "slack_bot_token": SecretStr(slack.token)}
    )


def test_it_sends_one_hourly_digest_grouped_by_watchlist_when_the_hour_ends(
    session: Session, settings: Settings, world: World, slack: SlackStandIn
) -> None:
    settings = slack_settings(settings, slack)
    desk = alerts("slack:#desk", digest="hourly")
    specs = {
        "floods": world.watchlist("floods", alerts=desk),
        "fires": world.watchlist("fires", alerts=desk),
    }
    plan = [("floods", "Flood one", 0), ("fires", "Fire one", 5), ("floods", "Flood two", 44)]
    for watchlist, title, minutes in plan:
        ids = world.hit(
            specs[watchlist], title, settings=settings, now=NOW + timedelta(minutes=minutes)
        )
        assert ids == []  # nothing to send now
    session.commit()
    [digest] = session.scalars(select(Delivery)).all()
    assert (digest.kind, digest.status, digest.due_at) == (
        "digest",
        "scheduled",
        at("2026-03-02 10:00"),
    )
    assert len(session.scalars(select(DeliveryHit)).all()) == 3

    assert open_due_digests(session, now=at("2026-03-02 09:59:59")) == []
    assert open_due_digests(session, now=at("2026-03-02 10:00")) == [digest.id]
    session.commit()
    assert open_due_digests(session, now=at("2026-03-02 10:00")) == []  # opened once
    assert deliver(session, digest.id, settings=settings, now=at("2026-03-02 10:00")).sent
    [post] = slack.posts
    assert post.text == "Hourly digest 2026-03-02 09:00–10:00 UTC: 3 hits in 2 watchlists"
    headers = [b["text"]["text"] for b in post.blocks if b["type"] == "header"]
    assert headers == ["Floods", "Fires"]
    seen = post.all_text()
    assert seen.index("Flood one") < seen.index("Flood two") < seen.index("Fire one")


def test_it_starts_a_new_digest_for_the_next_period(
    session: Session, settings: Settings, world: World
) -> None:
    spec = world.watchlist("floods", alerts=alerts("console", digest="hourly"))
    for minutes in (0, 40, 50):  # 09:15, 09:55, 10:05
        world.hit(spec, f"Flood {minutes}", settings=settings, now=NOW + timedelta(minutes=minutes))
    session.commit()
    session.expire_all()
    rows = session.scalars(select(Delivery).order_by(Delivery.due_at)).all()
    assert [(r.due_at, len(r.hits)) for r in rows] == [
        (at("2026-03-02 10:00"), 2),
        (at("2026-03-02 11:00"), 1),
    ]
    assert rows[0].dedupe_key == "digest:console:hourly:2026-03-02T09:00:00+00:00"


def test_it_sends_a_hit_alone_when_its_digest_has_already_gone(
    session: Session, settings: Settings, world: World
) -> None:
    spec = world.watchlist("floods", alerts=alerts("console", digest="hourly"))
    world.hit(spec, "Flood one", settings=settings)
    session.commit()
    # The beat opens the digest while a slow worker is still matching an article of the
    # period that just closed: that hit must not be lost.
    open_due_digests(session, now=at("2026-03-02 10:00"))
    session.commit()
    late = world.hit(spec, "Flood late", settings=settings)
    session.commit()
    [instant] = late
    assert session.get(Delivery, instant).kind == "instant"  # type: ignore[union-attr]


def test_it_sends_a_daily_lagos_digest_by_email_at_eight_local_time(
    session: Session, settings: Settings, world: World, smtp: SMTPServer
) -> None:
    settings = settings.model_copy(update={"smtp_url": SecretStr(smtp.url)})
    desk = alerts("email:desk@example.org", digest="daily 08:00 Africa/Lagos")
    specs = {
        "floods": world.watchlist("floods", alerts=desk),
        "fires": world.watchlist("fires", name="Bush fires", alerts=desk),
    }
    for watchlist, title, hours in [("floods", "Flood <one>", 0), ("fires", "Fire & smoke", 20)]:
        world.hit(specs[watchlist], title, settings=settings, now=NOW + timedelta(hours=hours))
    session.commit()
    # 09:15 UTC is 10:15 in Lagos: this period ends at 08:00 Lagos tomorrow, 07:00 UTC.
    assert open_due_digests(session, now=at("2026-03-03 06:59")) == []
    [digest_id] = open_due_digests(session, now=at("2026-03-03 07:00"))
    session.commit()
    assert deliver(session, digest_id, settings=settings, now=at("2026-03-03 07:00")).sent
    [mail] = smtp.messages
    assert mail["Subject"] == (
        "[monitor] Daily digest 02 Mar 08:00 – 03 Mar 08:00 (Africa/Lagos): 2 hits in 2 watchlists"
    )
    plain, html = parts(mail)
    assert "== Floods ==" in plain and "== Bush fires ==" in plain
    assert "Flood &lt;one&gt;" in html and "Fire &amp; smoke" in html
    assert html.index("Floods") < html.index("Bush fires")


def test_it_keeps_instant_and_digest_destinations_apart(
    session: Session, settings: Settings, world: World
) -> None:
    spec = world.watchlist(
        "floods", alerts=[*alerts("slack:#desk"), *alerts("email:a@example.org", digest="hourly")]
    )
    ids = world.hit(spec, settings=settings)
    session.commit()
    rows = session.scalars(select(Delivery).order_by(Delivery.id)).all()
    assert [(r.destination, r.kind, r.status) for r in rows] == [
        ("slack:#desk", "instant", "pending"),
        ("email:a@example.org", "digest", "scheduled"),
    ]
    assert ids == [rows[0].id]
