"""A Slack click applied through ``monitor.triage``, the one way in for every transport.

The click's element value names the hit and the delivery (the alert message) it was on; the
delivery is where a snooze applies. Slack's ``action_ts`` (in :attr:`Click.key`) is the
idempotency key, so a replayed request finds its first act and changes nothing. Nothing here
commits: the caller's transaction holds the act.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from monitor.alerts.slack_actions import UNDO
from monitor.slackapp.clicks import Click
from monitor.triage import Action, ActionOutcome, ActionRequest, apply_action, undo_action

__all__ = ["VIA", "apply_click"]

VIA = "slack"


def apply_click(session: Session, click: Click, *, now: datetime) -> ActionOutcome:
    """Record *click*; raises ``monitor.triage.ActionError`` when it cannot be applied."""
    value = click.value
    if value.action == UNDO:
        assert value.act_id is not None  # parse_value refuses an Undo without it
        return undo_action(session, value.act_id, who=click.who, now=now)
    assert value.hit_id is not None  # parse_value refuses an action without it
    request = ActionRequest(
        hit_id=value.hit_id,
        action=Action(value.action),
        who=click.who,
        via=VIA,
        destination_id=value.delivery_id,
        key=click.key,
    )
    return apply_action(session, request, now=now)
