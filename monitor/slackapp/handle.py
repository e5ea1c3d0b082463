"""A ``block_actions`` payload handled top to bottom: each click on our elements applied in
its own transaction, then the message updated in place (or the person told why not).

The HTTP endpoint and the Socket Mode listener both acknowledge Slack first (Slack wants an
answer within 3 seconds) and call :func:`handle_payload` after, so a slow database or a slow
``response_url`` never makes Slack show the person an error for a click we did record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from monitor.alerts.formatting import slack_escape
from monitor.config import Settings
from monitor.logs import get_logger
from monitor.models import utcnow
from monitor.slackapp.clicks import Click, clicks_in
from monitor.slackapp.effects import apply_click
from monitor.slackapp.respond import replace_message, tell_privately
from monitor.slackapp.updates import updated_blocks
from monitor.triage import ActionError

__all__ = ["Handled", "handle_payload", "handle_payload_logged"]

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Handled:
    """What came of one click: the act, whether it changed anything, whether the message
    was updated, and the line for the person."""

    click: Click
    act_id: int | None
    changed: bool
    updated: bool
    summary: str


def handle_payload(
    sessions: sessionmaker[Session],
    payload: object,
    *,
    settings: Settings,
    now: datetime | None = None,
) -> list[Handled]:
    """Apply every click of ours in *payload*, and show each in its message."""
    now = now or utcnow()
    handled = []
    for click in clicks_in(payload):
        try:
            with sessions() as session, session.begin():
                outcome = apply_click(session, click, now=now)
        except ActionError as exc:
            # A deleted hit, an act that no longer exists: one line, to that person only.
            log.warning("slack action refused", hit_id=click.value.hit_id, reason=str(exc))
            tell_privately(
                click, f"That could not be done: {slack_escape(str(exc))}", settings=settings
            )
            handled.append(Handled(click, None, False, False, str(exc)))
            continue
        log.info(
            "slack action",
            hit_id=click.value.hit_id,
            delivery_id=click.value.delivery_id,
            action=click.value.action,
            changed=outcome.changed,
        )
        updated = False
        if outcome.changed:
            blocks = updated_blocks(click, outcome.act_id, now=now)
            updated = replace_message(click, blocks, settings=settings)
        elif outcome.summary:
            # A second click, or a replay: nothing changed, and the person hears why.
            tell_privately(click, slack_escape(outcome.summary), settings=settings)
        handled.append(Handled(click, outcome.act_id, outcome.changed, updated, outcome.summary))
    return handled


def handle_payload_logged(
    sessions: sessionmaker[Session], payload: object, *, settings: Settings
) -> list[Handled]:
    """:func:`handle_payload` after Slack has had its answer: an error (the database gone a
    moment) is logged with its traceback and ends this payload only, never the process that
    serves the next one."""
    try:
        return handle_payload(sessions, payload, settings=settings)
    except Exception:
        log.exception("slack interaction failed")
        return []
