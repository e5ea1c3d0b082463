"""Named, expiring leases taken by compare-and-set on the ``leases`` table.

A lease is how several processes agree that exactly one of them does a job at a time (today:
the beat that schedules work). It needs nothing but the database both sides already share, and
it works the same on SQLite and PostgreSQL because it is one conditional ``UPDATE`` or one
``INSERT`` guarded by the primary key, never a database-specific lock.

The holder renews its lease well before ``expires_at``; if it dies, the lease simply runs out
and the next process to ask takes it over. Each function commits nothing: the caller owns the
transaction and should commit right away, so the row is visible to the other contenders.
"""

from __future__ import annotations

import os
import secrets
import socket
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from monitor.cas import compare_and_set
from monitor.models import Lease, utcnow

__all__ = ["acquire", "holder_id", "lease_holder", "release", "renew"]


def holder_id(role: str = "process") -> str:
    """A name for this process that is unique across machines and restarts."""
    return f"{role}@{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def acquire(
    session: Session,
    name: str,
    holder: str,
    *,
    ttl: timedelta,
    now: datetime | None = None,
) -> bool:
    """Take or renew lease *name* for *holder* until ``now + ttl``; True if *holder* has it.

    The update succeeds when the lease is ours already or has run out; otherwise, when no row
    exists yet, the insert races the other contenders and the primary key picks one winner.
    """
    now = now or utcnow()
    expires_at = now + ttl
    taken = compare_and_set(
        session,
        Lease,
        Lease.name == name,
        (Lease.holder == holder) | (Lease.expires_at < now),
        holder=holder,
        expires_at=expires_at,
    )
    if taken:
        return True
    exists = session.execute(select(Lease.name).where(Lease.name == name)).first()
    if exists is not None:
        return False
    try:
        # A savepoint, so losing the race leaves the caller's transaction usable.
        with session.begin_nested():
            session.execute(insert(Lease).values(name=name, holder=holder, expires_at=expires_at))
    except IntegrityError:
        return False
    return True


def renew(
    session: Session, name: str, holder: str, *, ttl: timedelta, now: datetime | None = None
) -> bool:
    """Extend a lease we hold; False if it ran out and someone else took it meanwhile."""
    now = now or utcnow()
    if compare_and_set(
        session, Lease, Lease.name == name, Lease.holder == holder, expires_at=now + ttl
    ):
        return True
    # Nobody holds it at all (a fresh database, or it was released): take it.
    return acquire(session, name, holder, ttl=ttl, now=now)


def release(session: Session, name: str, holder: str) -> bool:
    """Give the lease up (on a clean shutdown), so a standby need not wait for it to expire."""
    released = session.execute(
        delete(Lease)
        .where(Lease.name == name, Lease.holder == holder)
        .execution_options(synchronize_session=False)
    )
    return bool(released.rowcount == 1)  # type: ignore[attr-defined]


def lease_holder(session: Session, name: str, *, now: datetime | None = None) -> str | None:
    """Who holds lease *name* now, or None if nobody does (or it has run out)."""
    now = now or utcnow()
    row = session.execute(
        select(Lease.holder).where(Lease.name == name, Lease.expires_at >= now)
    ).first()
    return None if row is None else str(row[0])
