"""Slack's side of interactivity, for the stand-in: a person's click as Slack sends it.

- :func:`block_actions` builds the ``block_actions`` payload Slack documents
  (https://api.slack.com/reference/interaction-payloads/block-actions) for a click on a button
  or an overflow option of a posted message.
- :func:`signed_request` form-encodes it (``payload=<json>``) and signs it the way Slack does
  (https://api.slack.com/authentication/verifying-requests-from-slack): ``X-Slack-Signature:
  v0=<hex HMAC-SHA256 of "v0:{timestamp}:{body}" under the signing secret>`` and
  ``X-Slack-Request-Timestamp``.
- :class:`SocketModeServer` is the websocket end of Socket Mode
  (https://api.slack.com/apis/socket-mode): it greets each connection with ``hello``, sends
  envelopes ``{"envelope_id", "type": "interactive", "payload", "accepts_response_payload"}``
  and records the acknowledgements that come back.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

__all__ = ["SocketModeServer", "block_actions", "sign", "signed_request"]

TEAM = {"id": "T0STANDIN", "domain": "standin"}
APP_ID = "A0STANDIN"


def block_actions(
    message: dict[str, Any],
    *,
    channel: str,
    action_id: str,
    option: int = 0,
    user: str = "U0ALICE",
    username: str = "alice",
    response_url: str | None = None,
    block_id: str | None = None,
) -> dict[str, Any]:
    """The payload of a click on the element *action_id* of *message* (as the stand-in stored
    it: ``ts`` and ``blocks``); for an overflow menu, on its option number *option*. With
    *block_id*, the element is looked for in that block only."""
    element, found_in = _find(message.get("blocks") or [], action_id, block_id)
    action_ts = f"{time.time():.6f}"
    action: dict[str, Any] = {
        "type": element["type"],
        "action_id": action_id,
        "block_id": found_in,
        "action_ts": action_ts,
    }
    if element["type"] == "overflow":
        action["selected_option"] = element["options"][option]
    else:
        action["text"] = element["text"]
        action["value"] = element.get("value", "")
        if "style" in element:
            action["style"] = element["style"]
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user, "username": username, "name": username, "team_id": TEAM["id"]},
        "api_app_id": APP_ID,
        # The deprecated verification token: still sent, never to be trusted.
        "token": "standinverificationtoken",
        "container": {
            "type": "message",
            "message_ts": message["ts"],
            "channel_id": channel,
            "is_ephemeral": False,
        },
        "trigger_id": f"{int(time.time())}.{uuid.uuid4().int % 10**12}",
        "team": dict(TEAM),
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel, "name": "standin"},
        "message": {
            "type": "message",
            "subtype": "bot_message",
            "text": message.get("text", ""),
            "ts": message["ts"],
            "bot_id": "B0STANDIN",
            "blocks": message.get("blocks") or [],
        },
        "state": {"values": {}},
        "actions": [action],
    }
    if response_url:
        payload["response_url"] = response_url
    return payload


def _find(
    blocks: list[dict[str, Any]], action_id: str, block_id: str | None
) -> tuple[dict[str, Any], str]:
    for block in blocks:
        if block_id is not None and block.get("block_id") != block_id:
            continue
        candidates = list(block.get("elements") or [])
        if block.get("accessory"):
            candidates.append(block["accessory"])
        for element in candidates:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                # Slack gives every block an id; one it made up if the message set none.
                return element, str(block.get("block_id") or f"standin{id(block) % 100000}")
    raise LookupError(f"no element {action_id!r} in the message")


def sign(secret: str, timestamp: str, body: str) -> str:
    """``X-Slack-Signature`` for *body* sent at *timestamp*."""
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signed_request(
    payload: dict[str, Any], *, secret: str, timestamp: int | None = None
) -> tuple[str, dict[str, str]]:
    """The body and headers of Slack's POST of *payload* to the app's Request URL."""
    body = urlencode({"payload": json.dumps(payload)})
    ts = str(int(time.time()) if timestamp is None else timestamp)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": sign(secret, ts, body),
        "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
    }
    return body, headers


@dataclass(slots=True)
class _Link:
    connection: ServerConnection
    acks: list[dict[str, Any]] = field(default_factory=list)


class SocketModeServer:
    """The websocket Slack's Socket Mode clients connect to (``ws://127.0.0.1:<port>/link``)."""

    def __init__(self) -> None:
        self.acks: list[dict[str, Any]] = []
        self.sent: list[dict[str, Any]] = []
        self._links: list[_Link] = []
        self._changed = threading.Condition()
        self._server: Server = serve(self._serve, "127.0.0.1", 0)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> SocketModeServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()

    @property
    def url(self) -> str:
        port = self._server.socket.getsockname()[1]
        return f"ws://127.0.0.1:{port}/link/?ticket={uuid.uuid4()}&app_id={APP_ID}"

    def _serve(self, connection: ServerConnection) -> None:
        link = _Link(connection)
        hello = {
            "type": "hello",
            "num_connections": 1,
            "debug_info": {"host": "standin", "approximate_connection_time": 18060},
            "connection_info": {"app_id": APP_ID},
        }
        connection.send(json.dumps(hello))
        with self._changed:
            self._links.append(link)
            self._changed.notify_all()
        try:
            for raw in connection:
                try:
                    data = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(data, dict) and "envelope_id" in data:
                    with self._changed:
                        self.acks.append(data)
                        self._changed.notify_all()
        except ConnectionClosed:
            pass
        finally:
            with self._changed:
                self._links.remove(link)
                self._changed.notify_all()

    def wait_for_client(self, timeout: float = 10.0) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: bool(self._links), timeout):
                raise TimeoutError("no Socket Mode client connected")

    def send_interactive(self, payload: dict[str, Any]) -> str:
        """Send *payload* in an ``interactive`` envelope to the connected client; its id."""
        self.wait_for_client()
        envelope = {
            "envelope_id": str(uuid.uuid4()),
            "type": "interactive",
            "payload": payload,
            "accepts_response_payload": False,
        }
        with self._changed:
            link = self._links[-1]
            self.sent.append(envelope)
        link.connection.send(json.dumps(envelope))
        return str(envelope["envelope_id"])

    def wait_for_ack(self, envelope_id: str, timeout: float = 10.0) -> dict[str, Any]:
        with self._changed:
            found = self._changed.wait_for(
                lambda: next((a for a in self.acks if a["envelope_id"] == envelope_id), None),
                timeout,
            )
        if not found:
            raise TimeoutError(f"envelope {envelope_id} was not acknowledged")
        return found
