"""Throttle: past the watchlist's limit, hits gather into one 'N more hits' summary."""

from __future__ import annotations

from datetime import timedelta

from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.alerts.record import record_hits
from monitor.alerts.send import deliver
from monitor.alerts.sweep import open_due_digests
from monitor.config import Settings
from monitor.models import Delivery, Hit
from tests.alerts.conftest import NOW, Result, World, alerts
from tests.alerts.test_digest import at
from tests.support.slack_standin import SlackStandIn


def test_it_gathers_the_hits_past_the_limit_into_one_summary_at_the_window_end(
    session: Session, settings: Settings, world: World, slack: SlackStandIn
) -> None:
    settings = settings.model_copy(
        update={"slack_base_url": slack.base_url, "slack_bot_token": SecretStr(slack.token)}
    )
    spec = world.watchlist("floods", alerts=alerts("slack:#desk"), throttle="3/hour")
    sent_now = []
    for n in range(6):
        sent_now.append(
            world.hit(spec, f"Flood {n}", settings=settings, now=NOW + timedelta(minutes=n))
        )
    session.commit()
    # Three instant alerts, then nothing more to send now: no hit is dropped though.
    assert [len(ids) for ids in sent_now] == [1, 1, 1, 0, 0, 0]
    assert len(session.scalars(select(Hit)).all()) == 6
    [summary] = session.scalars(select(Delivery).where(Delivery.kind == "throttle")).all()
    assert (summary.status, summary.due_at) == ("scheduled", at("2026-03-02 10:00"))

    for ids in sent_now[:3]:
        assert deliver(session, ids[0], settings=settings, now=NOW + timedelta(minutes=9)).sent
    assert open_due_digests(session, now=at("2026-03-02 09:59")) == []
    assert open_due_digests(session, now=at("2026-03-02 10:00")) == [summary.id]
    session.commit()
    assert deliver(session, summary.id, settings=settings, now=at("2026-03-02 10:00")).sent
    post = slack.posts[-1]
    assert post.text == "3 more hits for Floods between 09:00 and 10:00 UTC (throttled at 3/hour)"
    seen = post.all_text()
    assert all(f"Flood {n}" in seen for n in (3, 4, 5))
    assert "Flood 0" not in seen

    # A new window starts afresh.
    again = world.hit(spec, "Flood next hour", settings=settings, now=at("2026-03-02 10:01"))
    assert len(again) == 1


def test_it_counts_the_limit_per_watchlist(
    session: Session, settings: Settings, world: World
) -> None:
    specs = {
        "floods": world.watchlist("floods", throttle="1/hour"),
        "fires": world.watchlist("fires", throttle="1/hour"),
    }
    first = record_hits(
        session,
        world.article("Flood and fire"),
        [Result("floods"), Result("fires")],
        watchlists=specs,
        settings=settings,
        now=NOW,
    )
    second = record_hits(
        session,
        world.article("Another fire"),
        [Result("fires")],
        watchlists=specs,
        settings=settings,
        now=NOW,
    )
    assert len(first) == 2 and second == []


def test_it_leaves_digest_destinations_alone(
    session: Session, settings: Settings, world: World
) -> None:
    spec = world.watchlist(
        "floods",
        alerts=[*alerts("console"), *alerts("email:a@example.org", digest="hourly")],
        throttle="1/hour",
    )
    for n in range(3):
        world.hit(spec, f"Flood {n}", settings=settings)
    session.commit()
    session.expire_all()
    kinds = {
        row.kind: len(row.hits)
        for row in session.scalars(select(Delivery).where(Delivery.kind != "instant"))
    }
    assert kinds == {"digest": 3, "throttle": 2}
