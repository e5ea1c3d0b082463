"""Slack through an incoming webhook, with slack-sdk's WebhookClient.

The webhook URL is a secret: it is read from the environment variable the watchlist names and
never appears in a log line, an error or the database (the destination key holds the
variable's name). WebhookClient does not raise on an HTTP error, so the status and body are
checked here. Slack's answers (https://api.slack.com/messaging/webhooks#handling_errors):
400 ``invalid_payload`` (this message), 403 ``action_prohibited``, 404 ``no_service`` /
``channel_not_found`` (webhook revoked or channel deleted), 410 ``channel_is_archived``,
429 with ``Retry-After``, 500 ``rollup_error``.
"""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackClientError
from slack_sdk.webhook import WebhookClient

from monitor.alerts.channels.slack import BAD_MESSAGE, retry_after
from monitor.alerts.formatting import slack_payload
from monitor.alerts.message import DeliveryError, Message, SendResult
from monitor.config import Settings
from monitor.destinations import AlertSpec, SlackWebhook

__all__ = ["send"]

TIMEOUT = 15

# slack-sdk logs each request's URL at DEBUG, and for a webhook the URL is the secret: its
# client gets a logger of its own that never passes DEBUG on.
_sdk_log = logging.getLogger("monitor.alerts.webhook.sdk")
# Every failure it logs at ERROR also reaches us as an exception and is recorded on the
# delivery; its own line would say it twice (and break `monitor alerts test`'s one line).
_sdk_log.setLevel(logging.CRITICAL)


def send(message: Message, destination: AlertSpec, *, settings: Settings) -> SendResult:
    assert isinstance(destination.slack, SlackWebhook)
    variable = destination.slack.env_var
    url = settings.webhook_url(variable)
    if not url:
        raise DeliveryError(
            f"environment variable {variable} (the webhook URL) is not set",
            permanent=True,
            destination_broken=True,
        )
    text, blocks = slack_payload(message)
    client = WebhookClient(url, timeout=TIMEOUT, retry_handlers=[], logger=_sdk_log)
    try:
        response = client.send(text=text, blocks=blocks, unfurl_links=False, unfurl_media=False)
    except SlackClientError as exc:
        raise DeliveryError(
            f"Slack webhook request failed: {type(exc).__name__}", permanent=False
        ) from None
    except (OSError, TimeoutError) as exc:
        # Only the exception's class: its text could hold the secret URL.
        raise DeliveryError(
            f"Slack webhook unreachable: {type(exc).__name__}", permanent=False
        ) from None
    status = int(response.status_code)
    body = (response.body or "").strip()[:100]
    if status == 200:
        return SendResult()
    code = body.split()[0] if body else ""
    what = f"Slack webhook {status} {code}".rstrip()
    if status == 429:
        raise DeliveryError(what, permanent=False, retry_after=retry_after(response.headers or {}))
    if status >= 500:
        raise DeliveryError(what, permanent=False)
    if status in (403, 404, 410):
        # Revoked webhook, deleted or archived channel: broken until a person fixes it.
        raise DeliveryError(what, permanent=True, destination_broken=True)
    # 400 invalid_payload and other refusals of this one message.
    raise DeliveryError(
        what, permanent=400 <= status < 500 or code in BAD_MESSAGE, destination_broken=False
    )
