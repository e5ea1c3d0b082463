"""The alert's blocks after a click: who did what and when, and a button to undo it.

The new message is the old one as Slack sent it back in the payload (our own blocks, already
escaped when we posted them), with only the clicked element's block changed:

- under a row of buttons (an instant alert), which stays, comes a context line ('Marked
  relevant by @alice at 2026-03-02 09:15 UTC') and an Undo button for the latest act; a
  digest group's snooze menu gives way to the same two (its message has no room for more);
- a digest hit's menu beside its headline becomes an Undo button there, with the context line
  under the headline;
- an Undo takes its button away (puts a digest's menu back) and says who undid it and when.

The person is shown as a Slack mention of their user id (Slack renders the name; an update
does not notify), or as their escaped name when the id has an unexpected shape.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from monitor.alerts import slack_actions
from monitor.alerts.formatting import slack_escape, when
from monitor.slackapp.clicks import Click

__all__ = ["DONE", "updated_blocks"]

DONE = {
    "relevant": "Marked relevant",
    "not_relevant": "Marked not relevant",
    "mute_story": "Story muted for this watchlist",
    "snooze_1h": "Watchlist snoozed here for 1 hour",
    "snooze_1d": "Watchlist snoozed here for 1 day",
    "snooze_1w": "Watchlist snoozed here for 1 week",
    slack_actions.UNDO: "Undone",
}
_ROW, _SNOOZE = "row", "snooze"
# Slack's limit for one message (https://api.slack.com/reference/block-kit/blocks).
SLACK_MAX_BLOCKS = 50


def updated_blocks(click: Click, act_id: int, *, now: datetime) -> list[dict[str, Any]]:
    """The message's blocks after *click* was recorded as act *act_id* (for an Undo, the act
    it undid)."""
    value = click.value
    hit_id = value.hit_id
    if hit_id is None:  # an Undo from before values carried the hit: nothing to put back
        return list(click.message_blocks)
    who = f"<@{click.user_id}>" if click.user_id else slack_escape(click.who)
    line = f"{DONE[value.action]} by {who} at {when(now)}"
    undo = value.action == slack_actions.UNDO
    blocks: list[dict[str, Any]] = []
    made: list[dict[str, Any]] = []
    for block in click.message_blocks:
        if block.get("block_id") != click.block_id:
            blocks.append(block)
            continue
        if click.accessory:
            changed = dict(block)
            changed["accessory"] = (
                slack_actions.hit_menu(hit_id, value.delivery_id)
                if undo
                else slack_actions.undo_button(act_id, hit_id, value.delivery_id)
            )
            made = [_said("item", hit_id, line)]
            blocks.extend([changed, *made])
            continue
        kind = _kind(click.block_id)
        said = _said(kind, hit_id, line)
        if undo:
            # The Undo row goes; a group's snooze menu, which gave way to it, comes back.
            restored = (
                slack_actions.snooze_block([hit_id], value.delivery_id) if kind == _SNOOZE else None
            )
            made = [said]
            blocks.extend([said, *([restored] if restored else [])])
            continue
        done = {
            "type": "actions",
            "block_id": f"monitor.done.{kind}.{hit_id}",
            "elements": [slack_actions.undo_button(act_id, hit_id, value.delivery_id)],
        }
        made = [said, done]
        # A hit's buttons stay, so the person can still snooze after labelling; a digest's
        # snooze menu gives way, as its message has no room for two more blocks.
        blocks.extend([*([block] if kind == _ROW else []), said, done])
    # What was said and offered before for this element gives way to the new line.
    ids = {b["block_id"] for b in made}
    blocks = [b for b in blocks if any(b is m for m in made) or b.get("block_id") not in ids]
    if len(blocks) > SLACK_MAX_BLOCKS:
        # Slack refuses the update past 50 blocks: drop the line (the person who clicked
        # sees the Undo; the act is recorded either way).
        blocks = [b for b in blocks if not (made and b is made[0])]
    return blocks


def _kind(block_id: str) -> str:
    if block_id.startswith("monitor.done."):
        return block_id.split(".")[2]
    if block_id.startswith("monitor.snooze."):
        return _SNOOZE
    return _ROW


def _said(kind: str, hit_id: int, line: str) -> dict[str, Any]:
    return {
        "type": "context",
        "block_id": f"monitor.said.{kind}.{hit_id}",
        "elements": [{"type": "mrkdwn", "text": line}],
    }
