"""The dashboard's triage forms: a hit page's actions and undo, and the confirmation page that
an email's signed action link opens.

Hit page actions are writes, so each POST needs ``MONITOR_DASHBOARD_WRITES``, a signed CSRF
token (``csrf.valid``; the access guard has refused other origins already), and a person who
signed in whenever the dashboard listens beyond loopback: the name a person signs in with
(``MONITOR_DASHBOARD_USERS``) is who the act records. Each form carries a nonce, the act's
idempotency key, so a double click acts once.

An email link (``/act/<token>``, :mod:`monitor.triage.links`) is its own credential for one
action on one hit, so the access guard lets it through without a sign-in. A GET only shows
what it would do, because mail scanners fetch every link; the page's POST (with its CSRF
token) acts, once, and offers the undo.
"""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from monitor.dashboard import csrf
from monitor.dashboard.deps import Dashboard, DashboardDep, principal, row_id_or_404, templates
from monitor.dashboard.security import OPEN, TOKEN_HOLDER, is_loopback
from monitor.destinations import parse_destination
from monitor.models import Delivery, Hit, HitAction, utcnow
from monitor.triage import Action, ActionError, ActionRequest, apply_action, undo_action
from monitor.triage.history import hit_destinations
from monitor.triage.links import LinkClaim, LinkError, read_token

__all__ = ["ACTIONS", "form_nonce", "router", "who_is"]

router = APIRouter(include_in_schema=False)

#: The buttons of a hit page and of an email, in order.
ACTIONS = tuple((action.value, action.label) for action in Action)


def form_nonce() -> str:
    """A fresh idempotency key for one rendering of a form."""
    return secrets.token_urlsafe(12)


def who_is(request: Request) -> str:
    """The name an act records for this request's person: the signed-in user's name, else
    what the access guard knows them as."""
    who = principal(request)
    if who.startswith("user:"):
        return who.removeprefix("user:")
    return {TOKEN_HOLDER: "dashboard token holder", OPEN: "local user"}.get(who, who)


def _writer(request: Request, dashboard: Dashboard, token: str) -> str:
    settings = dashboard.settings
    if not settings.dashboard_writes:
        raise HTTPException(403, "the dashboard is read-only (MONITOR_DASHBOARD_WRITES)")
    if principal(request) == OPEN and not is_loopback(settings.dashboard_host):
        raise HTTPException(403, "sign in to act on hits (MONITOR_DASHBOARD_USERS)")
    if not csrf.valid(request, token, dashboard.key, principal(request)):
        raise HTTPException(403, "CSRF check failed: reload the page and try again")
    return who_is(request)


@router.post("/hits/{hit_id}/actions")
def act_on_hit(
    request: Request,
    dashboard: DashboardDep,
    hit_id: int,
    action: str = Form(...),
    nonce: str = Form(""),
    destination: str = Form(""),
    token: str = Form("", alias="csrf"),
) -> Response:
    who = _writer(request, dashboard, token)
    row_id_or_404(hit_id, "hit")
    with dashboard.sessions() as session:
        if session.get(Hit, hit_id) is None:
            raise HTTPException(404, "no such hit")
        # A snooze holds one of the destinations the hit's alerts went to, or all of them.
        if destination and destination not in hit_destinations(session, hit_id):
            raise HTTPException(400, "destination: not one this hit's alerts went to")
        try:
            request_ = ActionRequest(
                hit_id,
                Action(action),
                who,
                "dashboard",
                key=f"{nonce}:{action}:{destination}" if nonce else None,
                destination=destination or None,
            )
            outcome = apply_action(session, request_)
        except (ValueError, ActionError) as exc:
            raise HTTPException(400, f"action: {exc}") from None
        session.commit()
    return RedirectResponse(f"/hits/{hit_id}?act={outcome.act_id}", status_code=303)


@router.post("/actions/{act_id}/undo")
def undo(
    request: Request, dashboard: DashboardDep, act_id: int, token: str = Form("", alias="csrf")
) -> Response:
    who = _writer(request, dashboard, token)
    row_id_or_404(act_id, "action")
    with dashboard.sessions() as session:
        try:
            outcome = undo_action(session, act_id, who=who)
        except ActionError:
            raise HTTPException(404, "no such action") from None
        act = session.get(HitAction, act_id)
        hit_id = act.hit_id if act is not None else 0
        session.commit()
    return RedirectResponse(f"/hits/{hit_id}?act={outcome.act_id}", status_code=303)


# -- email links ------------------------------------------------------------------------


def _claim(dashboard: Dashboard, token: str) -> LinkClaim:
    try:
        return read_token(dashboard.key, token, now=utcnow())
    except LinkError as exc:
        # Gone for an expired link (it was good once), forbidden for anything else.
        status = 410 if "expired" in str(exc) else 403
        raise HTTPException(status, str(exc)) from None


def _link_page(
    request: Request,
    dashboard: Dashboard,
    token: str,
    claim: LinkClaim,
    *,
    outcome: str | None = None,
    undoable: bool = False,
) -> HTMLResponse:
    with dashboard.sessions() as session:
        hit = session.get(Hit, claim.hit_id)
        if hit is None:
            raise HTTPException(404, "the hit this link is about was deleted")
        done = session.query(HitAction).filter(HitAction.key == _link_key(claim)).first()
        context: dict[str, Any] = {
            "writes": dashboard.settings.dashboard_writes,
            "token": token,
            "hit": {
                "id": hit.id,
                "title": hit.article.title or hit.article.url or "(untitled)",
                "watchlist": hit.watchlist_id,
            },
            "action": Action(claim.action).label,
            "expires_at": claim.expires_at,
            "outcome": outcome or (str(done.detail.get("summary", "")) if done else None),
            "undoable": undoable or bool(done and done.changed and done.undone_at is None),
        }
    page_token = csrf.issue(request, dashboard.key, principal(request))
    context["csrf"] = page_token
    response = templates.TemplateResponse(request, "confirm.html", context)
    csrf.set_cookie(response, request, page_token)
    return response


def _link_key(claim: LinkClaim) -> str:
    # apply_action's own form of an email act's key: one act per link.
    return f"email:{claim.signature}"


def _checked(request: Request, dashboard: Dashboard, token: str, form_token: str) -> LinkClaim:
    claim = _claim(dashboard, token)
    if not csrf.valid(request, form_token, dashboard.key, principal(request)):
        raise HTTPException(403, "CSRF check failed: open the link again and confirm")
    return claim


def _recipients(dashboard: Dashboard, delivery_id: int | None) -> str:
    """Who an email link speaks for: the addresses the email went to."""
    if delivery_id is None:
        return "an email reader"
    with dashboard.sessions() as session:
        delivery = session.get(Delivery, delivery_id)
        destination = delivery.destination if delivery is not None else None
    try:
        addresses = parse_destination(destination).email if destination else None
    except ValueError:
        addresses = None
    return ", ".join(addresses or []) or "an email reader"


@router.get("/act/{token}", response_class=HTMLResponse)
def confirm_link(request: Request, dashboard: DashboardDep, token: str) -> HTMLResponse:
    return _link_page(request, dashboard, token, _claim(dashboard, token))


@router.post("/act/{token}", response_class=HTMLResponse)
def use_link(
    request: Request, dashboard: DashboardDep, token: str, form_token: str = Form("", alias="csrf")
) -> HTMLResponse:
    claim = _checked(request, dashboard, token, form_token)
    who = principal(request)
    name = who_is(request) if who.startswith("user:") else _recipients(dashboard, claim.delivery_id)
    with dashboard.sessions() as session:
        try:
            outcome = apply_action(
                session,
                ActionRequest(
                    claim.hit_id,
                    claim.action,
                    name,
                    "email",
                    destination_id=claim.delivery_id,
                    key=claim.signature,
                ),
            )
        except ActionError as exc:
            raise HTTPException(404, str(exc)) from None
        session.commit()
    return _link_page(request, dashboard, token, claim, outcome=outcome.summary)


@router.post("/act/{token}/undo", response_class=HTMLResponse)
def undo_link(
    request: Request, dashboard: DashboardDep, token: str, form_token: str = Form("", alias="csrf")
) -> HTMLResponse:
    claim = _checked(request, dashboard, token, form_token)
    with dashboard.sessions() as session:
        act = session.query(HitAction).filter(HitAction.key == _link_key(claim)).first()
        if act is None:
            raise HTTPException(404, "this link has not been used: there is nothing to undo")
        who = principal(request)
        name = (
            who_is(request)
            if who.startswith("user:")
            else _recipients(dashboard, claim.delivery_id)
        )
        outcome = undo_action(session, act.id, who=name)
        session.commit()
    return _link_page(request, dashboard, token, claim, outcome=outcome.summary)
