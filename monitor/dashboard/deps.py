"""What the dashboard's routes depend on: settings, database reads, hit filters and templates.

``create_app`` stores one :class:`Dashboard` in ``app.state``; routes receive it through
``Depends`` (:data:`DashboardDep`), so the router modules need nothing from ``create_app``'s
scope and can be read one by one.

Input that cannot name a row or that the database cannot take is refused before a query
runs: an id past 64 bits is a 404 (no such row can exist), a search text past
:data:`SEARCH_MAX_CHARS` a 400 (SQLite refuses a LIKE pattern past 50,000 bytes, and no
headline is that long).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Concatenate, ParamSpec, TypeVar

from fastapi import Depends, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.orm import Session, sessionmaker

from monitor import db as storage
from monitor.config import Settings
from monitor.dashboard import queries, rendering, signing

__all__ = [
    "SEARCH_MAX_CHARS",
    "Dashboard",
    "DashboardDep",
    "FiltersDep",
    "HitFilters",
    "get_dashboard",
    "hit_filters",
    "hit_or_404",
    "principal",
    "row_id_or_404",
    "templates",
]

P = ParamSpec("P")
T = TypeVar("T")

# The longest text the hits and watchlists searches take (the ``q`` parameter).
SEARCH_MAX_CHARS = 500

templates = Jinja2Templates(
    env=Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=select_autoescape(),
        # Every {{ value }} of every page passes here before it is escaped: bidi controls from
        # a feed must not reverse what follows them (rendering.readable).
        finalize=rendering.readable,
    )
)
templates.env.filters["highlight"] = rendering.marked_snippet
templates.env.filters["sparkline"] = rendering.sparkline
templates.env.filters["short"] = rendering.short_time


@dataclass(frozen=True)
class Dashboard:
    """The settings one app was made with, the sessions of its database, and the key that
    signs its CSRF tokens (``signing.server_key``)."""

    settings: Settings
    sessions: sessionmaker[Session]
    key: bytes = field(repr=False)

    @classmethod
    def for_settings(cls, settings: Settings) -> Dashboard:
        return cls(settings, storage.sessionmaker_for(settings), signing.server_key(settings))

    def read(
        self, query: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """``query(session, ...)`` in a session opened here and closed when it returns: the
        queries never open one themselves. A ValueError from a query is a cursor we did not
        make (``queries.decode_cursor``), so the answer is a 400."""
        with self.sessions() as session:
            try:
                return query(session, *args, **kwargs)
            except ValueError:
                raise HTTPException(400, "invalid cursor") from None


def get_dashboard(request: Request) -> Dashboard:
    """The :class:`Dashboard` that ``create_app`` stored for the app serving ``request``."""
    dashboard: Dashboard = request.app.state.dashboard
    return dashboard


DashboardDep = Annotated[Dashboard, Depends(get_dashboard)]


def principal(request: Request) -> str:
    """Who the access guard found the request to be (``security.authorised_as``)."""
    who: str = request.state.principal
    return who


def row_id_or_404(value: int, what: str) -> int:
    """*value* if a row could have it as id, else a 404: past the database's 64-bit integer
    the query itself would fail (a 500), and ids start at 1."""
    if not 0 < value < queries.ID_LIMIT:
        raise HTTPException(404, f"no such {what}")
    return value


def hit_or_404(dashboard: Dashboard, hit_id: int) -> dict[str, Any]:
    """One hit as ``queries.hit_detail`` gives it, or a 404."""
    row = dashboard.read(queries.hit_detail, row_id_or_404(hit_id, "hit"))
    if row is None:
        raise HTTPException(404, "no such hit")
    return row


@dataclass(frozen=True)
class HitFilters:
    """The hit filter of one request, and its non-empty parameters as they came (for links)."""

    hits: queries.HitFilter
    params: dict[str, str]


def _parse_time(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise HTTPException(400, f"{name}: expected an ISO date or time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def hit_filters(
    watchlist: str | None = Query(None, description="watchlist id"),
    feed: str | None = Query(None, description="source feed id"),
    range_: str | None = Query(None, alias="range", description="1h, 24h, 7d or custom"),
    since: str | None = Query(None, alias="from", description="custom range start (ISO 8601)"),
    until: str | None = Query(None, alias="to", description="custom range end (ISO 8601)"),
    q: str | None = Query(
        None, max_length=SEARCH_MAX_CHARS, description="text in the headline or snippet"
    ),
    alerted: str | None = Query(
        None, description="yes: hits that were alerted; no: hits recorded without an alert"
    ),
    sort: str | None = Query(None, description="time (newest first, the default) or score"),
    label: str | None = Query(
        None, description="relevant, not_relevant, or none (hits nobody has labelled)"
    ),
) -> HitFilters:
    """The filter parameters shared by the hits page, ``/api/hits`` and the export."""
    if range_ and range_ not in queries.RANGES and range_ != "custom":
        raise HTTPException(400, "range: expected 1h, 24h, 7d or custom")
    if alerted and alerted not in ("yes", "no"):
        raise HTTPException(400, "alerted: expected yes or no")
    if sort and sort not in queries.SORTS:
        raise HTTPException(400, "sort: expected time or score")
    if label and label not in queries.LABELS:
        raise HTTPException(400, "label: expected relevant, not_relevant or none")
    # Empty form fields arrive as '' and mean "any".
    # isdigit() alone admits '²' (int() refuses it), and a number past 64 bits overflows the
    # database's integer (past 4,300 digits int() refuses it too): all were a 500. Eighteen
    # digits always fit.
    if feed and not (feed.isascii() and feed.isdigit() and len(feed) <= 18):
        raise HTTPException(400, "feed: expected a feed id")
    given = {
        "watchlist": watchlist,
        "feed": feed,
        "range": range_,
        "from": since,
        "to": until,
        "q": q,
        "alerted": alerted,
        "sort": sort,
        "label": label,
    }
    return HitFilters(
        queries.HitFilter(
            watchlist=watchlist or None,
            feed=int(feed) if feed else None,
            range=range_ or None,
            since=_parse_time(since, "from"),
            until=_parse_time(until, "to"),
            q=(q or "").strip() or None,
            alerted={"yes": True, "no": False}.get(alerted or ""),
            sort=sort or "time",
            label=label or None,
        ),
        {k: v for k, v in given.items() if v},
    )


FiltersDep = Annotated[HitFilters, Depends(hit_filters)]


def bad_request(exc: RequestValidationError) -> JSONResponse:
    """A parameter the routes cannot take, as a 400 naming it in one line (FastAPI's default
    is a 422 with pydantic's list, which echoes the whole input: 50,000 characters of it)."""
    errors = exc.errors()
    first = errors[0] if errors else {}
    name = str((first.get("loc") or ("", "request"))[-1])
    message = str(first.get("msg") or "invalid request")
    return JSONResponse({"detail": f"{name}: {message}"}, status_code=400)
