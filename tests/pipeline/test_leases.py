"""The named lease that keeps one beat scheduling, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from monitor import leases

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
TTL = timedelta(seconds=30)


def test_it_gives_a_free_lease_to_the_first_asker(session: Session) -> None:
    assert leases.acquire(session, "beat", "a", ttl=TTL, now=T0)
    session.commit()
    assert leases.lease_holder(session, "beat", now=T0) == "a"


def test_it_refuses_a_held_lease_to_another_holder(session: Session) -> None:
    assert leases.acquire(session, "beat", "a", ttl=TTL, now=T0)
    session.commit()
    assert not leases.acquire(session, "beat", "b", ttl=TTL, now=T0 + timedelta(seconds=29))
    session.commit()
    assert leases.lease_holder(session, "beat", now=T0) == "a"


def test_it_lets_the_holder_renew(session: Session) -> None:
    assert leases.acquire(session, "beat", "a", ttl=TTL, now=T0)
    assert leases.renew(session, "beat", "a", ttl=TTL, now=T0 + timedelta(seconds=20))
    session.commit()
    # Renewed at +20s, so still held at +45s.
    assert not leases.acquire(session, "beat", "b", ttl=TTL, now=T0 + timedelta(seconds=45))


def test_it_hands_an_expired_lease_over(session: Session) -> None:
    assert leases.acquire(session, "beat", "a", ttl=TTL, now=T0)
    session.commit()
    later = T0 + timedelta(seconds=31)
    assert leases.lease_holder(session, "beat", now=later) is None
    assert leases.acquire(session, "beat", "b", ttl=TTL, now=later)
    session.commit()
    # The old holder, back from a pause, finds it gone and must not think it still has it.
    assert not leases.renew(session, "beat", "a", ttl=TTL, now=later)


def test_it_frees_a_released_lease_at_once(session: Session) -> None:
    assert leases.acquire(session, "beat", "a", ttl=TTL, now=T0)
    assert not leases.release(session, "beat", "b")
    assert leases.release(session, "beat", "a")
    session.commit()
    assert leases.acquire(session, "beat", "b", ttl=TTL, now=T0)


@pytest.mark.parametrize("name", ["beat", "other"], ids=["same-name", "other-name"])
def test_it_keeps_leases_of_different_names_apart(session: Session, name: str) -> None:
    assert leases.acquire(session, "beat", "a", ttl=TTL, now=T0)
    session.commit()
    assert leases.acquire(session, name, "b", ttl=TTL, now=T0) is (name != "beat")


def test_it_picks_one_winner_when_two_sessions_race_for_a_new_lease(settings: object) -> None:
    from monitor.db import sessionmaker_for

    make = sessionmaker_for(settings)  # type: ignore[arg-type]
    with make() as first, make() as second:
        won_first = leases.acquire(first, "race", "a", ttl=TTL, now=T0)
        first.commit()
        won_second = leases.acquire(second, "race", "b", ttl=TTL, now=T0)
        second.commit()
    assert (won_first, won_second) == (True, False)


def test_it_names_holders_uniquely() -> None:
    assert leases.holder_id("beat") != leases.holder_id("beat")
    assert leases.holder_id("beat").startswith("beat@")
