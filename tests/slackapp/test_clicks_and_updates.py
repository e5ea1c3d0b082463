"""Reading Slack's block_actions payloads, and the message blocks after a click (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from monitor.alerts.formatting import slack_payload
from monitor.alerts.message import Message
from monitor.alerts.slack_actions import ActionValue
from monitor.slackapp.clicks import Click, clicks_in
from monitor.slackapp.updates import updated_blocks
from tests.alerts.test_formatting import item
from tests.support.slack_interactivity import block_actions

NOW = datetime(2026, 3, 2, 9, 15, tzinfo=UTC)


def posted(kind: str = "instant", hits: tuple[int, ...] = (5,)) -> dict[str, Any]:
    items = tuple(item(hit_id=n, title=f"Flood {n}") for n in hits)
    text, blocks = slack_payload(Message(kind=kind, items=items, delivery_id=9, heading="H"))
    # Slack gives a block without an id one of its own.
    for n, block in enumerate(blocks):
        block.setdefault("block_id", f"slack{n}")
    return {"ts": "1700000000.000100", "text": text, "blocks": blocks}


def click(message: dict[str, Any], action_id: str, **options: Any) -> Click:
    [one] = clicks_in(block_actions(message, channel="C1", action_id=action_id, **options))
    return one


def test_it_reads_a_button_click() -> None:
    one = click(posted(), "monitor.not_relevant", response_url="https://hooks.slack.com/x")
    assert one.value == ActionValue("not_relevant", hit_id=5, delivery_id=9)
    assert (one.who, one.user_id, one.channel_id) == ("slack:alice", "U0ALICE", "C1")
    assert one.message_ts == "1700000000.000100" and not one.accessory
    assert one.response_url == "https://hooks.slack.com/x"


def test_it_reads_an_overflow_option() -> None:
    one = click(posted(), "monitor.snooze", option=2)
    assert one.value == ActionValue("snooze_1w", hit_id=5, delivery_id=9)


def test_it_reads_a_digest_hit_menu_as_an_accessory() -> None:
    one = click(posted("digest", (5, 6)), "monitor.hit", option=0, block_id=None)
    assert one.accessory and one.value.action == "relevant"


@pytest.mark.parametrize(
    "change",
    [
        lambda p: p.update(type="view_submission"),
        lambda p: p.pop("user"),
        lambda p: p["actions"][0].update(action_id="someone.else"),
        lambda p: p["actions"][0].update(value='{"a":"relevant","h":"5"}'),
        lambda p: p.update(actions="not a list"),
    ],
    ids=["other type", "no user", "not our element", "bad value", "bad actions"],
)
def test_it_ignores_what_is_not_a_click_of_ours(change: Any) -> None:
    payload = block_actions(posted(), channel="C1", action_id="monitor.relevant")
    change(payload)
    assert clicks_in(payload) == []


def test_it_gives_a_replay_the_same_key_and_another_click_another() -> None:
    payload = block_actions(posted(), channel="C1", action_id="monitor.relevant")
    [first], [again] = clicks_in(payload), clicks_in(dict(payload))
    assert first.key == again.key
    payload["actions"][0]["action_ts"] = "1700000001.000001"
    assert clicks_in(payload)[0].key != first.key


def test_it_shows_who_did_what_and_offers_undo_under_the_buttons() -> None:
    message = posted()
    blocks = updated_blocks(click(message, "monitor.relevant"), 77, now=NOW)
    assert blocks[: len(message["blocks"])] == message["blocks"]  # the buttons stay
    said, done = blocks[len(message["blocks"]) :]
    assert said["elements"][0]["text"] == "Marked relevant by <@U0ALICE> at 2026-03-02 09:15 UTC"
    [undo] = done["elements"]
    assert undo["action_id"] == "monitor.undo"
    assert len({b["block_id"] for b in blocks}) == len(blocks)  # Slack refuses repeated ids


def test_it_says_only_the_latest_act_after_a_second_click() -> None:
    message = posted()
    message["blocks"] = updated_blocks(click(message, "monitor.not_relevant"), 1, now=NOW)
    blocks = updated_blocks(click(message, "monitor.snooze", option=0), 2, now=NOW)
    said = [b for b in blocks if b["type"] == "context" and "monitor.said" in b["block_id"]]
    assert [s["elements"][0]["text"].split(" by ")[0] for s in said] == [
        "Watchlist snoozed here for 1 hour"
    ]
    [done] = [b for b in blocks if b["block_id"].startswith("monitor.done.")]
    assert '"u":2' in done["elements"][0]["value"]


def test_it_takes_the_undo_away_after_an_undo() -> None:
    message = posted()
    original = list(message["blocks"])
    message["blocks"] = updated_blocks(click(message, "monitor.mute_story"), 77, now=NOW)
    undone = updated_blocks(click(message, "monitor.undo", user="U0BOB"), 77, now=NOW)
    assert undone[: len(original)] == original
    [said] = undone[len(original) :]
    assert said["elements"][0]["text"].startswith("Undone by <@U0BOB>")


def test_it_changes_only_the_clicked_hit_of_a_digest() -> None:
    message = posted("digest", (5, 6))
    blocks = updated_blocks(click(message, "monitor.hit", option=1), 3, now=NOW)
    menus = [b["accessory"]["action_id"] for b in blocks if b.get("accessory")]
    assert sorted(menus) == ["monitor.hit", "monitor.undo"]
    assert sum(1 for b in blocks if b.get("block_id", "").startswith("monitor.said.")) == 1
    # An undo there puts the menu back and keeps one line saying so.
    message["blocks"] = blocks
    undone = updated_blocks(click(message, "monitor.undo"), 3, now=NOW)
    assert [b["accessory"]["action_id"] for b in undone if b.get("accessory")] == [
        "monitor.hit",
        "monitor.hit",
    ]
    said = [b for b in undone if b.get("block_id", "").startswith("monitor.said.")]
    assert len(said) == 1 and said[0]["elements"][0]["text"].startswith("Undone by")


def test_it_escapes_a_name_it_cannot_mention() -> None:
    payload = block_actions(
        posted(), channel="C1", action_id="monitor.relevant", user="<!channel>", username="<!here>"
    )
    [one] = clicks_in(payload)
    text = str(updated_blocks(one, 1, now=NOW))
    assert "<!here>" not in text and "<!channel>" not in text and "&lt;!here&gt;" in text
