"""POST /slack/interactions: Slack's signed block_actions requests, sent by the stand-in to the
dashboard on a real uvicorn server, applied through monitor.triage and shown in the message."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from monitor import db as storage
from monitor.alerts.send import deliver
from monitor.alerts.sweep import open_due_digests
from monitor.config import Settings
from monitor.dashboard.app import create_app
from monitor.models import Article, DeliveryHit, Hit, HitAction, Snooze, StoryMute
from tests.alerts.conftest import NOW, World, alerts
from tests.slackapp.conftest import SIGNING_SECRET, Alerted, eventually, fresh
from tests.support.slack_interactivity import sign, signed_request
from tests.support.slack_standin import SlackStandIn

URL = "/slack/interactions"


def blocks_text(blocks: list[dict[str, Any]]) -> str:
    return str(blocks)


def acts(settings: Settings) -> list[HitAction]:
    with storage.sessionmaker_for(settings)() as session:
        return list(session.scalars(select(HitAction).order_by(HitAction.id)))


def test_it_labels_the_hit_and_updates_the_message_in_place(
    slack_settings: Settings,
    slack: SlackStandIn,
    alert: Callable[..., Alerted],
    dashboard: str,
) -> None:
    posted = alert()
    answer = slack.click(
        dashboard + URL, posted.channel, posted.ts, "monitor.not_relevant", secret=SIGNING_SECRET
    )
    assert answer.status_code == 200 and answer.content == b""
    assert eventually(lambda: slack.responses)
    hit = fresh(slack_settings, posted.hit_id)
    assert (hit.label, hit.labelled_by) == ("not_relevant", "slack:alice")
    [response] = slack.responses
    assert response.body["replace_original"] is True
    message = slack.message(posted.channel, posted.ts)
    said = [b for b in message["blocks"] if b.get("block_id", "").startswith("monitor.said.")]
    assert said and said[0]["elements"][0]["text"].startswith(
        "Marked not relevant by <@U0ALICE> at "
    )
    undo = [b for b in message["blocks"] if b.get("block_id", "").startswith("monitor.done.")]
    assert [e["text"]["text"] for e in undo[0]["elements"]] == ["Undo"]
    # The hit's own blocks (headline, snippet) and its buttons are still there.
    assert "Heavy flood hits Lagos" in blocks_text(message["blocks"])
    assert "monitor.relevant" in blocks_text(message["blocks"])


def test_it_undoes_from_the_updated_message(
    slack_settings: Settings,
    slack: SlackStandIn,
    alert: Callable[..., Alerted],
    dashboard: str,
) -> None:
    posted = alert()
    slack.click(
        dashboard + URL, posted.channel, posted.ts, "monitor.relevant", secret=SIGNING_SECRET
    )
    assert eventually(lambda: fresh(slack_settings, posted.hit_id).label == "relevant")
    assert eventually(lambda: len(slack.responses) == 1)
    answer = slack.click(
        dashboard + URL,
        posted.channel,
        posted.ts,
        "monitor.undo",
        secret=SIGNING_SECRET,
        user="U0BOB",
        username="bob",
    )
    assert answer.status_code == 200
    assert eventually(lambda: len(slack.responses) == 2)
    assert fresh(slack_settings, posted.hit_id).label is None
    message = slack.message(posted.channel, posted.ts)
    text = blocks_text(message["blocks"])
    assert "Undone by <@U0BOB>" in text
    assert "monitor.relevant" in text and "monitor.undo" not in text  # nothing left to undo
    assert len([b for b in message["blocks"] if "monitor.said." in b.get("block_id", "")]) == 1


def test_it_refuses_a_forged_signature_with_401(
    slack_settings: Settings,
    slack: SlackStandIn,
    alert: Callable[..., Alerted],
    dashboard: str,
) -> None:
    posted = alert()
    answer = slack.click(
        dashboard + URL, posted.channel, posted.ts, "monitor.relevant", secret="not-the-secret"
    )
    assert answer.status_code == 401
    time.sleep(0.3)
    assert fresh(slack_settings, posted.hit_id).label is None
    assert acts(slack_settings) == [] and slack.responses == []


def test_it_refuses_a_stale_timestamp_with_401(
    slack_settings: Settings,
    slack: SlackStandIn,
    alert: Callable[..., Alerted],
    dashboard: str,
) -> None:
    posted = alert()
    six_minutes_ago = int(time.time()) - 6 * 60
    answer = slack.click(
        dashboard + URL,
        posted.channel,
        posted.ts,
        "monitor.relevant",
        secret=SIGNING_SECRET,
        timestamp=six_minutes_ago,
    )
    assert answer.status_code == 401
    time.sleep(0.3)
    assert fresh(slack_settings, posted.hit_id).label is None and acts(slack_settings) == []


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": "v0=00"},
        {"X-Slack-Request-Timestamp": "-1", "X-Slack-Signature": "v0=00"},
        {"X-Slack-Request-Timestamp": "1" * 40, "X-Slack-Signature": "v0=00"},
    ],
    ids=["unsigned", "words", "negative", "huge"],
)
def test_it_refuses_a_request_without_a_usable_signature(
    slack_settings: Settings, headers: dict[str, str]
) -> None:
    with TestClient(create_app(slack_settings)) as client:
        answer = client.post(URL, content=b"payload=%7B%7D", headers=headers)
    assert answer.status_code == 401
    assert "www-authenticate" not in answer.headers  # Slack's signature, not a login, failed


def test_it_changes_state_once_for_a_replayed_request(
    slack_settings: Settings,
    slack: SlackStandIn,
    alert: Callable[..., Alerted],
    dashboard: str,
) -> None:
    posted = alert()
    payload = slack.payload(posted.channel, posted.ts, "monitor.relevant")
    body, headers = signed_request(payload, secret=SIGNING_SECRET)
    first = httpx.post(dashboard + URL, content=body, headers=headers)
    assert eventually(lambda: len(slack.responses) == 1)
    again = httpx.post(dashboard + URL, content=body, headers=headers)
    assert (first.status_code, again.status_code) == (200, 200)
    # The replay finds the first act by Slack's action_ts: one act, one label, one update.
    assert eventually(lambda: len(slack.responses) == 2)  # the replay's private note
    changed = [a for a in acts(slack_settings) if a.changed]
    assert len(changed) == 1 and len(acts(slack_settings)) == 1
    replaced = [r for r in slack.responses if r.body.get("replace_original") is True]
    assert len(replaced) == 1
    assert slack.responses[1].body.get("response_type") == "ephemeral"


def test_it_answers_slack_before_doing_the_work(
    slack_settings: Settings,
    slack: SlackStandIn,
    alert: Callable[..., Alerted],
    dashboard: str,
) -> None:
    # Slack wants the 200 within 3 s: it must not wait for the message update, however slow.
    posted = alert()
    slack.hold_responses = threading.Event()
    try:
        answer = slack.click(
            dashboard + URL, posted.channel, posted.ts, "monitor.relevant", secret=SIGNING_SECRET
        )
        assert answer.status_code == 200
        assert eventually(lambda: slack.responses)  # the update is still waiting
        assert slack.responses[0].answered == 0
    finally:
        slack.hold_responses.set()
    assert eventually(lambda: slack.responses[0].answered == 200)


def test_it_snoozes_the_watchlist_at_this_destination_from_the_menu(
    slack_settings: Settings,
    slack: SlackStandIn,
    alert: Callable[..., Alerted],
    dashboard: str,
) -> None:
    posted = alert()
    answer = slack.click(
        dashboard + URL,
        posted.channel,
        posted.ts,
        "monitor.snooze",
        option=1,  # Snooze 1 day
        secret=SIGNING_SECRET,
    )
    assert answer.status_code == 200
    assert eventually(lambda: slack.responses)
    with storage.sessionmaker_for(slack_settings)() as session:
        [snooze] = session.scalars(select(Snooze)).all()
        assert (snooze.watchlist_id, snooze.destination) == ("floods", "slack:#desk")
        # A day (triage rounds the end to the minute).
        assert abs((snooze.until - snooze.starts_at).total_seconds() - 86_400) <= 60
    said = blocks_text(slack.message(posted.channel, posted.ts)["blocks"])
    assert "snoozed here for 1 day" in said


def test_it_mutes_the_story_from_a_webhook_alert(
    slack_settings: Settings,
    slack: SlackStandIn,
    alert: Callable[..., Alerted],
    dashboard: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SLACK_WEBHOOK_DESK", slack.webhook_url())
    posted = alert("webhook:SLACK_WEBHOOK_DESK")
    assert posted.channel == slack.WEBHOOK_CHANNEL
    answer = slack.click(
        dashboard + URL, posted.channel, posted.ts, "monitor.mute_story", secret=SIGNING_SECRET
    )
    assert answer.status_code == 200
    assert eventually(lambda: slack.responses)
    with storage.sessionmaker_for(slack_settings)() as session:
        assert session.scalar(select(func.count()).select_from(StoryMute)) == 1
    assert "Story muted for this watchlist by <@U0ALICE>" in blocks_text(
        slack.message(posted.channel, posted.ts)["blocks"]
    )


def test_it_tells_only_the_person_when_the_hit_is_gone(
    slack_settings: Settings,
    slack: SlackStandIn,
    alert: Callable[..., Alerted],
    dashboard: str,
) -> None:
    posted = alert()
    with storage.sessionmaker_for(slack_settings)() as session, session.begin():
        session.execute(delete(DeliveryHit).where(DeliveryHit.hit_id == posted.hit_id))
        session.execute(delete(Hit).where(Hit.id == posted.hit_id))
    slack.click(
        dashboard + URL, posted.channel, posted.ts, "monitor.relevant", secret=SIGNING_SECRET
    )
    assert eventually(lambda: slack.responses)
    [note] = slack.responses
    assert note.body["response_type"] == "ephemeral" and note.body["replace_original"] is False
    assert f"no hit {posted.hit_id}" in note.body["text"]
    # The alert itself is left as it was.
    assert "monitor.relevant" in blocks_text(slack.message(posted.channel, posted.ts)["blocks"])


def test_it_needs_the_login_without_a_signing_secret(slack_settings: Settings) -> None:
    # Without a signing secret the route is not Slack's: the dashboard's login applies, and
    # behind it the route does not exist.
    settings = slack_settings.model_copy(update={"slack_signing_secret": None})
    with TestClient(create_app(settings)) as client:
        assert client.post(URL, content=b"payload=%7B%7D").status_code == 401
        logged_in = client.post(
            URL,
            content=b"payload=%7B%7D",
            auth=("ada", "correct-horse"),
            headers={"Origin": "http://testserver"},
        )
        assert logged_in.status_code == 404


def test_it_keeps_the_signing_secret_out_of_settings_output(slack_settings: Settings) -> None:
    shown = repr(slack_settings) + str(slack_settings.model_dump())
    assert SIGNING_SECRET not in shown and isinstance(
        slack_settings.slack_signing_secret, SecretStr
    )


def test_it_labels_one_hit_of_a_digest_and_snoozes_from_its_group(
    slack_settings: Settings,
    slack: SlackStandIn,
    session: Session,
    dashboard: str,
) -> None:
    world = World(session)
    spec = world.watchlist("floods", "Floods", alerts=alerts("slack:#desk", digest="hourly"))
    for minutes, title in ((0, "Flood one"), (10, "Flood two")):
        world.hit(spec, title, settings=slack_settings, now=NOW + timedelta(minutes=minutes))
    session.commit()
    end = NOW.replace(minute=0) + timedelta(hours=1)
    [digest_id] = open_due_digests(session, now=end)
    session.commit()
    assert deliver(session, digest_id, settings=slack_settings, now=end).sent
    session.commit()
    channel, message = slack.last_message()
    second = next(b for b in message["blocks"] if "Flood two" in str(b.get("text")))
    slack.click(
        dashboard + URL,
        channel,
        message["ts"],
        "monitor.hit",
        option=1,  # Not relevant
        block_id=second.get("block_id"),
        secret=SIGNING_SECRET,
    )
    assert eventually(lambda: slack.responses)
    labels = dict(
        session.execute(select(Hit.id, Hit.label).execution_options(populate_existing=True)).all()
    )
    flood_two = session.scalar(select(Hit.id).join(Hit.article).where(Article.title == "Flood two"))
    assert labels == {flood_two: "not_relevant", flood_two - 1: None}
    blocks = slack.message(channel, message["ts"])["blocks"]
    assert sum(1 for b in blocks if "monitor.undo" in str(b.get("accessory"))) == 1
    slack.click(
        dashboard + URL, channel, message["ts"], "monitor.snooze", option=0, secret=SIGNING_SECRET
    )
    assert eventually(lambda: len(slack.responses) == 2)
    with storage.sessionmaker_for(slack_settings)() as fresh_session:
        [snooze] = fresh_session.scalars(select(Snooze)).all()
        assert (snooze.watchlist_id, snooze.destination) == ("floods", "slack:#desk")


@pytest.mark.parametrize(
    "response_url",
    [None, "https://evil.example/actions/T0/1/2", "http://hooks.slack.com/actions/T0/1/2"],
    ids=["none", "another host", "not https"],
)
def test_it_updates_by_chat_update_when_it_must_not_use_the_response_url(
    slack_settings: Settings,
    slack: SlackStandIn,
    alert: Callable[..., Alerted],
    dashboard: str,
    response_url: str | None,
) -> None:
    posted = alert()
    payload = slack.payload(
        posted.channel, posted.ts, "monitor.relevant", response_url=response_url
    )
    body, headers = signed_request(payload, secret=SIGNING_SECRET)
    assert httpx.post(dashboard + URL, content=body, headers=headers).status_code == 200
    assert eventually(lambda: slack.updates)
    [update] = slack.updates
    assert update.headers["authorization"] == f"Bearer {slack.token}"
    assert (update.channel, update.body["ts"]) == (posted.channel, posted.ts)
    assert update.answer["ok"] is True  # type: ignore[index]
    assert "Marked relevant by <@U0ALICE>" in str(slack.message(posted.channel, posted.ts))
    assert slack.responses == []


def test_it_refuses_a_body_no_slack_payload_needs(slack_settings: Settings) -> None:
    with TestClient(create_app(slack_settings)) as client:
        answer = client.post(URL, content=b"payload=" + b"x" * 1_000_001)
    assert answer.status_code == 413


def test_it_answers_400_to_a_signed_body_without_a_payload(slack_settings: Settings) -> None:
    _, headers = signed_request({}, secret=SIGNING_SECRET)
    with TestClient(create_app(slack_settings)) as client:
        answer = client.post(URL, content=b"nothing=here", headers=headers)
        assert answer.status_code == 401  # the signature covers the body: this one is not it
        ts = headers["X-Slack-Request-Timestamp"]
        headers["X-Slack-Signature"] = sign(SIGNING_SECRET, ts, "nothing=here")
        assert client.post(URL, content=b"nothing=here", headers=headers).status_code == 400
