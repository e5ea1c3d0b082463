"""Slack through a bot token: the real slack-sdk WebClient against the local stand-in."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.alerts.channels import slack as slack_channel
from monitor.alerts.message import DeliveryError, Message
from monitor.alerts.send import deliver
from monitor.alerts.sweep import SEND_TIMEOUT, due_delivery_ids
from monitor.config import Settings
from monitor.destinations import parse_destination
from monitor.models import Delivery, Destination, utcnow
from tests.alerts.conftest import NOW, World, alerts
from tests.alerts.test_formatting import instant
from tests.support.slack_standin import SlackStandIn

ROOT = Path(__file__).resolve().parents[2]


def configured(settings: Settings, slack: SlackStandIn) -> Settings:
    return settings.model_copy(
        update={"slack_base_url": slack.base_url, "slack_bot_token": slack_token(slack)}
    )


def slack_token(slack: SlackStandIn) -> object:
    from pydantic import SecretStr

    return SecretStr(slack.token)


def send(message: Message, settings: Settings, channel: str = "slack:#desk") -> object:
    return slack_channel.send(message, parse_destination(channel), settings=settings)


def test_it_posts_block_kit_with_a_fallback_and_returns_ts_and_channel(
    sqlite_settings: Settings, slack: SlackStandIn
) -> None:
    result = send(instant(), configured(sqlite_settings, slack))
    [post] = slack.posts
    assert post.headers["authorization"] == f"Bearer {slack.token}"
    assert post.channel == "#desk"
    assert post.text == "[Floods] Heavy flood hits Lagos (Daily Wire)"
    assert post.blocks[0]["type"] == "section"
    assert post.body["unfurl_links"] is False and post.body["unfurl_media"] is False
    assert post.body["metadata"]["event_payload"] == {"delivery_id": 7}
    assert result.provider_message_id == post.answer["ts"]  # type: ignore[attr-defined,index]
    assert result.provider_channel == slack.channel_id("#desk")  # type: ignore[attr-defined]


def test_it_sends_the_hostile_headline_escaped(
    sqlite_settings: Settings, slack: SlackStandIn
) -> None:
    send(
        instant(title="<!channel> <https://evil.example|Click here>"),
        configured(sqlite_settings, slack),
    )
    seen = slack.posts[0].all_text()
    assert "<!channel>" not in seen and "<https://evil.example" not in seen
    assert "&lt;!channel&gt; &lt;https://evil.example|Click here&gt;" in seen


@pytest.mark.parametrize(
    ("answer", "permanent", "broken", "retry_after"),
    [
        ("invalid_auth", True, True, None),
        ("channel_not_found", True, True, None),
        ("is_archived", True, True, None),
        ("not_in_channel", True, True, None),
        ("msg_too_long", True, False, None),
        ("invalid_payload", True, False, None),
        ("ratelimited", False, False, 17.0),
        ("server_error", False, False, None),
    ],
    ids=lambda v: str(v),
)
def test_it_classifies_slack_errors(
    sqlite_settings: Settings,
    slack: SlackStandIn,
    answer: str,
    permanent: bool,
    broken: bool,
    retry_after: float | None,
) -> None:
    slack.answer_next(answer, retry_after=17)
    with pytest.raises(DeliveryError) as caught:
        send(instant(), configured(sqlite_settings, slack))
    error = caught.value
    assert (error.permanent, error.destination_broken, error.retry_after) == (
        permanent,
        broken,
        retry_after,
    )
    assert slack.token not in str(error)


def test_it_reports_a_wrong_token_as_invalid_auth(
    sqlite_settings: Settings, slack: SlackStandIn
) -> None:
    from pydantic import SecretStr

    settings = configured(sqlite_settings, slack).model_copy(
        update={"slack_bot_token": SecretStr("xoxb-wrong")}
    )
    with pytest.raises(DeliveryError, match="invalid_auth") as caught:
        send(instant(), settings)
    assert caught.value.permanent and "xoxb-wrong" not in str(caught.value)


def test_it_treats_an_unreachable_slack_as_transient(sqlite_settings: Settings) -> None:
    closed = SlackStandIn()
    url = closed.base_url
    closed._server.server_close()
    settings = sqlite_settings.model_copy(
        update={"slack_base_url": url, "slack_bot_token": slack_token(closed)}
    )
    with pytest.raises(DeliveryError, match="unreachable") as caught:
        send(instant(), settings)
    assert not caught.value.permanent


def test_it_makes_exactly_one_request_per_attempt(
    sqlite_settings: Settings, slack: SlackStandIn
) -> None:
    # slack-sdk's own retry handlers are off: the outbox is the only retry layer.
    slack.answer_next("ratelimited", "server_error")
    for _ in range(2):
        with pytest.raises(DeliveryError):
            send(instant(), configured(sqlite_settings, slack))
    assert len(slack.posts) == 2


def test_it_needs_a_token(sqlite_settings: Settings) -> None:
    with pytest.raises(DeliveryError, match="MONITOR_SLACK_BOT_TOKEN") as caught:
        send(instant(), sqlite_settings)
    assert caught.value.destination_broken


def test_it_delivers_through_the_outbox_and_honours_retry_after(
    session: Session, settings: Settings, world: World, slack: SlackStandIn
) -> None:
    settings = configured(settings, slack)
    spec = world.watchlist("floods", alerts=alerts("slack:#desk"))
    [delivery_id] = world.hit(spec, settings=settings)
    session.commit()
    slack.answer_next("ratelimited", retry_after=30)
    outcome = deliver(session, delivery_id, settings=settings, now=NOW)
    assert outcome.status == "retrying" and "429" in str(outcome.error)
    assert (outcome.next_attempt_at - NOW).total_seconds() == 30  # type: ignore[operator]
    sent = deliver(session, delivery_id, settings=settings, now=outcome.next_attempt_at)
    assert sent.sent and sent.provider_message_id == slack.posts[-1].answer["ts"]  # type: ignore[index]
    row = session.get(Delivery, delivery_id)
    assert row is not None and row.provider_channel == slack.channel_id("#desk")


def test_it_flags_an_archived_channel_and_stops_posting_to_it(
    session: Session, settings: Settings, world: World, slack: SlackStandIn
) -> None:
    settings = configured(settings, slack)
    slack.archived.add("#old")
    spec = world.watchlist("floods", alerts=alerts("slack:#old"))
    ids = [world.hit(spec, f"Flood {n}", settings=settings)[0] for n in range(3)]
    session.commit()
    outcomes = [deliver(session, i, settings=settings, now=NOW) for i in ids]
    assert [o.status for o in outcomes] == ["failed"] * 3
    assert outcomes[0].error == "Slack refused: is_archived"
    assert len(slack.posts) == 1  # the other two failed fast
    destination = session.scalars(select(Destination).where(Destination.key == "slack:#old")).one()
    assert destination.last_error == "Slack refused: is_archived"


KILLED_WORKER = textwrap.dedent(
    """
    import sys
    from datetime import datetime
    from monitor import db
    from monitor.alerts.send import deliver
    from monitor.config import load_settings
    settings = load_settings(database_url=sys.argv[1], slack_base_url=sys.argv[2],
                             slack_bot_token=sys.argv[3])
    with db.sessionmaker_for(settings)() as session:
        deliver(session, int(sys.argv[4]), settings=settings,
                now=datetime.fromisoformat(sys.argv[5]))
    """
)


@pytest.mark.parametrize(
    "channel_known",
    [False, True],
    ids=["first-message-to-channel", "channel-seen-before"],
)
def test_it_recovers_a_worker_killed_between_sending_and_recording(
    session: Session, settings: Settings, world: World, slack: SlackStandIn, channel_known: bool
) -> None:
    """The worst moment: Slack has the message, the worker dies before it can record that.
    The claim is recovered after SEND_TIMEOUT. Where this destination's channel id is known
    (any earlier message to it), conversations.history finds the message by the delivery id
    in its metadata and it is not posted again; for the very first message to a channel it
    goes out a second time: the one duplicate docs/alerts.md describes. Never a third."""
    settings = configured(settings, slack)
    now = utcnow()  # Slack's ts are real time, and the look-up window is built from the claim
    spec = world.watchlist("floods", alerts=alerts("slack:#desk"))
    if channel_known:
        [earlier] = world.hit(spec, "Earlier", settings=settings, now=now)
        session.commit()
        assert deliver(session, earlier, settings=settings, now=now).sent
    [delivery_id] = world.hit(spec, settings=settings, now=now)
    session.commit()
    posts_before = len(slack.posts)
    worker = subprocess.Popen(
        [
            sys.executable,
            "-c",
            KILLED_WORKER,
            settings.database_url,
            slack.base_url,
            slack.token,
            str(delivery_id),
            now.isoformat(),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    # The stand-in kills the worker after receiving its message, before answering it.
    slack.on_request = lambda request: os.kill(worker.pid, signal.SIGKILL)
    assert worker.wait(timeout=60) == -signal.SIGKILL
    slack.on_request = None
    assert len(slack.posts) == posts_before + 1
    first = slack.posts[-1]
    row = session.execute(
        select(Delivery).where(Delivery.id == delivery_id).execution_options(populate_existing=True)
    ).scalar_one()
    assert (row.status, row.attempts) == ("sending", 1)

    later = now + SEND_TIMEOUT + timedelta(seconds=1)
    assert due_delivery_ids(session, now=later) == [delivery_id]
    session.commit()
    outcome = deliver(session, delivery_id, settings=settings, now=later)
    assert outcome.sent and outcome.attempts == 2
    if channel_known:
        assert len(slack.posts) == posts_before + 1  # found, not posted again
        assert outcome.provider_message_id == first.message_ts()
        assert [r.path for r in slack.received if r.kind == "read"] == [
            "/api/conversations.history"
        ]
    else:
        assert len(slack.posts) == posts_before + 2
        assert json.dumps(slack.posts[-1].body) == json.dumps(first.body)
    assert due_delivery_ids(session, now=later + SEND_TIMEOUT * 2) == []


def test_it_looks_in_the_thread_for_a_lost_reply(
    sqlite_settings: Settings, slack: SlackStandIn
) -> None:
    settings = configured(sqlite_settings, slack)
    parent = send(instant(), settings)
    reply = Message(
        kind="followup",
        items=instant().items,
        heading="Also reported by Wire B",
        delivery_id=8,
        thread_ts=parent.provider_message_id,  # type: ignore[attr-defined]
        thread_channel=parent.provider_channel,  # type: ignore[attr-defined]
    )
    posted = send(reply, settings)
    again = send(replace(reply, unconfirmed_since=utcnow() - timedelta(minutes=6)), settings)
    assert again == posted and len(slack.posts) == 2
    assert slack.received[-1].path == "/api/conversations.replies"


def test_it_posts_again_when_it_cannot_look(sqlite_settings: Settings, slack: SlackStandIn) -> None:
    settings = configured(sqlite_settings, slack)
    lost = replace(instant(), unconfirmed_since=utcnow(), known_channel="C0NOTKNOWN")
    send(lost, settings)  # history answers channel_not_found: a duplicate beats a lost alert
    assert len(slack.posts) == 1


def test_it_treats_a_slack_that_does_not_answer_in_time_as_transient(
    sqlite_settings: Settings, slack: SlackStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support.slack_standin import Answer

    monkeypatch.setattr(slack_channel, "TIMEOUT", 0.3)
    slack.answer_next(Answer("ok", delay=1.0))
    with pytest.raises(DeliveryError) as caught:
        send(instant(), configured(sqlite_settings, slack))
    assert not caught.value.permanent


def test_it_keeps_the_token_out_of_the_logs_even_at_debug(
    session: Session,
    settings: Settings,
    world: World,
    slack: SlackStandIn,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from monitor.logs import configure_logging

    configure_logging(level="DEBUG")
    caplog.set_level("DEBUG")
    settings = configured(settings, slack)
    spec = world.watchlist("floods", alerts=alerts("slack:#desk"))
    ids = [world.hit(spec, f"Flood {n}", settings=settings)[0] for n in range(2)]
    session.commit()
    assert deliver(session, ids[0], settings=settings, now=NOW).sent
    slack.answer_next("invalid_auth")
    assert deliver(session, ids[1], settings=settings, now=NOW).status == "failed"
    logged = capsys.readouterr().err + caplog.text
    assert "alert sent" in logged and "alert failed" in logged
    assert slack.token not in logged
