"""The ``watchlists`` table: a mirror of the registry, so the dashboard shows what is in force.

The files are the source of truth; the table only repeats what the registry holds, with each
watchlist's ``load_error`` when its file is broken. Hits refer to its rows, so a row stays
when its watchlist goes.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.models import Watchlist
from monitor.watchlists.registry import WatchlistRegistry

__all__ = ["sync_watchlists"]


def sync_watchlists(
    session: Session, registry: WatchlistRegistry, *, now: datetime | None = None
) -> None:
    """Make the ``watchlists`` table show what is in force, and what is broken.

    The caller commits. A watchlist whose file disappeared stays (its hits refer to it) with
    ``in_files=False, enabled=False``.
    """
    now = now or datetime.now(UTC)
    rows = {row.id: row for row in session.scalars(select(Watchlist))}
    errors_by_path: dict[str, list[str]] = {}
    for error in registry.errors:
        errors_by_path.setdefault(error.path, []).append(str(error))
    seen: set[str] = set()
    for spec in registry.specs.values():
        row = rows.get(spec.id)
        if row is None:
            row = Watchlist(id=spec.id)
            session.add(row)
        if row.content_hash != spec.content_hash or row.definition != spec.model_dump(mode="json"):
            row.loaded_at = now
        row.name = spec.name
        row.description = spec.description
        row.query = spec.query
        row.path = spec.path
        row.content_hash = spec.content_hash
        row.enabled = spec.enabled
        row.definition = spec.model_dump(mode="json")
        lines = errors_by_path.get(spec.path)
        row.load_error = "\n".join(lines) if lines else None
        row.in_files = True
        seen.add(spec.id)
    # Broken files with nothing valid in force: still shown, under the ids they name.
    for path, (ids, errors) in registry.file_states().items():
        if not errors:
            continue
        for watchlist_id in ids:
            if watchlist_id in seen:
                continue
            row = rows.get(watchlist_id)
            if row is None:
                row = Watchlist(id=watchlist_id[:100], name=watchlist_id, query="", definition={})
                session.add(row)
                row.loaded_at = now
            row.path = path
            row.enabled = False
            row.in_files = True
            row.load_error = "\n".join(str(e) for e in errors)
            seen.add(watchlist_id)
    for watchlist_id, row in rows.items():
        if watchlist_id not in seen and (row.in_files or row.enabled):
            row.in_files = False
            row.enabled = False
    session.flush()
