"""``monitor slack listen``: take clicks on Slack alerts over Socket Mode, in the foreground.

Needs ``MONITOR_SLACK_APP_TOKEN`` (``xapp-...``); ``monitor run`` starts this command as a
child of its own when the token is set. The HTTP way in, ``POST /slack/interactions``, is
served by the dashboard instead.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

import click
from slack_sdk.errors import SlackApiError, SlackClientError

from monitor import db as storage
from monitor.cli.context import pass_settings
from monitor.config import Settings
from monitor.errors import MonitorError, UserError

__all__ = ["commands", "slack"]


@click.group()
def slack() -> None:
    """Slack interactivity: the buttons on alerts."""


@slack.command()
@pass_settings
def listen(settings: Settings) -> None:
    """Handle clicks on alerts over Socket Mode until stopped (Ctrl-C)."""
    if settings.slack_app_token is None:
        raise UserError("MONITOR_SLACK_APP_TOKEN is not set: Socket Mode needs an xapp- token")
    from monitor.slackapp.socketmode import Listener

    storage.upgrade(settings)
    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        listener = Listener(settings)
        listener.connect()
    except SlackApiError as exc:
        code = exc.response.get("error") if exc.response is not None else None
        raise MonitorError(f"Slack refused Socket Mode: {code or 'unknown error'}") from None
    except (SlackClientError, OSError) as exc:
        raise MonitorError(f"Slack unreachable for Socket Mode: {type(exc).__name__}") from None
    click.echo("monitor: listening for Slack clicks over Socket Mode", err=True)
    try:
        stop.wait()
    finally:
        listener.close()


commands = [slack]
