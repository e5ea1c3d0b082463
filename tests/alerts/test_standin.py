"""The Slack stand-in against Slack's own Web API spec (../shared/data/slack), and our error
handling against every error code the spec lists for chat.postMessage."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft4Validator
from slack_sdk import WebClient

from monitor.alerts.channels import slack as slack_channel
from monitor.alerts.message import DeliveryError
from monitor.config import Settings
from monitor.destinations import parse_destination
from tests.alerts.test_formatting import instant
from tests.alerts.test_slack import configured
from tests.conftest import shared_data
from tests.support.slack_standin import SlackStandIn

pytestmark = pytest.mark.shared_data


def web_api_spec() -> dict[str, Any]:
    path = shared_data("slack", "slack-api-specs", "web-api", "slack_web_openapi_v2.json")
    return dict(json.loads(path.read_text()))


def response_schema(spec: dict[str, Any], method: str, answer: str) -> Draft4Validator:
    operation = spec["paths"][f"/{method}"]
    schema = next(iter(operation.values()))["responses"][answer]["schema"]
    return Draft4Validator({**schema, "definitions": spec["definitions"]})


def test_it_answers_chat_post_message_as_the_spec_says(slack: SlackStandIn) -> None:
    spec = web_api_spec()
    client = WebClient(token=slack.token, base_url=slack.base_url, retry_handlers=[])
    ok = client.chat_postMessage(channel="#desk", text="hello")
    response_schema(spec, "chat.postMessage", "200").validate(ok.data)
    slack.answer_next("channel_not_found")
    refused = WebClient(token=slack.token, base_url=slack.base_url, retry_handlers=[])
    with pytest.raises(Exception) as caught:
        refused.chat_postMessage(channel="#desk", text="hello")
    response_schema(spec, "chat.postMessage", "default").validate(
        caught.value.response.data  # type: ignore[attr-defined]
    )


def test_it_answers_conversations_history_as_the_spec_says(slack: SlackStandIn) -> None:
    spec = web_api_spec()
    client = WebClient(token=slack.token, base_url=slack.base_url, retry_handlers=[])
    posted = client.chat_postMessage(channel="#desk", text="hello")
    history = client.conversations_history(channel=posted["channel"], include_all_metadata=True)
    response_schema(spec, "conversations.history", "200").validate(history.data)
    assert [m["ts"] for m in history["messages"]] == [posted["ts"]]


def chat_post_message_errors() -> list[str]:
    spec = web_api_spec()
    default = spec["paths"]["/chat.postMessage"]["post"]["responses"]["default"]
    return list(default["schema"]["properties"]["error"]["enum"])


def test_it_has_a_decision_for_every_error_the_spec_lists(
    sqlite_settings: Settings, slack: SlackStandIn
) -> None:
    settings = configured(sqlite_settings, slack)
    decisions = {}
    for code in chat_post_message_errors():
        slack.answer_next(code)
        with pytest.raises(DeliveryError) as caught:
            slack_channel.send(instant(), parse_destination("slack:#desk"), settings=settings)
        error = caught.value
        # The generic fallback ('Slack error 200 ...') means nobody decided about this code.
        assert not error.message.startswith("Slack error"), code
        decisions[code] = (error.permanent, error.destination_broken)
    assert decisions["rate_limited"] == (False, False)
    assert decisions["channel_not_found"] == (True, True)
    assert decisions["msg_too_long"] == (True, False)
