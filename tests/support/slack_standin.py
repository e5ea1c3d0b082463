"""A local stand-in for Slack: the incoming-webhook endpoint and Web API ``chat.postMessage``
(plus ``conversations.history`` and ``conversations.replies`` over what it accepted).

It answers the way Slack documents (https://api.slack.com/methods/chat.postMessage,
https://api.slack.com/messaging/webhooks#handling_errors), so the real slack-sdk can be
pointed at it (``WebClient(base_url=standin.base_url)``, ``standin.webhook_url()``)::

    with SlackStandIn() as slack:
        slack.answer_next("ratelimited", retry_after=30)   # the next request gets a 429
        ...                                                # then success again
        assert slack.received[0].text == "..."

Answers by name, each in its protocol's form:

==========================  ===========================  ===============================
name                        Web API (chat.postMessage)   incoming webhook
==========================  ===========================  ===============================
``ok``                      200 ``{"ok": true, ts, ...}``  200 ``ok``
``invalid_payload``         200 ``ok: false``            400 ``invalid_payload``
``channel_not_found``       200 ``ok: false``            404 ``channel_not_found``
``no_service``              200 ``ok: false``            404 ``no_service``
``channel_is_archived``     200 ``ok: false``            410 ``channel_is_archived``
``is_archived``             200 ``ok: false``            410 ``channel_is_archived``
``invalid_auth``            200 ``ok: false``            403 ``invalid_token``
``ratelimited``             429 + ``Retry-After``        429 + ``Retry-After``
``server_error``            500 ``fatal_error``          500 ``rollup_error``
any other Slack error code  200 ``ok: false``            400 with that code
==========================  ===========================  ===============================

Without a scripted answer the Web API checks the bearer token (``invalid_auth``), the
channel (``channel_not_found`` for names in ``missing``, ``is_archived`` for names in
``archived``) and that there is text or blocks (``no_text``); webhooks check for JSON with
text or blocks (400 ``invalid_payload``).

Interactivity (the person's side of a click, in ``slack_interactivity.py``): :meth:`click`
POSTs a signed ``block_actions`` payload for a button or menu of a posted message to an app's
Request URL, :meth:`click_by_socket` sends it as a Socket Mode envelope (after the app opened
a connection with ``apps.connections.open`` and its ``xapp-`` token); the stand-in answers at
the payload's ``response_url`` and to ``chat.update``, keeping each message's blocks current.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs

import httpx

from tests.support.httpserver import QuietHTTPServer
from tests.support.slack_interactivity import SocketModeServer, block_actions, signed_request

__all__ = ["Answer", "Received", "SlackStandIn"]

_WEBHOOK_STATUS = {
    "ok": 200,
    "invalid_payload": 400,
    "no_text": 400,
    "user_not_found": 400,
    "no_service_id": 400,
    "no_team": 400,
    "action_prohibited": 403,
    "posting_to_general_channel_denied": 403,
    "invalid_token": 403,
    "channel_not_found": 404,
    "no_service": 404,
    "team_disabled": 404,
    "channel_is_archived": 410,
    "ratelimited": 429,
    "rollup_error": 500,
}
_WEBHOOK_NAMES = {
    "is_archived": "channel_is_archived",
    "invalid_auth": "invalid_token",
    "server_error": "rollup_error",
}


@dataclass(frozen=True, slots=True)
class Answer:
    """A scripted answer: a Slack error name (or ``ok``), and for ``ratelimited`` the
    ``Retry-After`` seconds. ``delay`` holds the answer back (to provoke a client timeout)."""

    name: str = "ok"
    retry_after: int = 1
    delay: float = 0.0


@dataclass(slots=True)
class Received:
    """One request as the stand-in saw it."""

    kind: str  # "api" (chat.postMessage), "webhook" or "read" (conversations.*)
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    answered: int = 0
    answer: dict[str, Any] | str = field(default_factory=dict)

    @property
    def text(self) -> str:
        return str(self.body.get("text", ""))

    @property
    def blocks(self) -> list[dict[str, Any]]:
        blocks = self.body.get("blocks") or []
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        return list(blocks)

    @property
    def channel(self) -> str | None:
        value = self.body.get("channel")
        return None if value is None else str(value)

    @property
    def thread_ts(self) -> str | None:
        value = self.body.get("thread_ts")
        return None if value is None else str(value)

    def message_ts(self) -> str | None:
        """The ``ts`` Slack answered for this message (None unless it was accepted)."""
        return self.answer.get("ts") if isinstance(self.answer, dict) else None

    def all_text(self) -> str:
        """Every mrkdwn/plain text in the message, joined: what a reader could see."""
        texts = [self.text]

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                if isinstance(node.get("text"), str):
                    texts.append(node["text"])
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)

        walk(self.blocks)
        return "\n".join(texts)


class _Interactivity:
    """What :class:`SlackStandIn` adds for interactivity (kept apart to be read apart)."""

    # Filled by SlackStandIn.
    port: int
    token: str
    app_token: str
    received: list[Received]
    channels: dict[str, list[dict[str, Any]]]
    socket: SocketModeServer | None
    # Set to an unset Event to hold every response_url answer until it is set.
    hold_responses: threading.Event | None
    _lock: threading.Lock
    WEBHOOK_CHANNEL: str

    @property
    def responses(self) -> list[Received]:
        """What the app POSTed to response_urls."""
        return [r for r in self.received if r.kind == "response"]

    @property
    def updates(self) -> list[Received]:
        """The app's chat.update calls."""
        return [r for r in self.received if r.kind == "update"]

    def message(self, channel: str, ts: str) -> dict[str, Any]:
        """The message *ts* of *channel* as it is now (after any update)."""
        with self._lock:
            for stored in self.channels.get(channel, []):
                if stored["ts"] == ts:
                    return stored
        raise LookupError(f"no message {ts} in {channel}")

    def last_message(self) -> tuple[str, dict[str, Any]]:
        """The channel id and message most recently posted, by API or webhook."""
        with self._lock:
            newest = max(
                ((c, m) for c, ms in self.channels.items() for m in ms),
                key=lambda pair: float(pair[1]["ts"]),
            )
        return newest

    def response_url(self, channel: str, ts: str) -> str:
        """A response_url for an action on message *ts*: what the app POSTs there replaces
        or follows that message, as Slack's does."""
        return f"http://127.0.0.1:{self.port}/actions/T0STANDIN/{channel}/{ts}/{uuid.uuid4().hex}"

    def payload(self, channel: str, ts: str, action_id: str, **options: Any) -> dict[str, Any]:
        """The ``block_actions`` payload of a click on *action_id* in message *ts* (with
        ``response_url=None``, without one, as for a message in a modal)."""
        options.setdefault("response_url", self.response_url(channel, ts))
        return block_actions(
            self.message(channel, ts), channel=channel, action_id=action_id, **options
        )

    def click(
        self,
        url: str,
        channel: str,
        ts: str,
        action_id: str,
        *,
        secret: str,
        timestamp: int | None = None,
        **options: Any,
    ) -> httpx.Response:
        """POST a signed click on *action_id* to the app's Request URL *url*."""
        payload = self.payload(channel, ts, action_id, **options)
        body, headers = signed_request(payload, secret=secret, timestamp=timestamp)
        return httpx.post(url, content=body, headers=headers, timeout=10)

    def click_by_socket(self, channel: str, ts: str, action_id: str, **options: Any) -> str:
        """Send a click as a Socket Mode envelope to the connected app; the envelope id."""
        if self.socket is None:
            raise RuntimeError("no app has opened a Socket Mode connection")
        return self.socket.send_interactive(self.payload(channel, ts, action_id, **options))

    def _respond(self, request: Received) -> tuple[int, dict[str, str], Any]:
        if self.hold_responses is not None:
            # A slow Slack: the app's POST to the response_url waits until the test says.
            self.hold_responses.wait(30)
        # /actions/T0STANDIN/<channel>/<ts>/<secret part>
        parts = request.path.split("/")
        if len(parts) != 6:
            return 404, {}, {"ok": False, "error": "expired_url"}
        channel, ts = parts[3], parts[4]
        body = request.body
        if body.get("replace_original") in (True, "true"):
            try:
                stored = self.message(channel, ts)
            except LookupError:
                return 404, {}, {"ok": False, "error": "message_not_found"}
            with self._lock:
                stored["text"] = str(body.get("text", stored["text"]))
                stored["blocks"] = request.blocks
        return 200, {}, {"ok": True}

    def _update(self, request: Received) -> tuple[int, dict[str, str], Any]:
        if request.headers.get("authorization", "") != f"Bearer {self.token}":
            return 200, {}, {"ok": False, "error": "invalid_auth"}
        channel, ts = str(request.body.get("channel", "")), str(request.body.get("ts", ""))
        try:
            stored = self.message(channel, ts)
        except LookupError:
            return 200, {}, {"ok": False, "error": "message_not_found"}
        with self._lock:
            stored["text"] = request.text
            stored["blocks"] = request.blocks
        return 200, {}, {"ok": True, "channel": channel, "ts": ts, "text": request.text}

    def _open_connection(self, request: Received) -> tuple[int, dict[str, str], Any]:
        # apps.connections.open takes the app-level token only
        # (https://api.slack.com/methods/apps.connections.open).
        auth = request.headers.get("authorization", "")
        if auth != f"Bearer {self.app_token}":
            error = "not_allowed_token_type" if auth.startswith("Bearer xox") else "invalid_auth"
            return 200, {}, {"ok": False, "error": error}
        with self._lock:
            if self.socket is None:
                self.socket = SocketModeServer().start()
            url = self.socket.url
        return 200, {}, {"ok": True, "url": url}


class SlackStandIn(_Interactivity):
    """The server. Use as a context manager, or ``start()`` / ``close()``."""

    # The channel id an incoming webhook posts to (a webhook belongs to one channel).
    WEBHOOK_CHANNEL = "C0WEBHOOK"

    def __init__(
        self,
        *,
        token: str = "xoxb-standin-token",  # noqa: S107 (a fake)
        app_token: str = "xapp-1-standin-app-token",  # noqa: S107 (a fake)
    ) -> None:
        self.token = token
        self.app_token = app_token
        self.socket: SocketModeServer | None = None
        self.hold_responses: threading.Event | None = None
        self.received: list[Received] = []
        self.archived: set[str] = set()
        self.missing: set[str] = set()
        # Called with each request after it is recorded and before it is answered, e.g. to
        # kill the client at the worst moment.
        self.on_request: Callable[[Received], None] | None = None
        self._answers: deque[Answer] = deque()
        # What chat.postMessage accepted, per channel id: conversations.history and
        # conversations.replies answer from it.
        self.channels: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._ts = int(time.time()) * 1_000_000
        self._server = QuietHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # -- life cycle --------------------------------------------------------------------------
    def start(self) -> SlackStandIn:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self.socket is not None:
            self.socket.close()

    def __enter__(self) -> SlackStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- addresses ---------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """For ``WebClient(base_url=...)`` and ``MONITOR_SLACK_BASE_URL``."""
        return f"http://127.0.0.1:{self.port}/api/"

    def webhook_url(self, path: str = "T00000000/B00000000/standinstandinstandin") -> str:
        return f"http://127.0.0.1:{self.port}/services/{path}"

    # -- scripting ---------------------------------------------------------------------------
    def answer_next(self, *answers: str | Answer, retry_after: int = 1) -> None:
        """Queue answers for the next requests, in order; then success again."""
        with self._lock:
            for answer in answers:
                if isinstance(answer, str):
                    answer = Answer(answer, retry_after=retry_after)
                self._answers.append(answer)

    @property
    def posts(self) -> list[Received]:
        return [r for r in self.received if r.kind == "api"]

    @property
    def webhooks(self) -> list[Received]:
        return [r for r in self.received if r.kind == "webhook"]

    def channel_id(self, name: str) -> str:
        if name[:1] in "CGD" and name[1:].isalnum() and name.isupper():
            return name
        return "C" + hashlib.sha1(name.encode()).hexdigest()[:10].upper()  # noqa: S324

    # -- answering ---------------------------------------------------------------------------
    def _next_answer(self) -> Answer | None:
        with self._lock:
            return self._answers.popleft() if self._answers else None

    def _next_ts(self) -> str:
        with self._lock:
            self._ts += 100
            return f"{self._ts // 1_000_000}.{self._ts % 1_000_000:06d}"

    def _api(self, request: Received, answer: Answer | None) -> tuple[int, dict[str, str], Any]:
        name = answer.name if answer else None
        if name is None:
            auth = request.headers.get("authorization", "")
            channel = request.channel or ""
            if auth != f"Bearer {self.token}":
                name = "invalid_auth" if auth else "not_authed"
            elif not channel or channel in self.missing:
                name = "channel_not_found"
            elif channel in self.archived:
                name = "is_archived"
            elif not request.text and not request.blocks:
                name = "no_text"
            else:
                name = "ok"
        if name == "ok":
            ts = self._next_ts()
            channel = self.channel_id(request.channel or "general")
            stored = {
                "type": "message",
                "text": request.text,
                "ts": ts,
                "blocks": _with_block_ids(request.blocks),
            }
            if request.thread_ts:
                stored["thread_ts"] = request.thread_ts
                stored["reply_broadcast"] = bool(request.body.get("reply_broadcast"))
            if request.body.get("metadata"):
                stored["metadata"] = request.body["metadata"]
            with self._lock:
                self.channels.setdefault(channel, []).append(stored)
            return (
                200,
                {},
                {
                    "ok": True,
                    "channel": channel,
                    "ts": ts,
                    "message": {
                        "type": "message",
                        "subtype": "bot_message",
                        "text": request.text,
                        "ts": ts,
                        "bot_id": "B0STANDIN",
                        **({"thread_ts": request.thread_ts} if request.thread_ts else {}),
                    },
                },
            )
        if name == "ratelimited":
            retry = str(answer.retry_after if answer else 1)
            return 429, {"Retry-After": retry}, {"ok": False, "error": "ratelimited"}
        if name == "server_error":
            return 500, {}, {"ok": False, "error": "fatal_error"}
        return 200, {}, {"ok": False, "error": name}

    def _read(self, method: str, request: Received) -> tuple[int, dict[str, str], Any]:
        """conversations.history and conversations.replies, from what was posted."""
        if request.headers.get("authorization", "") != f"Bearer {self.token}":
            return 200, {}, {"ok": False, "error": "invalid_auth"}
        params = request.body
        channel = str(params.get("channel", ""))
        if channel not in self.channels:
            return 200, {}, {"ok": False, "error": "channel_not_found"}
        oldest = float(params.get("oldest") or 0)
        latest = float(params.get("latest") or 1e12)
        with_metadata = str(params.get("include_all_metadata", "")).lower() in ("1", "true")
        with self._lock:
            stored = list(self.channels[channel])
        if method == "conversations.history":
            # Top-level messages, and replies also sent to the channel; newest first.
            chosen = [m for m in stored if "thread_ts" not in m or m.get("reply_broadcast")]
            chosen.reverse()
        else:
            thread = str(params.get("ts", ""))
            chosen = [m for m in stored if m["ts"] == thread or m.get("thread_ts") == thread]
        chosen = [m for m in chosen if oldest <= float(m["ts"]) <= latest]
        limit = int(params.get("limit") or 100)
        messages = [
            {k: v for k, v in m.items() if with_metadata or k != "metadata"} for m in chosen[:limit]
        ]
        answer: dict[str, Any] = {
            "ok": True,
            "messages": messages,
            "has_more": len(chosen) > limit,
        }
        if method == "conversations.history":
            # Required by Slack's published schema for this method.
            answer.update(pin_count=0, channel_actions_ts=None, channel_actions_count=0)
        return 200, {}, answer

    def _webhook(self, request: Received, answer: Answer | None) -> tuple[int, dict[str, str], Any]:
        name = answer.name if answer else None
        if name is None:
            name = "ok" if (request.text or request.blocks) else "invalid_payload"
        name = _WEBHOOK_NAMES.get(name, name)
        if name == "ok":
            stored = {
                "type": "message",
                "text": request.text,
                "ts": self._next_ts(),
                "blocks": _with_block_ids(request.blocks),
            }
            with self._lock:
                self.channels.setdefault(self.WEBHOOK_CHANNEL, []).append(stored)
        status = _WEBHOOK_STATUS.get(name, 400)
        headers = (
            {"Retry-After": str(answer.retry_after)} if name == "ratelimited" and answer else {}
        )
        return status, headers, name

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self.do_POST()

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                kind = "webhook" if self.path.startswith("/services/") else "api"
                if self.path.startswith("/actions/"):
                    kind = "response"
                path, _, query = self.path.partition("?")
                body = _decode(raw, self.headers.get("Content-Type", ""))
                body.update({k: v[0] for k, v in parse_qs(query).items()})
                request = Received(
                    kind=kind,
                    path=path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                method = path.removeprefix("/api/")
                if method in ("conversations.history", "conversations.replies"):
                    request.kind = "read"
                    with standin._lock:
                        standin.received.append(request)
                    self._answer(*standin._read(method, request), request)
                    return
                interactive = {
                    "response": standin._respond,
                    "chat.update": standin._update,
                    "apps.connections.open": standin._open_connection,
                }
                handler = interactive.get(kind) or interactive.get(method)
                if handler is not None:
                    request.kind = {"chat.update": "update", "apps.connections.open": "socket"}.get(
                        method, request.kind
                    )
                    with standin._lock:
                        standin.received.append(request)
                    self._answer(*handler(request), request)
                    return
                with standin._lock:
                    standin.received.append(request)
                if standin.on_request is not None:
                    standin.on_request(request)
                answer = standin._next_answer()
                if answer is not None and answer.delay:
                    time.sleep(answer.delay)
                if kind == "api" and method != "chat.postMessage":
                    status, headers, body = 200, {}, {"ok": False, "error": "unknown_method"}
                elif kind == "api":
                    status, headers, body = standin._api(request, answer)
                else:
                    status, headers, body = standin._webhook(request, answer)
                self._answer(status, headers, body, request)

            def _answer(
                self, status: int, headers: dict[str, str], body: Any, request: Received
            ) -> None:
                request.answered = status
                request.answer = body
                if isinstance(body, str):
                    data = body.encode()
                    content_type = "text/html"
                else:
                    data = json.dumps(body).encode()
                    content_type = "application/json; charset=utf-8"
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        return Handler


def _with_block_ids(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """*blocks* as Slack stores them: a block posted without a ``block_id`` gets one."""
    return [
        block if block.get("block_id") else {**block, "block_id": uuid.uuid4().hex[:5]}
        for block in blocks
    ]


def _decode(raw: bytes, content_type: str) -> dict[str, Any]:
    text = raw.decode("utf-8", "replace")
    if "json" in content_type:
        try:
            value = json.loads(text or "{}")
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}
    return {k: v[0] for k, v in parse_qs(text).items()}
