"""Links from an alert back to the dashboard: a hit's page, and the hits list of a watchlist
and a period.

Only ``MONITOR_PUBLIC_URL`` says where people open the dashboard (a worker cannot know the
address a reverse proxy gives it), so without that setting there are no links and alerts say
nothing about the dashboard's address. The paths are the dashboard's own: ``/hits/{id}``, and
``/`` with the filters of its hits list (``watchlist``, ``range=custom``, ``from``, ``to``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

__all__ = ["hit_link", "hits_list_link"]


def hit_link(public_url: str | None, hit_id: int | None) -> str | None:
    """The hit's page, or None without a public URL (or a hit)."""
    if not public_url or hit_id is None:
        return None
    return f"{public_url}/hits/{int(hit_id)}"


def hits_list_link(
    public_url: str | None,
    *,
    watchlist_id: str | None = None,
    period: tuple[datetime, datetime] | None = None,
) -> str | None:
    """The hits list filtered to one watchlist (if given) and recorded in ``[start, end)`` (if
    given), or None without a public URL."""
    if not public_url:
        return None
    params: dict[str, str] = {}
    if watchlist_id:
        params["watchlist"] = watchlist_id
    if period is not None:
        params["range"] = "custom"
        params["from"] = _minute(period[0])
        params["to"] = _minute(period[1])
    return f"{public_url}/" + (f"?{urlencode(params)}" if params else "")


def _minute(moment: datetime) -> str:
    # The hits page's own 'from' and 'to' fields (datetime-local, read as UTC) take this form,
    # so the link opens with the period filled in.
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M")
    return text if moment.second == 0 else moment.strftime("%Y-%m-%dT%H:%M:%S")
