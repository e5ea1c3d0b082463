"""Socket Mode: clicks on alerts over a websocket we open, so no inbound port is needed.

With ``MONITOR_SLACK_APP_TOKEN`` (an app-level ``xapp-`` token with ``connections:write``),
slack-sdk's built-in Socket Mode client (``slack_sdk.socket_mode.builtin``, no extra
dependency) calls ``apps.connections.open`` for a websocket URL, connects, and reconnects
when Slack rotates the connection (https://api.slack.com/apis/socket-mode). Each
``interactive`` envelope is acknowledged with its ``envelope_id`` first (Slack retries an
envelope not acknowledged within 3 seconds), then handled like a signed HTTP request
(:func:`~monitor.slackapp.handle.handle_payload`). Other envelope types are acknowledged and
ignored. The connection itself is authenticated by the token, so there is no signature to
check here.

``monitor slack listen`` runs one :class:`Listener` in the foreground, and ``monitor run``
starts it as a child when the token is set.
"""

from __future__ import annotations

import logging
import threading

from slack_sdk import WebClient
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.client import BaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from sqlalchemy.orm import Session, sessionmaker

from monitor import db as storage
from monitor.config import Settings
from monitor.logs import get_logger
from monitor.slackapp.handle import handle_payload_logged

__all__ = ["Listener"]

log = get_logger(__name__)
# slack-sdk's client logs every frame at DEBUG (payloads, the websocket URL with its ticket).
_sdk_log = logging.getLogger("monitor.slackapp.socket.sdk")
# Its ERROR lines (a reconnect that failed) stay: they are the only word of a lost connection.
_sdk_log.setLevel(logging.ERROR)


class Listener:
    """One Socket Mode connection, handling the clicks it brings."""

    def __init__(
        self, settings: Settings, *, sessions: sessionmaker[Session] | None = None
    ) -> None:
        if settings.slack_app_token is None:
            raise ValueError("Socket Mode needs MONITOR_SLACK_APP_TOKEN")
        self.settings = settings
        self.sessions = sessions or storage.sessionmaker_for(settings)
        # Clicks handled so far (tests and the log's count).
        self.handled = 0
        self._lock = threading.Lock()
        web = WebClient(
            token=None,
            base_url=settings.slack_base_url,
            timeout=15,
            logger=_sdk_log,
        )
        self.client = SocketModeClient(
            app_token=settings.slack_app_token.get_secret_value(),
            web_client=web,
            logger=_sdk_log,
        )
        self.client.socket_mode_request_listeners.append(self._on_request)

    def _on_request(self, client: BaseSocketModeClient, request: SocketModeRequest) -> None:
        # Acknowledge first: Slack resends an envelope that is not acknowledged in 3 s.
        client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id))
        if request.type != "interactive":
            return
        done = handle_payload_logged(self.sessions, request.payload, settings=self.settings)
        with self._lock:
            self.handled += len(done)

    def connect(self) -> None:
        """Open the connection; envelopes are handled on the client's threads from now on."""
        # A failure here is raised to the caller, who says it in one line: the client's own
        # ERROR line for it would say it twice.
        _sdk_log.setLevel(logging.CRITICAL)
        try:
            self.client.connect()
        finally:
            _sdk_log.setLevel(logging.ERROR)
        log.info("slack socket mode connected")

    def close(self) -> None:
        self.client.close()
