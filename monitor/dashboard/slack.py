"""``POST /slack/interactions``: Slack's requests for clicks on alerts, verified by the app's
signing secret, acknowledged at once, applied after.

This route is authenticated by Slack's signature, not by the dashboard's login or CSRF token
(Slack can do neither): ``security.AccessGuard`` lets it through only when
``MONITOR_SLACK_SIGNING_SECRET`` is set, and without it the route does not exist (404).
slack-sdk's ``SignatureVerifier`` checks ``X-Slack-Signature`` (``v0=`` HMAC-SHA256 of
``v0:{timestamp}:{body}``) over the raw body, and that ``X-Slack-Request-Timestamp`` is within
five minutes of now (https://api.slack.com/authentication/verifying-requests-from-slack);
either failing is a 401 that says nothing more. A replay of a good request within those five
minutes carries the same ``action_ts``, which ``monitor.triage`` records once.

Slack shows the person an error unless it gets a 200 within 3 seconds, so the answer is an
empty 200 sent before any work: the act is applied and the message updated in a background
task that runs once the response is out.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, BackgroundTasks, HTTPException, Request, Response
from slack_sdk.signature import SignatureVerifier

from monitor.dashboard.deps import DashboardDep
from monitor.dashboard.security import SLACK_INTERACTIONS
from monitor.logs import get_logger
from monitor.slackapp.handle import handle_payload_logged

__all__ = ["router"]

# Slack's interaction payloads are a few kilobytes; a message's blocks at most ~50 kB.
BODY_LIMIT = 1_000_000

router = APIRouter()
log = get_logger(__name__)


@router.post(SLACK_INTERACTIONS, include_in_schema=False)
async def interactions(
    request: Request, dashboard: DashboardDep, background: BackgroundTasks
) -> Response:
    settings = dashboard.settings
    if settings.slack_signing_secret is None:
        raise HTTPException(status_code=404)
    declared = request.headers.get("content-length", "0")
    if not declared.isdigit() or int(declared) > BODY_LIMIT:
        raise HTTPException(status_code=413)  # refused before reading it
    body = await request.body()
    if len(body) > BODY_LIMIT:
        raise HTTPException(status_code=413)
    verifier = SignatureVerifier(settings.slack_signing_secret.get_secret_value())
    timestamp = request.headers.get("x-slack-request-timestamp", "")
    if not (
        # SignatureVerifier calls int() on it: anything but digits would raise there.
        timestamp.isascii()
        and timestamp.isdigit()
        and len(timestamp) <= 12
        and verifier.is_valid(
            body=body, timestamp=timestamp, signature=request.headers.get("x-slack-signature")
        )
    ):
        log.warning("slack request refused", reason="bad signature or stale timestamp")
        return Response(status_code=401)
    payload = _payload(body)
    if payload is None:
        return Response(status_code=400)
    background.add_task(handle_payload_logged, dashboard.sessions, payload, settings=settings)
    return Response(status_code=200)


def _payload(body: bytes) -> dict[str, Any] | None:
    """The JSON in the form field ``payload``, or None when there is none."""
    try:
        fields = parse_qs(body.decode("utf-8"), max_num_fields=10)
        data = json.loads(fields["payload"][0])
    except (UnicodeDecodeError, KeyError, IndexError, ValueError):
        return None
    return data if isinstance(data, dict) else None
