"""Triage: what a person does to a hit where its alert lands, and what that changes.

A person labels a hit relevant or not, mutes its story for the watchlist, or snoozes the
watchlist's alerts for an hour, a day or a week, from Slack, an email link or the dashboard.
Each such request goes through :func:`apply_action`, whatever its transport, and can be taken
back with :func:`undo_action`. The transports (Slack, signed email links, dashboard forms) only
authenticate the person and build an :class:`ActionRequest`.

- :mod:`~monitor.triage.actions`: the requests, their log and idempotency, undo;
- :mod:`~monitor.triage.labels`: a label on a hit;
- :mod:`~monitor.triage.mutes`: a story muted for a watchlist, and the alerts it holds back;
- :mod:`~monitor.triage.snoozes`: a watchlist snoozed at a destination.
"""

from monitor.triage.actions import (
    Action,
    ActionError,
    ActionOutcome,
    ActionRequest,
    apply_action,
    undo_action,
)

__all__ = [
    "Action",
    "ActionError",
    "ActionOutcome",
    "ActionRequest",
    "apply_action",
    "undo_action",
]
