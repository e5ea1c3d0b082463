"""A state row of the trends tables, made on first use: one per watchlist or feed.

Two checks running at once may both find it missing; the second insert collides with the
first's primary key, and both go on with the one row.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

__all__ = ["state_row"]

Row = TypeVar("Row")


def state_row(session: Session, model: type[Row], primary_key: Any, **create: Any) -> Row:
    """The row of *model* whose primary key is *primary_key*, inserted with *create* if
    missing."""
    row = session.get(model, primary_key)
    if row is not None:
        return row
    try:
        with session.begin_nested():
            session.add(model(**create))
    except IntegrityError:
        pass  # another check made it a moment ago
    return session.get_one(model, primary_key)
