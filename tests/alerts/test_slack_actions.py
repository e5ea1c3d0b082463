"""The triage actions on every Slack alert: buttons and menus, bot token and webhook alike."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy.orm import Session

from monitor.alerts.formatting import slack_payload
from monitor.alerts.message import Message
from monitor.alerts.send import deliver
from monitor.alerts.slack_actions import ActionValue, parse_value
from monitor.config import Settings
from tests.alerts.conftest import NOW, World, alerts
from tests.alerts.test_formatting import item
from tests.support.slack_standin import SlackStandIn

ACTIONS = ["relevant", "not_relevant", "mute_story"]
SNOOZES = ["snooze_1h", "snooze_1d", "snooze_1w"]


def configured(settings: Settings, slack: SlackStandIn) -> Settings:
    return settings.model_copy(
        update={"slack_base_url": slack.base_url, "slack_bot_token": SecretStr(slack.token)}
    )


def elements(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for block in blocks:
        found.extend(block.get("elements") or [] if block["type"] == "actions" else [])
        if block.get("accessory"):
            found.append(block["accessory"])
    return found


def values(element: dict[str, Any]) -> list[ActionValue | None]:
    if element["type"] == "overflow":
        return [parse_value(option["value"]) for option in element["options"]]
    return [parse_value(element["value"])]


@pytest.fixture
def hook(slack: SlackStandIn, monkeypatch: pytest.MonkeyPatch) -> str:
    url = slack.webhook_url()
    monkeypatch.setenv("SLACK_WEBHOOK_DESK", url)
    return url


@pytest.mark.parametrize("destination", ["slack:#desk", "webhook:SLACK_WEBHOOK_DESK"])
def test_it_puts_the_four_actions_on_every_alert(
    sqlite_settings: Settings,
    session: Session,
    world: World,
    slack: SlackStandIn,
    hook: str,
    destination: str,
) -> None:
    settings = configured(sqlite_settings, slack)
    spec = world.watchlist("floods", "Floods", alerts=alerts(destination))
    [delivery_id] = world.hit(spec, settings=settings)
    assert deliver(session, delivery_id, settings=settings, now=NOW).sent
    [received] = slack.received
    [actions] = [b for b in received.blocks if b["type"] == "actions"]
    buttons, menu = actions["elements"][:3], actions["elements"][3]
    assert [b["type"] for b in buttons] == ["button"] * 3
    assert [b["text"]["text"] for b in buttons] == ["Relevant", "Not relevant", "Mute story"]
    assert menu["type"] == "overflow"
    assert [o["text"]["text"] for o in menu["options"]] == [
        "Snooze 1 hour",
        "Snooze 1 day",
        "Snooze 1 week",
    ]
    hit_id = int(actions["block_id"].rsplit(".", 1)[1])
    assert [v for e in actions["elements"] for v in values(e)] == [
        ActionValue(name, hit_id=hit_id, delivery_id=delivery_id) for name in ACTIONS + SNOOZES
    ]


def test_it_keeps_hostile_text_out_of_the_actions(slack: SlackStandIn) -> None:
    hostile = item(title="<!channel> *bold* <https://evil.example|x>", hit_id=5)
    _, blocks = slack_payload(Message(kind="instant", items=(hostile,), delivery_id=9))
    # Labels are ours and plain_text; values hold our ids only.
    for element in elements(blocks):
        labels = [element.get("text")] + [o["text"] for o in element.get("options", [])]
        assert all(label["type"] == "plain_text" for label in labels if label)
        assert "evil" not in str(element) and "channel" not in str(element)
    assert "&lt;!channel&gt;" in blocks[0]["text"]["text"]


def test_it_gives_each_digest_hit_a_menu_and_each_watchlist_a_snooze() -> None:
    items = tuple(
        item(watchlist_id=w, watchlist_name=w.title(), hit_id=n, title=f"Headline {n}")
        for n, w in enumerate(["floods", "floods", "fires"] * 5, start=1)
    )
    message = Message(
        kind="digest", items=items, heading="Digest", delivery_id=3, period=(NOW, NOW)
    )
    _, blocks = slack_payload(message)
    assert len(blocks) <= 50
    menus = [b["accessory"] for b in blocks if b.get("accessory")]
    for menu in menus:
        read = [parse_value(o["value"]) for o in menu["options"]]
        assert [v.action for v in read if v] == ACTIONS
        assert len({(v.hit_id, v.delivery_id) for v in read if v}) == 1  # one hit, one message
    hit_ids = {parse_value(m["options"][0]["value"]).hit_id for m in menus}  # type: ignore[union-attr]
    assert len(hit_ids) == len(menus)
    snoozes = [b for b in blocks if b.get("block_id", "").startswith("monitor.snooze.")]
    assert len(snoozes) == 2  # one per watchlist
    first_of = {parse_value(s["elements"][0]["options"][0]["value"]).hit_id for s in snoozes}  # type: ignore[union-attr]
    assert first_of == {1, 3}
    # Every hit not listed is counted in the 'more' line, so none is lost from view.
    listed = len(menus)
    if listed < len(items):
        assert f"…and {len(items) - listed} more" in str(blocks[-1])


def test_it_puts_no_actions_on_a_test_message() -> None:
    _, blocks = slack_payload(Message(kind="test", items=(item(hit_id=4),), heading="Test"))
    assert elements(blocks) == []


@pytest.mark.parametrize(
    "value",
    [
        "",
        "not json",
        '{"a": "relevant"}',  # no hit
        '{"a": "explode", "h": 1}',
        '{"a": "relevant", "h": "1"}',
        '{"a": "relevant", "h": -1}',
        '{"a": "relevant", "h": true}',
        '{"a": "relevant", "h": 99999999999999999999999}',
        '{"a": "undo"}',
        "[1, 2]",
        "x" * 500,
    ],
)
def test_it_ignores_a_value_that_is_not_ours(value: str) -> None:
    assert parse_value(value) is None


def test_it_reads_an_undo_value() -> None:
    assert parse_value('{"a":"undo","u":42}') == ActionValue("undo", act_id=42)


@pytest.mark.parametrize("kind", ["throttle", "snooze"])
def test_it_gives_a_summary_menus_and_one_snooze(kind: str) -> None:
    items = tuple(item(hit_id=n, title=f"Flood {n}") for n in (11, 12, 13))
    message = Message(kind=kind, items=items, heading="3 more hits", delivery_id=8)
    _, blocks = slack_payload(message)
    menus = [b["accessory"] for b in blocks if b.get("accessory")]
    assert [parse_value(m["options"][1]["value"]) for m in menus] == [
        ActionValue("not_relevant", hit_id=n, delivery_id=8) for n in (11, 12, 13)
    ]
    [snooze] = [b for b in blocks if b.get("block_id", "").startswith("monitor.snooze.")]
    assert [parse_value(o["value"]) for o in snooze["elements"][0]["options"]] == [
        ActionValue(name, hit_id=11, delivery_id=8) for name in SNOOZES
    ]
