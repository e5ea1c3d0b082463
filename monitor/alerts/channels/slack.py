"""Slack through a bot token: Web API ``chat.postMessage`` with slack-sdk's WebClient.

Error codes and what we make of them (https://api.slack.com/methods/chat.postMessage#errors):
the token or the channel is wrong for good (``invalid_auth``, ``channel_not_found``,
``is_archived``, ...) → permanent and the destination is flagged; the message itself is
refused (``msg_too_long``, ``invalid_blocks``) → permanent for this message only; 429
``ratelimited`` → retry after the ``Retry-After`` seconds Slack sent; 5xx and network errors →
retry with backoff. WebClient's own retry handlers are off: the outbox is the only retry layer.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from monitor.alerts.formatting import slack_payload
from monitor.alerts.message import DeliveryError, Message, SendResult
from monitor.config import Settings
from monitor.destinations import AlertSpec

__all__ = ["BAD_MESSAGE", "BROKEN_DESTINATION", "send"]

TIMEOUT = 15

# slack-sdk logs whole requests at DEBUG; the token is redacted there, but the message bodies
# are not ours to spill into logs at DEBUG level either.
_sdk_log = logging.getLogger("monitor.alerts.slack.sdk")
# Every failure it logs at ERROR also reaches us as an exception and is recorded on the
# delivery; its own line would say it twice (and break `monitor alerts test`'s one line).
_sdk_log.setLevel(logging.CRITICAL)

# The token or the channel is unusable until a person acts.
BROKEN_DESTINATION = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "no_permission",
        "missing_scope",
        "not_allowed_token_type",
        "ekm_access_denied",
        "team_access_not_granted",
        "channel_not_found",
        "is_archived",
        "channel_is_archived",
        "not_in_channel",
        "restricted_action",
        "restricted_action_read_only_channel",
        "restricted_action_thread_only_channel",
        "restricted_action_non_threadable_channel",
        "team_not_found",
        "no_service",
        "no_service_id",
        "no_team",
        "access_denied",
    }
)
# This message is refused, the destination is fine: sending it again cannot help.
BAD_MESSAGE = frozenset(
    {
        "msg_too_long",
        "no_text",
        "too_many_attachments",
        "invalid_blocks",
        "invalid_blocks_format",
        "invalid_payload",
        "invalid_arguments",
        "invalid_arg_name",
        "invalid_array_arg",
        "invalid_charset",
        "invalid_form_data",
        "invalid_post_type",
        "invalid_json",
        "json_not_object",
        "missing_post_type",
        "invalid_metadata_format",
        "invalid_metadata_schema",
        "metadata_too_large",
        "duplicate_message_not_found",
    }
)


def send(message: Message, destination: AlertSpec, *, settings: Settings) -> SendResult:
    if settings.slack_bot_token is None:
        raise DeliveryError(
            "MONITOR_SLACK_BOT_TOKEN is not set", permanent=True, destination_broken=True
        )
    channel = str(destination.slack)
    client = WebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_base_url,
        timeout=TIMEOUT,
        retry_handlers=[],
        logger=_sdk_log,
    )
    text, blocks = slack_payload(message)
    arguments: dict[str, Any] = {
        "channel": message.thread_channel or channel,
        "text": text,
        "blocks": blocks,
        # A preview of a hostile page must not appear under our alert.
        "unfurl_links": False,
        "unfurl_media": False,
    }
    if message.thread_ts:
        arguments["thread_ts"] = message.thread_ts
        if message.broadcast:
            arguments["reply_broadcast"] = True
    if message.delivery_id is not None:
        # Our id travels with the message, so a person (or a later check) can tell which
        # delivery a Slack message came from.
        arguments["metadata"] = {
            "event_type": "monitor_alert",
            "event_payload": {"delivery_id": message.delivery_id},
        }
    earlier = _already_posted(client, message)
    if earlier is not None:
        return earlier
    try:
        response = client.chat_postMessage(**arguments)
    except SlackApiError as exc:
        raise classify_api_error(exc) from None
    except SlackClientError as exc:
        raise DeliveryError(
            f"Slack request failed: {type(exc).__name__}", permanent=False
        ) from None
    except (OSError, TimeoutError) as exc:
        # urllib raises URLError (an OSError) for refused connections and timeouts.
        raise DeliveryError(f"Slack unreachable: {_reason(exc)}", permanent=False) from None
    return SendResult(
        provider_message_id=_str_or_none(response.get("ts")),
        provider_channel=_str_or_none(response.get("channel")),
    )


def _already_posted(client: WebClient, message: Message) -> SendResult | None:
    """After a worker died mid-send, look in the channel for the message it may have posted
    (it carries our delivery id in its metadata), so it is not posted twice.

    Needs the ``channels:history`` (or ``groups:history``) scope and the channel's id, known
    from an earlier message to this destination. Without either, or if Slack cannot answer,
    we send again: a duplicate is better than a lost alert."""
    if message.unconfirmed_since is None or message.delivery_id is None:
        return None
    channel = message.thread_channel or message.known_channel
    if not channel:
        return None
    start = message.unconfirmed_since.timestamp()
    window: dict[str, Any] = {
        "channel": channel,
        "oldest": f"{start - 60:.6f}",
        "latest": f"{start + 3600:.6f}",
        "include_all_metadata": True,
        "limit": 200,
    }
    try:
        if message.thread_ts:
            response = client.conversations_replies(ts=message.thread_ts, **window)
        else:
            response = client.conversations_history(**window)
    except (SlackClientError, OSError):
        return None
    for posted in response.get("messages") or []:
        metadata = posted.get("metadata") or {}
        payload = metadata.get("event_payload") or {}
        if (
            metadata.get("event_type") == "monitor_alert"
            and payload.get("delivery_id") == message.delivery_id
        ):
            return SendResult(provider_message_id=str(posted.get("ts")), provider_channel=channel)
    return None


def classify_api_error(exc: SlackApiError) -> DeliveryError:
    """Turn a Web API error answer into a :class:`DeliveryError` of the right kind."""
    response = exc.response
    status = int(getattr(response, "status_code", 0) or 0)
    data = getattr(response, "data", None)
    code = str(data.get("error", "")) if isinstance(data, dict) else ""
    if status == 429 or code in ("ratelimited", "rate_limited"):
        return DeliveryError(
            "Slack rate limit (429 ratelimited)",
            permanent=False,
            retry_after=retry_after(getattr(response, "headers", {}) or {}),
        )
    if status >= 500 or code in ("fatal_error", "internal_error", "service_unavailable"):
        return DeliveryError(f"Slack server error {status} {code}".rstrip(), permanent=False)
    if code in BROKEN_DESTINATION:
        return DeliveryError(f"Slack refused: {code}", permanent=True, destination_broken=True)
    if code in BAD_MESSAGE:
        return DeliveryError(
            f"Slack refused the message: {code}", permanent=True, destination_broken=False
        )
    # Unknown codes: a 4xx is the request's fault; anything else may pass with time.
    return DeliveryError(
        f"Slack error {status} {code or 'unknown'}",
        permanent=400 <= status < 500,
        destination_broken=False,
    )


def retry_after(headers: Any) -> float | None:
    """The ``Retry-After`` header in seconds, whatever the header's case."""
    try:
        items = headers.items()
    except AttributeError:
        return None
    for name, value in items:
        if str(name).lower() == "retry-after":
            if isinstance(value, list | tuple):
                value = value[0] if value else ""
            try:
                return max(0.0, float(str(value).strip()))
            except ValueError:
                return None
    return None


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    return f"{type(exc).__name__}: {reason}".splitlines()[0][:200]


def _str_or_none(value: object) -> str | None:
    return None if value is None else str(value)
