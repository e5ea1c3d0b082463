"""Stories (issue 8): later copies of a story attach to the first hit instead of alerting
again; at ``escalate_at`` sources one follow-up goes out; Slack copies go in the thread."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.alerts.record import record_hits
from monitor.alerts.send import deliver
from monitor.config import Settings
from monitor.models import Delivery, Hit, HitArticle
from tests.alerts.conftest import NOW, Result, Spec, World, alerts
from tests.support.slack_standin import SlackStandIn


@pytest.fixture
def slack_settings(settings: Settings, slack: SlackStandIn) -> Settings:
    return settings.model_copy(
        update={"slack_base_url": slack.base_url, "slack_bot_token": SecretStr(slack.token)}
    )


def record(
    session: Session,
    world: World,
    spec: Spec,
    settings: Settings,
    *,
    story: int,
    source: str,
    minutes: int = 0,
) -> list[int]:
    now = NOW + timedelta(minutes=minutes)
    article = world.article(
        f"Flood report from {source}",
        story_id=story,
        feed=world.feed_named(source),
        published_at=now,
    )
    return world.hit(spec, article, settings=settings, now=now)


def test_it_attaches_later_copies_and_escalates_once(
    session: Session, slack_settings: Settings, world: World, slack: SlackStandIn
) -> None:
    spec = world.watchlist(
        "floods", alerts=alerts("slack:#desk", "email:a@example.org"), escalate_at=3
    )
    story = world.story()
    first = record(session, world, spec, slack_settings, story=story, source="Wire A")
    session.commit()
    assert len(first) == 2
    slack_first = next(i for i in first if session.get(Delivery, i).channel == "slack")  # type: ignore[union-attr]
    assert deliver(session, slack_first, settings=slack_settings, now=NOW + timedelta(hours=1)).sent
    parent = slack.posts[0]

    # The second source: no new hit, no new alert; a quiet reply in the Slack thread.
    second = record(session, world, spec, slack_settings, story=story, source="Wire B", minutes=5)
    session.commit()
    hit = session.scalars(select(Hit)).one()
    session.refresh(hit)
    assert hit.story_id == story and hit.source_count == 2 and hit.escalated_at is None
    assert session.scalar(select(func.count()).select_from(HitArticle)) == 1
    [followup] = second
    assert session.get(Delivery, followup).kind == "followup"  # type: ignore[union-attr]
    assert deliver(session, followup, settings=slack_settings, now=NOW + timedelta(hours=1)).sent
    reply = slack.posts[1]
    assert reply.thread_ts == parent.answer["ts"]  # type: ignore[index]
    assert reply.channel == slack.channel_id("#desk")
    assert "Also reported by Wire B" in reply.text

    # The third source reaches escalate_at: one escalation per destination.
    third = record(session, world, spec, slack_settings, story=story, source="Wire C", minutes=9)
    session.commit()
    session.refresh(hit)
    assert hit.source_count == 3 and hit.escalated_at == NOW + timedelta(minutes=9)
    kinds = sorted(session.get(Delivery, i).kind for i in third)  # type: ignore[union-attr]
    assert kinds == ["escalation", "escalation", "followup"]
    escalation = next(
        i
        for i in third
        if session.get(Delivery, i).kind == "escalation"  # type: ignore[union-attr]
        and session.get(Delivery, i).channel == "slack"  # type: ignore[union-attr]
    )
    assert deliver(session, escalation, settings=slack_settings, now=NOW + timedelta(hours=1)).sent
    shout = slack.posts[-1]
    assert shout.text.startswith("Now reported by 3 sources: [Floods]")
    assert shout.thread_ts == parent.answer["ts"] and shout.body["reply_broadcast"] is True  # type: ignore[index]
    assert "Also reported by Wire B, Wire C" in shout.all_text()

    # A fourth source: attached, but no second escalation.
    fourth = record(session, world, spec, slack_settings, story=story, source="Wire D", minutes=12)
    session.commit()
    assert [session.get(Delivery, i).kind for i in fourth] == ["followup"]  # type: ignore[union-attr]
    assert session.scalar(select(func.count(Hit.id))) == 1


def test_it_alerts_again_once_the_story_window_has_passed(
    session: Session, settings: Settings, world: World
) -> None:
    spec = world.watchlist("floods")
    story = world.story()
    record(session, world, spec, settings, story=story, source="Wire A")
    later = int(settings.story_window_hours * 60) + 1
    again = record(session, world, spec, settings, story=story, source="Wire B", minutes=later)
    assert len(again) == 1
    assert session.scalar(select(func.count(Hit.id))) == 2


def test_it_keeps_stories_apart_per_watchlist(
    session: Session, settings: Settings, world: World
) -> None:
    specs = {"floods": world.watchlist("floods"), "fires": world.watchlist("fires")}
    story = world.story()
    a = world.article("A", story_id=story)
    b = world.article("B", story_id=story)
    record_hits(session, a, [Result("floods")], watchlists=specs, settings=settings, now=NOW)
    ids = record_hits(
        session,
        b,
        [Result("floods"), Result("fires")],
        watchlists=specs,
        settings=settings,
        now=NOW,
    )
    # floods: attached to its first hit; fires: its first hit for this story.
    assert len(ids) == 1
    assert sorted(session.scalars(select(Hit.watchlist_id))) == ["fires", "floods"]


def test_it_does_not_post_a_copy_when_the_first_alert_has_not_gone_to_slack(
    session: Session, settings: Settings, world: World
) -> None:
    spec = world.watchlist("floods", alerts=alerts("slack:#desk"), escalate_at=5)
    story = world.story()
    record(session, world, spec, settings, story=story, source="Wire A")
    # The first alert is still pending: the copy is counted, not posted on its own.
    assert record(session, world, spec, settings, story=story, source="Wire B") == []
    assert session.scalars(select(Hit)).one().source_count == 2


def test_it_escalates_without_a_thread_where_there_is_none(
    session: Session, settings: Settings, world: World
) -> None:
    spec = world.watchlist("floods", escalate_at=2)
    story = world.story()
    record(session, world, spec, settings, story=story, source="Wire A")
    [escalation] = record(session, world, spec, settings, story=story, source="Wire B")
    session.commit()
    outcome = deliver(session, escalation, settings=settings, now=NOW)
    assert outcome.sent
