"""The outbox on both databases: writing hits and deliveries, claiming, retrying, recovering."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.alerts.channels import CHANNELS
from monitor.alerts.message import DeliveryError
from monitor.alerts.record import record_hits
from monitor.alerts.send import backoff_seconds, deliver
from monitor.alerts.sweep import SEND_TIMEOUT, due_delivery_ids, retry_deliveries
from monitor.config import Settings
from monitor.destinations import parse_destinations
from monitor.models import Delivery, DeliveryHit, Destination, Hit
from tests.alerts.conftest import NOW, Result, World, alerts


def delivery(session: Session, delivery_id: int) -> Delivery:
    return session.execute(
        select(Delivery).where(Delivery.id == delivery_id).execution_options(populate_existing=True)
    ).scalar_one()


class Script:
    """A channel that answers from a list: SendResult-ish ids, or errors to raise."""

    def __init__(self, *answers: object) -> None:
        self.answers = list(answers)
        self.calls = 0

    def __call__(self, message: object, destination: object, *, settings: Settings) -> object:
        from monitor.alerts.message import SendResult

        self.calls += 1
        answer = self.answers.pop(0) if self.answers else "ok"
        if isinstance(answer, Exception):
            raise answer
        return SendResult(provider_message_id=f"id-{self.calls}")


@pytest.fixture
def script(monkeypatch: pytest.MonkeyPatch) -> Script:
    fake = Script()
    monkeypatch.setitem(CHANNELS, "console", fake)
    return fake


def test_it_writes_a_hit_with_its_reasons_and_one_delivery_per_destination(
    session: Session, settings: Settings, world: World
) -> None:
    spec = world.watchlist("floods", alerts=alerts("slack:#desk", "email:b@x.org,a@x.org"))
    article = world.article()
    ids = world.hit(spec, article, settings=settings)
    session.commit()
    hit = session.scalars(select(Hit)).one()
    assert (hit.matched, hit.fields, hit.explanation) == (
        ["flood"],
        ["title"],
        {"title": ["flood"]},
    )
    assert hit.snippet.startswith("Heavy flood") and hit.highlights == [[6, 11]]
    rows = [delivery(session, i) for i in ids]
    assert sorted(r.destination for r in rows) == ["email:a@x.org,b@x.org", "slack:#desk"]
    assert {r.status for r in rows} == {"pending"} and {r.next_attempt_at for r in rows} == {NOW}
    assert len({r.dedupe_key for r in rows}) == 2
    links = session.scalars(select(DeliveryHit)).all()
    assert {(link.delivery_id, link.hit_id) for link in links} == {(i, hit.id) for i in ids}
    assert session.get(Destination, "slack:#desk").channel == "slack"  # type: ignore[union-attr]


def test_it_records_an_article_once_however_often_it_is_redelivered(
    session: Session, settings: Settings, world: World
) -> None:
    spec = world.watchlist("floods")
    article = world.article()
    first = world.hit(spec, article, settings=settings)
    again = world.hit(spec, article, settings=settings)
    session.commit()
    assert len(first) == 1 and again == []
    assert session.scalar(select(func.count(Hit.id))) == 1
    assert session.scalar(select(func.count(Delivery.id))) == 1


@pytest.mark.parametrize(
    ("default_alerts", "expected"),
    [
        ("", ["console"]),
        ("slack:#news", ["slack:#news"]),
        (
            "slack:#news,email:a@x.org,b@y.org,console",
            ["console", "email:a@x.org,b@y.org", "slack:#news"],
        ),
    ],
    ids=["nothing-configured", "one-default", "several-defaults"],
)
def test_it_falls_back_to_the_default_destinations_then_the_console(
    session: Session,
    world: World,
    tmp_path: object,
    settings: Settings,
    default_alerts: str,
    expected: list[str],
) -> None:
    configured = settings.model_copy(update={"default_alerts": default_alerts})
    spec = world.watchlist("floods")
    ids = world.hit(spec, settings=configured)
    assert sorted(delivery(session, i).destination for i in ids) == expected


def test_it_refuses_an_unknown_default_destination() -> None:
    with pytest.raises(ValueError, match="unknown destination"):
        parse_destinations("pager:duty")


def test_it_lets_only_one_worker_claim_a_delivery(
    session: Session, settings: Settings, world: World, script: Script
) -> None:
    spec = world.watchlist("floods")
    [delivery_id] = world.hit(spec, settings=settings)
    session.commit()
    first = deliver(session, delivery_id, settings=settings, now=NOW)
    second = deliver(session, delivery_id, settings=settings, now=NOW)
    assert first.sent and first.claimed and first.provider_message_id == "id-1"
    assert not second.claimed and second.status == "sent"
    assert script.calls == 1
    row = delivery(session, delivery_id)
    assert (row.attempts, row.sent_at, row.claim_token) == (1, NOW, None)


def test_it_retries_transient_failures_with_growing_jittered_backoff_then_gives_up(
    session: Session, settings: Settings, world: World, script: Script
) -> None:
    settings = settings.model_copy(
        update={"delivery_max_attempts": 4, "delivery_backoff_base": 10.0}
    )
    script.answers = [DeliveryError("Slack server error 500", permanent=False)] * 4
    spec = world.watchlist("floods")
    [delivery_id] = world.hit(spec, settings=settings)
    session.commit()
    now, waits = NOW, []
    for _ in range(3):
        outcome = deliver(session, delivery_id, settings=settings, now=now)
        assert outcome.status == "retrying" and outcome.next_attempt_at is not None
        # Not due before its time: a second call now sends nothing.
        assert not deliver(session, delivery_id, settings=settings, now=now).claimed
        waits.append((outcome.next_attempt_at - now).total_seconds())
        now = outcome.next_attempt_at
    assert 5 <= waits[0] <= 10 and 10 <= waits[1] <= 20 and 20 <= waits[2] <= 40
    final = deliver(session, delivery_id, settings=settings, now=now)
    assert final.status == "failed" and final.attempts == 4
    assert final.error == "gave up after 4 attempts: Slack server error 500"
    # Running out of attempts is not the destination's fault: it stays usable.
    assert session.get(Destination, "console").failed_at is None  # type: ignore[union-attr]


def test_it_caps_and_jitters_the_backoff(settings: Settings) -> None:
    rng = random.Random(1)
    waits = [backoff_seconds(n, settings, rng=rng) for n in range(1, 20)]
    assert all(w <= settings.delivery_backoff_cap for w in waits)
    assert waits[-1] >= settings.delivery_backoff_cap / 2
    assert len({round(w, 3) for w in waits[-5:]}) == 5  # jittered, not in lockstep


def test_it_waits_exactly_as_long_as_retry_after_says(
    session: Session, settings: Settings, world: World, script: Script
) -> None:
    script.answers = [DeliveryError("rate limited", permanent=False, retry_after=42)]
    spec = world.watchlist("floods")
    [delivery_id] = world.hit(spec, settings=settings)
    session.commit()
    outcome = deliver(session, delivery_id, settings=settings, now=NOW)
    assert outcome.next_attempt_at == NOW + timedelta(seconds=42)
    assert not deliver(
        session, delivery_id, settings=settings, now=NOW + timedelta(seconds=41)
    ).claimed
    assert deliver(session, delivery_id, settings=settings, now=NOW + timedelta(seconds=42)).sent


def test_it_fails_a_permanent_error_at_once_and_flags_the_destination_until_cleared(
    session: Session, settings: Settings, world: World, script: Script
) -> None:
    script.answers = [DeliveryError("Slack refused: channel_not_found", permanent=True)]
    spec = world.watchlist("floods")
    first = world.hit(spec, settings=settings)
    second = world.hit(spec, "Another flood", settings=settings)
    session.commit()
    outcome = deliver(session, first[0], settings=settings, now=NOW)
    assert (outcome.status, outcome.attempts) == ("failed", 1)
    destination = session.get(Destination, "console")
    assert destination is not None
    session.refresh(destination)
    assert destination.failed_at == NOW and "channel_not_found" in str(destination.last_error)
    # The next delivery to the broken destination fails without trying.
    fast = deliver(session, second[0], settings=settings, now=NOW)
    assert fast.status == "failed" and "flagged" in str(fast.error) and script.calls == 1

    assert retry_deliveries(session, failed=True, now=NOW) == 2
    session.commit()
    session.refresh(destination)
    assert destination.failed_at is None
    assert due_delivery_ids(session, now=NOW) == sorted([first[0], second[0]])
    assert deliver(session, first[0], settings=settings, now=NOW).sent
    assert deliver(session, second[0], settings=settings, now=NOW).sent


def test_it_retries_only_the_given_ids(
    session: Session, settings: Settings, world: World, script: Script
) -> None:
    script.answers = [DeliveryError("bad message", permanent=True, destination_broken=False)] * 2
    spec = world.watchlist("floods")
    ids = [world.hit(spec, f"Flood {n}", settings=settings)[0] for n in range(2)]
    session.commit()
    for delivery_id in ids:
        assert deliver(session, delivery_id, settings=settings, now=NOW).status == "failed"
    assert retry_deliveries(session, [ids[1]], now=NOW) == 1
    session.commit()
    assert [delivery(session, i).status for i in ids] == ["failed", "pending"]
    assert retry_deliveries(session) == 0


def test_it_recovers_the_claim_of_a_worker_that_died_while_sending(
    session: Session, settings: Settings, world: World, script: Script
) -> None:
    spec = world.watchlist("floods")
    [delivery_id] = world.hit(spec, settings=settings)
    session.commit()
    # A worker claims it and dies before recording anything.
    row = delivery(session, delivery_id)
    row.status, row.claim_token, row.claimed_at, row.attempts = "sending", "dead", NOW, 1
    session.commit()
    assert due_delivery_ids(session, now=NOW + SEND_TIMEOUT - timedelta(seconds=1)) == []
    later = NOW + SEND_TIMEOUT + timedelta(seconds=1)
    assert due_delivery_ids(session, now=later) == [delivery_id]
    session.commit()
    row = delivery(session, delivery_id)
    assert row.status == "retrying" and "may have gone out once" in str(row.last_error)
    outcome = deliver(session, delivery_id, settings=settings, now=later)
    assert outcome.sent and outcome.attempts == 2 and script.calls == 1


def test_it_turns_a_bug_in_a_channel_into_a_retry(
    session: Session, settings: Settings, world: World, script: Script
) -> None:
    script.answers = [KeyError("boom")]
    spec = world.watchlist("floods")
    [delivery_id] = world.hit(spec, settings=settings)
    session.commit()
    outcome = deliver(session, delivery_id, settings=settings, now=NOW)
    assert outcome.status == "retrying" and "internal error" in str(outcome.error)


def test_it_sends_to_the_console_by_default(
    session: Session,
    settings: Settings,
    world: World,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from monitor.logs import configure_logging

    configure_logging(level="INFO")
    spec = world.watchlist("floods")
    [delivery_id] = world.hit(spec, "<!channel> Flood", settings=settings)
    session.commit()
    assert deliver(session, delivery_id, settings=settings, now=NOW).sent
    err = capsys.readouterr().err
    assert (
        "ALERT [Floods] <!channel> Flood (Daily Wire)" in err
        and f"delivery_id={delivery_id}" in err
    )


def test_it_takes_the_real_match_results_and_watchlist_specs(
    session: Session, settings: Settings, world: World
) -> None:
    from monitor.matching import MatchResult
    from monitor.watchlists import WatchlistSpec

    world.watchlist("floods")
    spec = WatchlistSpec.model_validate(
        {
            "id": "floods",
            "name": "Floods",
            "query": "flood",
            "throttle": "5/hour",
            "escalate_at": 3,
            "alerts": [{"slack": "#desk"}, {"email": ["a@example.org"], "digest": "hourly"}],
        }
    )
    result = MatchResult(
        watchlist_id="floods",
        matched=("flood",),
        fields=("title",),
        explanation={"title": ["flood"]},
        snippet="A flood.",
        highlights=((2, 7),),
    )
    ids = record_hits(
        session, world.article(), [result], watchlists={"floods": spec}, settings=settings, now=NOW
    )
    session.commit()
    assert [delivery(session, i).destination for i in ids] == ["slack:#desk"]
    assert session.scalar(select(func.count(Delivery.id))) == 2


def test_it_does_not_hide_a_hit_for_an_unknown_watchlist(
    session: Session, settings: Settings, world: World
) -> None:
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError):
        record_hits(
            session,
            world.article(),
            [Result("not-synced")],
            watchlists={},
            settings=settings,
            now=NOW,
        )


def test_it_writes_hits_and_deliveries_in_the_callers_transaction_only(
    session: Session, settings: Settings, world: World
) -> None:
    from sqlalchemy.exc import IntegrityError

    floods = world.watchlist("floods", alerts=alerts("slack:#desk", "email:a@example.org"))
    article = world.article()
    session.commit()
    # The second result fails after the first hit and its deliveries were written: nothing
    # was committed on the way, so the caller's rollback takes all of it back.
    with pytest.raises(IntegrityError):
        record_hits(
            session,
            article,
            [Result("floods"), Result("not-synced")],
            watchlists={"floods": floods},
            settings=settings,
            now=NOW,
        )
    session.rollback()
    assert session.scalar(select(func.count(Hit.id))) == 0
    assert session.scalar(select(func.count(Delivery.id))) == 0
    assert session.scalar(select(func.count()).select_from(DeliveryHit)) == 0


def test_it_sends_once_when_workers_race_for_the_same_delivery(
    session: Session, settings: Settings, world: World, script: Script
) -> None:
    import threading

    from monitor import db as storage

    spec = world.watchlist("floods")
    [delivery_id] = world.hit(spec, settings=settings)
    session.commit()
    start = threading.Barrier(4)
    outcomes = []

    def worker() -> None:
        with storage.sessionmaker_for(settings)() as own:
            start.wait()
            outcomes.append(deliver(own, delivery_id, settings=settings, now=NOW))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert script.calls == 1
    assert sorted(o.claimed for o in outcomes) == [False, False, False, True]
    assert delivery(session, delivery_id).status == "sent"


def test_it_refuses_a_destination_whose_key_would_not_fit() -> None:
    from monitor.destinations import AlertSpec

    addresses = [f"reporter{n:03d}@newsroom.example.org" for n in range(12)]
    with pytest.raises(ValueError, match="split the addresses"):
        AlertSpec(email=addresses)
    assert AlertSpec(email=addresses[:6]).key.startswith("email:reporter000@")


def test_it_keeps_a_console_alert_on_one_log_line(
    session: Session, settings: Settings, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    from monitor.logs import configure_logging

    configure_logging(level="INFO")
    spec = world.watchlist("floods")
    title = "Flood\n2026-03-02 09:15:00 [error    ] database wiped"
    [delivery_id] = world.hit(spec, title, settings=settings)
    session.commit()
    assert deliver(session, delivery_id, settings=settings, now=NOW).sent
    err = capsys.readouterr().err.splitlines()
    assert not any(line.startswith("2026-03-02 09:15:00 [error") for line in err)
    lines = [line for line in err if "ALERT" in line]
    assert len(lines) == 1 and "database wiped" in lines[0]
    assert "snippet='Heavy *flood* hits Lagos" in lines[0]


def test_it_counts_hits_and_delivery_outcomes_in_the_metrics(
    session: Session, settings: Settings, world: World, script: Script
) -> None:
    from prometheus_client import REGISTRY

    def value(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    hits, sent, retrying = (
        value("monitor_hits_total", watchlist="metrics"),
        value("monitor_deliveries_total", channel="console", outcome="sent"),
        value("monitor_deliveries_total", channel="console", outcome="retrying"),
    )
    script.answers = [DeliveryError("busy", permanent=False)]
    spec = world.watchlist("metrics")
    [delivery_id] = world.hit(spec, settings=settings)
    session.commit()
    outcome = deliver(session, delivery_id, settings=settings, now=NOW)
    deliver(session, delivery_id, settings=settings, now=outcome.next_attempt_at)
    assert value("monitor_hits_total", watchlist="metrics") == hits + 1
    assert value("monitor_deliveries_total", channel="console", outcome="sent") == sent + 1
    assert value("monitor_deliveries_total", channel="console", outcome="retrying") == retrying + 1
