"""Slack incoming webhooks: the real WebhookClient against the local stand-in. The webhook
URL is a secret and must not show up in errors, logs or the database."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.alerts.channels import webhook
from monitor.alerts.message import DeliveryError
from monitor.alerts.send import deliver
from monitor.config import Settings
from monitor.destinations import parse_destination
from monitor.models import Delivery, Destination
from tests.alerts.conftest import NOW, World, alerts
from tests.alerts.test_formatting import instant
from tests.support.slack_standin import SlackStandIn

SECRET_PATH = "T0001/B0001/s3cr3tt0k3nvalue"


@pytest.fixture
def hook(slack: SlackStandIn, monkeypatch: pytest.MonkeyPatch) -> str:
    url = slack.webhook_url(SECRET_PATH)
    monkeypatch.setenv("SLACK_WEBHOOK_DESK", url)
    return url


def test_it_posts_blocks_and_text_to_the_webhook(
    sqlite_settings: Settings, slack: SlackStandIn, hook: str
) -> None:
    result = webhook.send(
        instant(), parse_destination("webhook:SLACK_WEBHOOK_DESK"), settings=sqlite_settings
    )
    [received] = slack.webhooks
    assert received.path == f"/services/{SECRET_PATH}"
    assert received.text == "[Floods] Heavy flood hits Lagos (Daily Wire)"
    assert received.blocks and received.body["unfurl_links"] is False
    assert result.provider_message_id is None  # webhooks answer 'ok', no ts


@pytest.mark.parametrize(
    ("answer", "permanent", "broken", "retry_after"),
    [
        ("invalid_payload", True, False, None),
        ("action_prohibited", True, True, None),
        ("no_service", True, True, None),
        ("channel_not_found", True, True, None),
        ("channel_is_archived", True, True, None),
        ("ratelimited", False, False, 9.0),
        ("server_error", False, False, None),
    ],
    ids=lambda v: str(v),
)
def test_it_checks_the_status_because_webhookclient_does_not_raise(
    sqlite_settings: Settings,
    slack: SlackStandIn,
    hook: str,
    answer: str,
    permanent: bool,
    broken: bool,
    retry_after: float | None,
) -> None:
    slack.answer_next(answer, retry_after=9)
    with pytest.raises(DeliveryError) as caught:
        webhook.send(
            instant(), parse_destination("webhook:SLACK_WEBHOOK_DESK"), settings=sqlite_settings
        )
    error = caught.value
    assert (error.permanent, error.destination_broken, error.retry_after) == (
        permanent,
        broken,
        retry_after,
    )
    assert SECRET_PATH not in str(error) and "s3cr3t" not in str(error)


def test_it_fails_permanently_when_the_variable_is_missing(
    sqlite_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SLACK_WEBHOOK_NOPE", raising=False)
    with pytest.raises(DeliveryError, match="SLACK_WEBHOOK_NOPE") as caught:
        webhook.send(
            instant(), parse_destination("webhook:SLACK_WEBHOOK_NOPE"), settings=sqlite_settings
        )
    assert caught.value.destination_broken


def test_it_hides_the_url_when_the_webhook_is_unreachable(
    sqlite_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed = SlackStandIn()
    url = closed.webhook_url(SECRET_PATH)
    closed._server.server_close()
    monkeypatch.setenv("SLACK_WEBHOOK_DESK", url)
    with pytest.raises(DeliveryError) as caught:
        webhook.send(
            instant(), parse_destination("webhook:SLACK_WEBHOOK_DESK"), settings=sqlite_settings
        )
    assert not caught.value.permanent and "s3cr3t" not in str(caught.value)


def test_it_flags_a_revoked_webhook_and_keeps_its_url_out_of_the_database_and_logs(
    session: Session,
    settings: Settings,
    world: World,
    slack: SlackStandIn,
    hook: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from monitor.logs import configure_logging

    configure_logging(level="DEBUG")
    spec = world.watchlist("floods", alerts=alerts("webhook:SLACK_WEBHOOK_DESK"))
    [delivery_id] = world.hit(spec, settings=settings)
    session.commit()
    slack.answer_next("no_service")
    outcome = deliver(session, delivery_id, settings=settings, now=NOW)
    assert outcome.status == "failed" and outcome.error == "Slack webhook 404 no_service"
    session.expire_all()
    destination = session.scalars(select(Destination)).one()
    assert destination.key == "webhook:SLACK_WEBHOOK_DESK" and destination.failed_at == NOW
    row = session.scalars(select(Delivery)).one()
    stored = " ".join(
        str(v)
        for v in (
            row.destination,
            row.dedupe_key,
            row.last_error,
            row.payload,
            destination.last_error,
        )
    )
    assert "s3cr3t" not in stored
    assert "s3cr3t" not in capsys.readouterr().err
