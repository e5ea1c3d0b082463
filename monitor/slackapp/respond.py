"""The alert's new blocks sent back to Slack: at the click's response_url, else by
``chat.update``; and a note only the person sees when their click could not be applied.

A response_url (https://api.slack.com/interactivity/handling#message_responses) works for
webhook and bot-token messages alike and needs no token, so it comes first; ``chat.update``
(https://api.slack.com/methods/chat.update) needs the bot token and the message's channel
and ts. A response_url is only followed to Slack's own host (``hooks.slack.com``) or to the
host of ``MONITOR_SLACK_BASE_URL``: a signed payload comes from Slack, but we still never send
a request to an address a payload names without checking it. Failures are logged, with the
error's class only (a response_url is a bearer capability), and never raised: the act is
recorded either way.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError
from slack_sdk.webhook import WebhookClient

from monitor.config import Settings
from monitor.logs import get_logger
from monitor.slackapp.clicks import Click

__all__ = ["SLACK_HOOKS_HOST", "followable", "replace_message", "tell_privately"]

SLACK_HOOKS_HOST = "hooks.slack.com"
TIMEOUT = 10

log = get_logger(__name__)
# Like the channels' clients: slack-sdk's DEBUG lines would hold the response_url.
_sdk_log = logging.getLogger("monitor.slackapp.sdk")
_sdk_log.setLevel(logging.CRITICAL)


def followable(url: str | None, settings: Settings) -> bool:
    """Whether *url* is a response_url we may POST to."""
    if not url:
        return False
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname == SLACK_HOOKS_HOST:
        return True
    base = urlsplit(settings.slack_base_url)
    return (parts.scheme, parts.netloc) == (base.scheme, base.netloc) and bool(parts.netloc)


def replace_message(click: Click, blocks: list[dict[str, Any]], *, settings: Settings) -> bool:
    """Replace the clicked message with *blocks*; whether Slack took it."""
    text = click.message_text or "monitor alert"
    if followable(click.response_url, settings):
        assert click.response_url is not None
        client = WebhookClient(
            click.response_url, timeout=TIMEOUT, retry_handlers=[], logger=_sdk_log
        )
        try:
            response = client.send(text=text, blocks=blocks, replace_original=True)
        except (SlackClientError, OSError) as exc:
            log.warning("slack message not updated", reason=type(exc).__name__)
            return False
        if response.status_code == 200:
            return True
        log.warning("slack message not updated", status=response.status_code)
        return False
    if settings.slack_bot_token is None or not click.channel_id or not click.message_ts:
        log.warning("slack message not updated", reason="no response_url and no bot token")
        return False
    web = WebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_base_url,
        timeout=TIMEOUT,
        retry_handlers=[],
        logger=_sdk_log,
    )
    try:
        web.chat_update(channel=click.channel_id, ts=click.message_ts, text=text, blocks=blocks)
    except (SlackClientError, OSError) as exc:
        log.warning("slack message not updated", reason=type(exc).__name__)
        return False
    return True


def tell_privately(click: Click, text: str, *, settings: Settings) -> None:
    """Show *text* to the person who clicked only (an ephemeral message), when we can."""
    if not followable(click.response_url, settings):
        return
    assert click.response_url is not None
    client = WebhookClient(click.response_url, timeout=TIMEOUT, retry_handlers=[], logger=_sdk_log)
    try:
        client.send(text=text, response_type="ephemeral", replace_original=False)
    except (SlackClientError, OSError) as exc:
        log.warning("slack note not sent", reason=type(exc).__name__)
