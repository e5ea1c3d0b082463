"""Compare-and-set: of two contenders for one row, exactly one wins, on both databases."""

from __future__ import annotations

from sqlalchemy.orm import Session

from monitor.cas import claim_rows, compare_and_set, update_where
from monitor.models import Lease, utcnow


def test_it_lets_one_contender_win_a_row(session: Session) -> None:
    session.add(Lease(name="beat", holder="nobody", expires_at=utcnow()))
    session.commit()
    first = compare_and_set(
        session, Lease, Lease.name == "beat", Lease.holder == "nobody", holder="a"
    )
    second = compare_and_set(
        session, Lease, Lease.name == "beat", Lease.holder == "nobody", holder="b"
    )
    session.commit()
    assert (first, second) == (True, False)
    assert session.get(Lease, "beat", populate_existing=True).holder == "a"


def test_it_counts_the_rows_an_update_changed(session: Session) -> None:
    now = utcnow()
    session.add_all([Lease(name=n, holder="x", expires_at=now) for n in ("a", "b", "c")])
    session.commit()
    assert update_where(session, Lease, Lease.name.in_(["a", "b"]), holder="y") == 2
    assert update_where(session, Lease, Lease.name == "zzz", holder="y") == 0


def test_it_claims_a_batch_in_one_statement_and_each_row_once(session: Session) -> None:
    now = utcnow()
    session.add_all([Lease(name=n, holder="nobody", expires_at=now) for n in "abcd"])
    session.commit()
    first = claim_rows(
        session,
        Lease,
        Lease.name,
        Lease.name.in_(["a", "b", "c"]),
        Lease.holder == "nobody",
        holder="w1",
    )
    # A second contender asking for an overlapping batch gets only what nobody holds.
    second = claim_rows(
        session,
        Lease,
        Lease.name,
        Lease.name.in_(["b", "c", "d"]),
        Lease.holder == "nobody",
        holder="w2",
    )
    session.commit()
    assert (sorted(first), sorted(second)) == (["a", "b", "c"], ["d"])
