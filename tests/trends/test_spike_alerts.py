"""Spike alerts end to end on the database: seeded story series, the check run as the
scheduler runs it, and the one alert sent through the Slack stand-in."""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.alerts.send import deliver
from monitor.config import Settings
from monitor.models import Delivery, SpikeState, Watchlist
from monitor.trends.spike_alerts import check_spikes
from tests.alerts.conftest import Spec, World, alerts
from tests.support.slack_standin import SlackStandIn

START = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # a Monday; three weeks of baseline follow
BURST = START + timedelta(days=21, hours=14, minutes=10)
SPIKE = {"baseline": "14d", "min_stories": 5, "sensitivity": "normal"}


def spiky(world: World, session: Session) -> Spec:
    spec = world.watchlist("nk-russia", "North Korea and Russia", alerts=alerts("slack:#desk"))
    row = session.get_one(Watchlist, "nk-russia")
    row.definition = {"spike": SPIKE, "alerts": [{"slack": "#desk"}]}
    session.flush()
    return spec


def publish(
    world: World, spec: Spec, settings: Settings, moment: datetime, title: str, **extra: object
) -> None:
    """A story published at *moment*, matched five minutes later as the pipeline would."""
    article = world.article(title, published_at=moment, first_seen_at=moment, **extra)
    world.hit(spec, article, settings=settings, now=moment + timedelta(minutes=5))


def steady_baseline(world: World, spec: Spec, settings: Settings, *, until: datetime) -> None:
    # A story every two hours on average, at random: a Poisson process, seeded.
    rng = random.Random(21)
    moment, n = START, 0
    while True:
        moment += timedelta(hours=rng.expovariate(0.5))
        if moment >= until:
            return
        n += 1
        publish(world, spec, settings, moment, f"Routine item {n} on Pyongyang and Moscow")


def run_checks(session: Session, settings: Settings, moments: Iterable[datetime]) -> list[int]:
    """The check as the scheduler runs it, at each moment; the spike deliveries it queued."""
    queued: list[int] = []
    for moment in moments:
        for check in check_spikes(session, settings=settings, now=moment):
            queued.extend(check.delivery_ids)
    return queued


def every(start: datetime, end: datetime, minutes: int = 15) -> list[datetime]:
    count = int((end - start) / timedelta(minutes=minutes))
    return [start + timedelta(minutes=minutes * n) for n in range(count + 1)]


def spike_deliveries(session: Session) -> list[Delivery]:
    return list(session.scalars(select(Delivery).where(Delivery.kind == "spike")))


def test_it_sends_exactly_one_spike_alert_for_a_burst_after_a_steady_baseline(
    session: Session, settings: Settings, world: World, slack: SlackStandIn
) -> None:
    settings = settings.model_copy(
        update={"slack_base_url": slack.base_url, "slack_bot_token": SecretStr(slack.token)}
    )
    spec = spiky(world, session)
    steady_baseline(world, spec, settings, until=BURST + timedelta(hours=16))
    other = world.feed_named("Yonhap <!channel>")  # a feed's name is outside text
    for n in range(12):  # twelve distinct stories in forty minutes
        publish(
            world,
            spec,
            settings,
            BURST + timedelta(minutes=3 * n),
            f"Burst story {n}: Shoigu visits Pyongyang",
            feed=other if n % 3 else world.feed,
        )
    session.commit()

    queued = run_checks(
        session, settings, every(BURST - timedelta(hours=3), BURST + timedelta(hours=12))
    )
    [delivery] = spike_deliveries(session)
    assert queued == [delivery.id]
    assert delivery.destination == "slack:#desk"
    # Against a story every two hours, whichever window (one hour or six) was the less likely.
    assert delivery.payload["observed"] >= 5
    assert delivery.payload["expected"] <= 0.5 * 6 * 1.5
    # The volume went back to normal within the twelve hours: the next burst is news again.
    state = session.get_one(SpikeState, "nk-russia")
    assert state.spiking_since is None

    # A second surge after the volume was normal again is news again: one more alert.
    again = BURST + timedelta(hours=13)
    for n in range(12):
        publish(world, spec, settings, again + timedelta(minutes=3 * n), f"Second surge {n}")
    session.commit()
    run_checks(session, settings, every(BURST + timedelta(hours=12), again + timedelta(hours=3)))
    assert len(spike_deliveries(session)) == 2

    assert deliver(session, delivery.id, settings=settings, now=BURST + timedelta(hours=1)).sent
    post = slack.posts[-1]
    assert post.text.startswith("Spike: North Korea and Russia: ")
    assert f"{delivery.payload['observed']} stories in the last" in post.text
    assert f"expected {delivery.payload['expected']:.1f}" in post.text
    seen = post.all_text()
    assert "Yonhap &lt;!channel&gt; (" in post.text and "Daily Wire (" in post.text
    assert "<!channel>" not in seen  # escaped: no @channel ping from a feed's name
    assert sum(f"Burst story {n}:" in seen for n in range(12)) == 3  # three headlines


def test_it_sends_none_for_a_regular_weekly_bump(
    session: Session, settings: Settings, world: World
) -> None:
    spec = spiky(world, session)
    steady_baseline(world, spec, settings, until=BURST + timedelta(hours=6))
    for week in range(4):  # the same Monday-afternoon briefing, every week, the last one too
        start = BURST - timedelta(weeks=3 - week)
        for n in range(10):
            publish(world, spec, settings, start + timedelta(minutes=4 * n), f"Briefing {week}.{n}")
    session.commit()

    queued = run_checks(
        session, settings, every(BURST - timedelta(hours=2), BURST + timedelta(hours=6))
    )
    assert queued == [] and spike_deliveries(session) == []


def test_it_counts_one_wire_story_in_forty_outlets_as_one_story(
    session: Session, settings: Settings, world: World
) -> None:
    spec = spiky(world, session)
    steady_baseline(world, spec, settings, until=BURST + timedelta(hours=6))
    story = world.story()
    for n in range(40):
        feed = world.feed_named(f"Outlet {n}")
        publish(
            world,
            spec,
            settings,
            BURST + timedelta(minutes=n),
            "Kim and Putin sign a defence pact",
            story_id=story,
            feed=feed,
        )
    session.commit()

    queued = run_checks(
        session, settings, every(BURST - timedelta(hours=1), BURST + timedelta(hours=6))
    )
    assert queued == [] and spike_deliveries(session) == []
