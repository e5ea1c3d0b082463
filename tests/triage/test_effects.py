"""What mutes and snoozes change in the outbox (issue 17): a muted story sends nothing more
to the watchlist's destinations; a snoozed watchlist's alerts are held and go out as one
summary when the snooze ends; nothing is dropped."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.alerts.send import deliver
from monitor.alerts.sweep import due_delivery_ids, open_due_digests
from monitor.config import Settings
from monitor.models import Delivery, DeliveryHit, Hit, HitArticle
from monitor.triage import Action, ActionRequest, apply_action, undo_action
from tests.alerts.conftest import NOW, Spec, World, alerts
from tests.alerts.test_stories import record
from tests.support.slack_standin import SlackStandIn
from tests.triage.conftest import PUBLIC_URL


def copy(
    world: World, spec: Spec, settings: Settings, *, story: int, source: str, minutes: int
) -> list[int]:
    """Record one outlet's copy of *story* as matched by *spec*, *minutes* after NOW."""
    return record(world.session, world, spec, settings, story=story, source=source, minutes=minutes)


def kinds(session: Session, ids: list[int]) -> list[tuple[str, str]]:
    rows = [session.get(Delivery, i) for i in ids]
    return sorted((row.kind, row.destination) for row in rows if row is not None)


def test_a_muted_story_sends_no_thread_reply_escalation_or_digest_entry(
    session: Session, slack_settings: Settings, world: World, slack: SlackStandIn
) -> None:
    spec = world.watchlist(
        "floods",
        alerts=[*alerts("slack:#desk"), *alerts("email:ed@example.org", digest="hourly")],
        escalate_at=3,
    )
    story = world.story()
    first = copy(world, spec, slack_settings, story=story, source="Wire A", minutes=0)
    session.commit()
    [instant] = first
    assert deliver(session, instant, settings=slack_settings, now=NOW).sent
    hit = session.scalars(select(Hit)).one()
    digest = session.scalars(select(Delivery).where(Delivery.kind == "digest")).one()

    muted = apply_action(session, ActionRequest(hit.id, Action.MUTE_STORY, "Ada", "slack"), now=NOW)
    session.commit()
    assert muted.changed and muted.summary == "Story muted by Ada at 09:15 UTC"

    # Two more outlets: counted on the hit, but no reply in the thread and no escalation
    # at escalate_at, and the digest waiting for the hour lost its entry (and so goes nowhere).
    assert copy(world, spec, slack_settings, story=story, source="Wire B", minutes=5) == []
    assert copy(world, spec, slack_settings, story=story, source="Wire C", minutes=9) == []
    session.commit()
    session.refresh(hit)
    session.refresh(digest)
    assert hit.source_count == 3 and hit.escalated_at is None
    assert session.scalars(select(HitArticle)).all() != []
    assert digest.status == "cancelled" and digest.last_error == "story muted by Ada"
    assert open_due_digests(session, now=NOW + timedelta(hours=1)) == []
    assert len(slack.posts) == 1

    # Undo: the digest waits again with its hit, and later copies alert again.
    undone = undo_action(session, muted.act_id, who="Ada", now=NOW + timedelta(minutes=10))
    session.commit()
    assert undone.changed and undone.summary == "Undone by Ada at 09:25 UTC: story muted"
    session.refresh(digest)
    assert digest.status == "scheduled"
    assert session.scalars(
        select(DeliveryHit.hit_id).where(DeliveryHit.delivery_id == digest.id)
    ).all() == [hit.id]
    again = copy(world, spec, slack_settings, story=story, source="Wire D", minutes=11)
    assert ("escalation", "slack:#desk") in kinds(session, again)
    assert ("followup", "slack:#desk") in kinds(session, again)


def test_muting_holds_back_an_alert_not_yet_sent_and_undo_sends_it(
    session: Session, slack_settings: Settings, world: World
) -> None:
    spec = world.watchlist("floods", alerts=alerts("slack:#desk"))
    [waiting] = world.hit(spec, settings=slack_settings)
    hit = session.scalars(select(Hit)).one()
    muted = apply_action(
        session, ActionRequest(hit.id, Action.MUTE_STORY, "Ada", "dashboard"), now=NOW
    )
    session.commit()

    assert session.get(Delivery, waiting).status == "cancelled"  # type: ignore[union-attr]
    assert waiting not in due_delivery_ids(session, now=NOW)
    # Muting again: once.
    twice = apply_action(
        session, ActionRequest(hit.id, Action.MUTE_STORY, "Bo", "dashboard"), now=NOW
    )
    assert not twice.changed and twice.summary == "Story already muted (by Ada at 09:15 UTC)"

    undo_action(session, muted.act_id, who="Ada", now=NOW + timedelta(minutes=1))
    session.commit()
    assert waiting in due_delivery_ids(session, now=NOW + timedelta(minutes=1))


def test_a_new_hit_of_a_muted_story_is_recorded_muted(
    session: Session, slack_settings: Settings, world: World
) -> None:
    spec = world.watchlist("floods", alerts=alerts("slack:#desk"))
    story = world.story()
    copy(world, spec, slack_settings, story=story, source="Wire A", minutes=0)
    hit = session.scalars(select(Hit)).one()
    apply_action(session, ActionRequest(hit.id, Action.MUTE_STORY, "Ada", "slack"), now=NOW)
    session.commit()

    # Past the story window a copy is a hit of its own: recorded, muted, owing nothing.
    late = int(slack_settings.story_window_hours * 60) + 60
    assert copy(world, spec, slack_settings, story=story, source="Wire Z", minutes=late) == []
    newest = session.scalars(select(Hit).order_by(Hit.id.desc())).first()
    assert newest is not None and newest.id != hit.id and newest.not_alerted == "muted"


def test_a_snooze_holds_alerts_and_sends_one_summary_when_it_ends(
    session: Session, slack_settings: Settings, world: World, slack: SlackStandIn
) -> None:
    spec = world.watchlist("floods", "Floods", alerts=alerts("slack:#desk", "console"))
    first = world.hit(spec, settings=slack_settings)
    session.commit()
    slack_alert = next(i for i in first if session.get(Delivery, i).destination == "slack:#desk")  # type: ignore[union-attr]
    hit = session.get(Hit, session.get(Delivery, slack_alert).hit_id)  # type: ignore[union-attr]
    assert hit is not None

    # Snoozed from the Slack message: that destination only.
    snoozed = apply_action(
        session,
        ActionRequest(hit.id, Action.SNOOZE_1H, "Ada", "slack", destination_id=slack_alert),
        now=NOW,
    )
    session.commit()
    assert snoozed.summary == (
        "Snoozed at slack:#desk for 1 hour by Ada at 09:15 UTC, until 10:15 UTC"
    )

    held: list[int] = []
    for minutes in (5, 20, 40):
        held += world.hit(
            spec,
            f"Flood {minutes} minutes on",
            settings=slack_settings,
            now=NOW + timedelta(minutes=minutes),
        )
    session.commit()
    # The console still alerts at once; nothing goes to Slack while snoozed.
    assert kinds(session, held) == [("instant", "console")] * 3
    summary = session.scalars(select(Delivery).where(Delivery.kind == "snooze")).one()
    assert (summary.status, summary.destination) == ("scheduled", "slack:#desk")
    assert open_due_digests(session, now=NOW + timedelta(minutes=59)) == []

    # A second click on the same button changes nothing.
    twice = apply_action(
        session,
        ActionRequest(hit.id, Action.SNOOZE_1H, "Bo", "slack", destination_id=slack_alert),
        now=NOW + timedelta(seconds=20),
    )
    assert not twice.changed and twice.summary.startswith(
        "Already snoozed at slack:#desk until 10:15"
    )

    end = NOW + timedelta(hours=1)
    assert open_due_digests(session, now=end) == [summary.id]
    session.commit()
    assert deliver(session, summary.id, settings=slack_settings, now=end).sent
    [post] = slack.posts
    text = post.all_text()
    assert "3 hits while Floods was snoozed" in text
    links = {
        f"{PUBLIC_URL}/hits/{row.hit_id}"
        for row in session.scalars(select(DeliveryHit).where(DeliveryHit.delivery_id == summary.id))
    }
    assert len(links) == 3 and all(link in text for link in links)

    # After the snooze, alerts go out at once again.
    after = world.hit(spec, "Flood after", settings=slack_settings, now=end + timedelta(minutes=1))
    assert kinds(session, after) == [("instant", "console"), ("instant", "slack:#desk")]


def test_undoing_a_snooze_sends_its_summary_now(
    session: Session, slack_settings: Settings, world: World
) -> None:
    spec = world.watchlist("floods", alerts=alerts("slack:#desk"))
    world.hit(spec, settings=slack_settings)
    hit = session.scalars(select(Hit)).one()
    snoozed = apply_action(
        session, ActionRequest(hit.id, Action.SNOOZE_1W, "Ada", "dashboard"), now=NOW
    )
    assert snoozed.summary.endswith("until Mon 09 Mar 09:15 UTC")
    world.hit(spec, "Another flood", settings=slack_settings, now=NOW + timedelta(hours=2))
    session.commit()
    summary = session.scalars(select(Delivery).where(Delivery.kind == "snooze")).one()
    assert summary.due_at == NOW + timedelta(weeks=1)

    later = NOW + timedelta(hours=3)
    undone = undo_action(session, snoozed.act_id, who="Bo", now=later)
    session.commit()
    assert undone.changed
    assert open_due_digests(session, now=later) == [summary.id]


def test_a_longer_snooze_moves_the_end_and_its_undo_gives_it_back(
    session: Session, slack_settings: Settings, world: World
) -> None:
    spec = world.watchlist("floods", alerts=alerts("slack:#desk"))
    world.hit(spec, settings=slack_settings)
    hit = session.scalars(select(Hit)).one()
    apply_action(session, ActionRequest(hit.id, Action.SNOOZE_1H, "Ada", "dashboard"), now=NOW)
    world.hit(spec, "Another flood", settings=slack_settings, now=NOW + timedelta(minutes=5))
    longer = apply_action(
        session,
        ActionRequest(hit.id, Action.SNOOZE_1D, "Bo", "dashboard"),
        now=NOW + timedelta(minutes=10),
    )
    session.commit()
    summary = session.scalars(select(Delivery).where(Delivery.kind == "snooze")).one()
    assert summary.due_at == NOW + timedelta(days=1, minutes=10)

    undo_action(session, longer.act_id, who="Bo", now=NOW + timedelta(minutes=20))
    session.commit()
    session.refresh(summary)
    assert summary.due_at == NOW + timedelta(hours=1)
