"""Signed action links for email alerts: a reader acts on a hit from the message itself.

An email cannot carry buttons that post anywhere, so each hit in an email alert carries one
link per action, to the dashboard's confirmation page (``/act/<token>``). The token names the
hit, the action, the delivery (the email) and when the link stops working, seven days after
the email was sent, and ends in an HMAC-SHA256 of all four under the server's secret
(:mod:`monitor.serverkey`): changing any part, or the signature, makes it worthless.

Opening the link (a GET) only shows what it would do; only the page's POST acts. Mail
scanners and link previewers fetch every link in a message, and must change nothing. A link
used twice acts once: its signature is the act's idempotency key.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from monitor.serverkey import sign
from monitor.triage.actions import Action

__all__ = ["LINK_LIFETIME", "LinkClaim", "LinkError", "action_links", "action_token", "read_token"]

LINK_LIFETIME = timedelta(days=7)
_PURPOSE = "email-action"
# The actions an email offers, in the order it lists them.
EMAIL_ACTIONS = tuple(Action)


class LinkError(ValueError):
    """A link that cannot be used: malformed, tampered with, or expired (the message says)."""


@dataclass(frozen=True, slots=True)
class LinkClaim:
    """What a valid link lets its holder do."""

    hit_id: int
    action: Action
    delivery_id: int | None
    expires_at: datetime
    signature: str


def _parts(hit_id: int, action: str, delivery_id: int | None, expires: int) -> tuple[str, ...]:
    return (str(hit_id), action, "-" if delivery_id is None else str(delivery_id), str(expires))


def action_token(
    key: bytes, *, hit_id: int, action: Action, delivery_id: int | None, now: datetime
) -> str:
    """The token of one link, good until :data:`LINK_LIFETIME` after *now*."""
    expires = int((now + LINK_LIFETIME).timestamp())
    parts = _parts(hit_id, Action(action), delivery_id, expires)
    return ".".join((*parts, sign(key, _PURPOSE, *parts)))


def read_token(key: bytes, token: str, *, now: datetime) -> LinkClaim:
    """What *token* allows, or :class:`LinkError` saying why it allows nothing. The signature
    is checked before anything else is believed, and compared in constant time."""
    pieces = token.split(".")
    if len(pieces) != 5:
        raise LinkError("this link is not one of ours: it may have been cut or changed")
    hit, action, delivery, expires, signature = pieces
    expected = sign(key, _PURPOSE, hit, action, delivery, expires)
    if not hmac.compare_digest(signature.encode(), expected.encode()):
        raise LinkError("this link has been changed, or was not made by this server")
    try:
        claim = LinkClaim(
            hit_id=int(hit),
            action=Action(action),
            delivery_id=None if delivery == "-" else int(delivery),
            expires_at=datetime.fromtimestamp(int(expires), UTC),
            signature=signature,
        )
    except ValueError:
        raise LinkError("this link is not one of ours: it may have been cut or changed") from None
    if now >= claim.expires_at:
        raise LinkError(
            f"this link expired on {claim.expires_at:%d %b %Y %H:%M} UTC (links work for "
            f"{LINK_LIFETIME.days} days): act on the hit from the dashboard instead"
        )
    return claim


def action_links(
    public_url: str, key: bytes, *, hit_id: int, delivery_id: int | None, now: datetime
) -> tuple[tuple[str, str], ...]:
    """(button text, URL) for every action on one hit of one email."""
    return tuple(
        (
            action.label,
            f"{public_url}/act/"
            + action_token(key, hit_id=hit_id, action=action, delivery_id=delivery_id, now=now),
        )
        for action in EMAIL_ACTIONS
    )
