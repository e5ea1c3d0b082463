"""A ``block_actions`` payload read into the clicks on our own elements, and nothing else.

The payload is Slack's (https://api.slack.com/reference/interaction-payloads/block-actions),
already authenticated by its signature or by our own Socket Mode connection, but its shape is
still checked field by field: an element that is not ours, a value that does not parse
(``monitor.alerts.slack_actions.parse_value``), or a missing user is skipped, never guessed
at. Nothing here touches the database or the network.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from monitor.alerts.slack_actions import ACTION_PREFIX, ActionValue, parse_value

__all__ = ["Click", "clicks_in"]

# Slack's user ids: U… or W… (Enterprise Grid), upper-case letters and digits.
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,30}$")


@dataclass(frozen=True, slots=True)
class Click:
    """One click on one of our elements, with what is needed to act and to answer."""

    value: ActionValue
    # Who acted, as recorded: 'slack:<username>' ('slack:<user id>' without a name).
    who: str
    # Slack's user id when it has the expected shape: shown as a mention in the update.
    user_id: str | None
    # Unique per click: a replayed request carries the same one, and changes nothing.
    key: str
    # The element's block, and whether the element was a section's accessory.
    block_id: str
    accessory: bool
    response_url: str | None = None
    channel_id: str | None = None
    message_ts: str | None = None
    message_text: str = ""
    message_blocks: tuple[dict[str, Any], ...] = field(default=(), repr=False)


def clicks_in(payload: object) -> list[Click]:
    """The clicks on our elements that *payload* holds (usually one)."""
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        return []
    user = payload.get("user")
    if not isinstance(user, dict) or not isinstance(user.get("id"), str):
        return []
    user_id = str(user["id"])
    name = user.get("username") or user.get("name") or user_id
    who = f"slack:{str(name)[:80]}"
    container = _dict(payload.get("container"))
    message = _dict(payload.get("message"))
    channel = _dict(payload.get("channel"))
    blocks = [b for b in message.get("blocks") or [] if isinstance(b, dict)]
    response_url = payload.get("response_url")
    clicks = []
    for action in payload.get("actions") or []:
        if not isinstance(action, dict):
            continue
        action_id = str(action.get("action_id", ""))
        if not action_id.startswith(ACTION_PREFIX):
            continue
        selected = _dict(action.get("selected_option"))
        value = parse_value(selected.get("value") if selected else action.get("value"))
        if value is None:
            continue
        block_id = str(action.get("block_id", ""))
        clicks.append(
            Click(
                value=value,
                who=who,
                user_id=user_id if _USER_ID.match(user_id) else None,
                key=_key(payload, action, user_id),
                block_id=block_id,
                accessory=_is_accessory(blocks, block_id, action_id),
                response_url=response_url if isinstance(response_url, str) else None,
                channel_id=_str(container.get("channel_id")) or _str(channel.get("id")),
                message_ts=_str(container.get("message_ts")) or _str(message.get("ts")),
                message_text=str(message.get("text") or ""),
                message_blocks=tuple(blocks),
            )
        )
    return clicks


def _key(payload: dict[str, Any], action: dict[str, Any], user_id: str) -> str:
    # action_ts is Slack's own stamp of this click; with the team, user and element it names
    # one click, so a replay of the same request carries the same key.
    team = _str(_dict(payload.get("team")).get("id")) or ""
    parts = (team, user_id, str(action.get("action_ts", "")), str(action.get("block_id", "")))
    return ":".join(parts)[:190]


def _is_accessory(blocks: list[dict[str, Any]], block_id: str, action_id: str) -> bool:
    for block in blocks:
        if block.get("block_id") == block_id:
            accessory = _dict(block.get("accessory"))
            return accessory.get("action_id") == action_id
    return False


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
