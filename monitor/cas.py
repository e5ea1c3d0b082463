"""Compare-and-set: change a row only while it is still as the caller saw it, and say so.

Every "only once" guarantee in monitor (one worker sends a delivery, polls a feed, matches an
article, holds the beat lease) is a conditional UPDATE whose WHERE clause names the state the
caller expects: the database changes the row for exactly one contender, and the others see
that no row changed and step back. The same statement works on SQLite and PostgreSQL, with no
lock that only one of them has.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

__all__ = ["claim_rows", "compare_and_set", "update_where"]


def update_where(
    session: Session, entity: type[Any], *conditions: ColumnElement[bool], **values: Any
) -> int:
    """``UPDATE entity SET values WHERE conditions``, around the ORM; the rows it changed.

    The session's loaded objects are not touched (``synchronize_session=False``): a caller
    that reads the row again asks for it with ``populate_existing`` or refreshes it."""
    result = session.execute(
        update(entity)
        .where(*conditions)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return int(cast(CursorResult[Any], result).rowcount)


def compare_and_set(
    session: Session, entity: type[Any], *conditions: ColumnElement[bool], **values: Any
) -> bool:
    """The same UPDATE, for one row: True when this caller changed it (and so won it)."""
    return update_where(session, entity, *conditions, **values) == 1


def claim_rows(
    session: Session,
    entity: type[Any],
    key: Any,
    *conditions: ColumnElement[bool],
    **values: Any,
) -> list[Any]:
    """The same UPDATE for many rows at once, returning *key* of each row this caller changed
    (and so won): a batch claimed in one statement, each row still won by one contender only."""
    result = session.execute(
        update(entity)
        .where(*conditions)
        .values(**values)
        .returning(key)
        .execution_options(synchronize_session=False)
    )
    return list(result.scalars())
