"""The triage actions an alert carries in Slack: Block Kit buttons and a snooze menu, and what
their values say.

Every Slack alert, bot-token and webhook alike, ends each hit with an ``actions`` block:
buttons *Relevant*, *Not relevant* and *Mute story*, and an overflow menu *Snooze 1 hour /
1 day / 1 week* (an overflow holds at most five options, and three buttons plus three snoozes
would crowd a phone's screen). A digest or throttle summary lists many hits, and Slack refuses
a message of more than 50 blocks, so there each hit's actions are an overflow menu beside its
headline instead (Relevant, Not relevant, Mute story), and each watchlist's group ends with one
snooze menu: snoozing is a watchlist's, not a hit's.

Each element's value is a short JSON object of our own ids only (the action, the hit, the
delivery that posted the message), never text from a feed: ``{"a": "relevant", "h": 12,
"d": 34}``. :func:`parse_value` is the one reader of it, for the HTTP endpoint and Socket
Mode alike. Labels are plain_text, which Slack never parses for mentions or links.
See https://api.slack.com/reference/block-kit/block-elements#button and #overflow.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ACTION_PREFIX",
    "BUTTONS",
    "SNOOZES",
    "UNDO",
    "ActionValue",
    "action_block",
    "block_id",
    "hit_menu",
    "parse_value",
    "snooze_block",
    "undo_button",
]

# Every action_id of ours starts with this, so a handler can tell our elements from others'.
ACTION_PREFIX = "monitor."
# (action name, label, button style); the names are monitor.triage's Action values.
BUTTONS: tuple[tuple[str, str, str | None], ...] = (
    ("relevant", "Relevant", "primary"),
    ("not_relevant", "Not relevant", None),
    ("mute_story", "Mute story", "danger"),
)
SNOOZES: tuple[tuple[str, str], ...] = (
    ("snooze_1h", "Snooze 1 hour"),
    ("snooze_1d", "Snooze 1 day"),
    ("snooze_1w", "Snooze 1 week"),
)
UNDO = "undo"
# Slack's limits: a button's value 2,000 characters, an overflow option's value 150.
_OPTION_VALUE_LIMIT = 150


@dataclass(frozen=True, slots=True)
class ActionValue:
    """What one clicked element asks: the action, and the hit (or, for an undo, the recorded
    act) and delivery it is about."""

    action: str
    hit_id: int | None = None
    delivery_id: int | None = None
    act_id: int | None = None


def _value(
    action: str,
    *,
    hit_id: int | None = None,
    delivery_id: int | None = None,
    act_id: int | None = None,
) -> str:
    data: dict[str, Any] = {"a": action}
    if hit_id is not None:
        data["h"] = hit_id
    if delivery_id is not None:
        data["d"] = delivery_id
    if act_id is not None:
        data["u"] = act_id
    text = json.dumps(data, separators=(",", ":"))
    assert len(text) <= _OPTION_VALUE_LIMIT
    return text


def parse_value(value: object) -> ActionValue | None:
    """The :class:`ActionValue` an element's value (or selected option's value) holds, or None
    when it is not one of ours or is malformed: such a click is ignored, never guessed at."""
    if not isinstance(value, str) or len(value) > _OPTION_VALUE_LIMIT:
        return None
    try:
        data = json.loads(value)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("a"), str):
        return None
    ids: dict[str, int | None] = {}
    for key, name in (("h", "hit_id"), ("d", "delivery_id"), ("u", "act_id")):
        raw = data.get(key)
        if raw is not None and (type(raw) is not int or not 0 < raw < 2**63):
            return None
        ids[name] = raw
    action = data["a"]
    known = {name for name, _, _ in BUTTONS} | {name for name, _ in SNOOZES} | {UNDO}
    if action not in known:
        return None
    if action == UNDO and ids["act_id"] is None:
        return None
    if action != UNDO and ids["hit_id"] is None:
        return None
    return ActionValue(action, **ids)


def _text(label: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": label, "emoji": False}


def _option(action: str, label: str, hit_id: int, delivery_id: int | None) -> dict[str, Any]:
    return {"text": _text(label), "value": _value(action, hit_id=hit_id, delivery_id=delivery_id)}


def block_id(hit_id: int) -> str:
    """The actions block's id: which hit a block is about, for the message update."""
    return f"monitor.hit.{hit_id}"


def _snooze_menu(hit_id: int, delivery_id: int | None) -> dict[str, Any]:
    return {
        "type": "overflow",
        "action_id": f"{ACTION_PREFIX}snooze",
        "options": [_option(name, label, hit_id, delivery_id) for name, label in SNOOZES],
    }


def action_block(hit_id: int, delivery_id: int | None) -> dict[str, Any]:
    """The actions block under one hit: three buttons and the snooze menu."""
    elements: list[dict[str, Any]] = []
    for name, label, style in BUTTONS:
        button: dict[str, Any] = {
            "type": "button",
            "action_id": f"{ACTION_PREFIX}{name}",
            "text": _text(label),
            "value": _value(name, hit_id=hit_id, delivery_id=delivery_id),
        }
        if style:
            button["style"] = style
        elements.append(button)
    elements.append(_snooze_menu(hit_id, delivery_id))
    return {"type": "actions", "block_id": block_id(hit_id), "elements": elements}


def hit_menu(hit_id: int, delivery_id: int | None) -> dict[str, Any]:
    """An overflow menu for a section's accessory: one hit of a digest, labelled or muted."""
    return {
        "type": "overflow",
        "action_id": f"{ACTION_PREFIX}hit",
        "options": [_option(name, label, hit_id, delivery_id) for name, label, _ in BUTTONS],
    }


def snooze_block(hit_ids: Iterable[int], delivery_id: int | None) -> dict[str, Any] | None:
    """A group's snooze menu, about the watchlist of its first hit (None without hits)."""
    first = next(iter(hit_ids), None)
    if first is None:
        return None
    return {
        "type": "actions",
        "block_id": f"monitor.snooze.{first}",
        "elements": [_snooze_menu(first, delivery_id)],
    }


def undo_button(act_id: int, hit_id: int, delivery_id: int | None) -> dict[str, Any]:
    """The button that takes the recorded act *act_id* back; the hit and delivery say which
    actions to put back in its place."""
    return {
        "type": "button",
        "action_id": f"{ACTION_PREFIX}{UNDO}",
        "text": _text("Undo"),
        "value": _value(UNDO, act_id=act_id, hit_id=hit_id, delivery_id=delivery_id),
    }
