"""WebSub with real processes: celery worker and beat on Redis + PostgreSQL subscribe to the
hub a feed names, the dashboard process answers the hub, and a signed push is alerted in
Slack at once, with no poll in between."""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from monitor.models import Feed, WebSubSubscription
from tests.conftest import need
from tests.pipeline.harness import Stack, postgres_available, redis_available, redis_url
from tests.support.websub_hub import WebSubHub

REDIS_DB = 11


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def hub() -> Iterator[WebSubHub]:
    with WebSubHub() as standin:
        yield standin


@pytest.fixture
def stack(tmp_path: Path, hub: WebSubHub) -> Iterator[Stack]:
    need(redis_available(redis_url(REDIS_DB)), f"Redis not reachable at {redis_url(REDIS_DB)}")
    need(postgres_available(), "PostgreSQL not reachable")
    port = _free_port()
    env = {
        "MONITOR_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "MONITOR_DASHBOARD_PORT": port,
        "MONITOR_BEAT_WEBSUB_SECONDS": 1,
    }
    built = Stack.redis(tmp_path, redis_db=REDIS_DB, env=env)
    built.feed_server.hub = hub.url
    try:
        yield built
    finally:
        built.close()


@pytest.mark.slow
@pytest.mark.redis
@pytest.mark.postgres
def test_a_pushed_item_is_alerted_at_once_while_polling_falls_back(
    stack: Stack, hub: WebSubHub
) -> None:
    stack.upgrade()
    dashboard = stack.start("dashboard", [sys.executable, "-m", "monitor.dashboard"])
    stack.worker("w1", concurrency=2)
    stack.beat().wait_for("beat lease taken", 60)
    name = stack.feed_names[0]
    topic = stack.feed_server.url(name)

    # The first poll finds the hub; the beat's tick subscribes; the dashboard verifies.
    stack.wait_until(lambda: _state(stack) in ("pending", "active"), 90, "a subscription request")
    sub = hub.wait_for_subscription(topic)
    assert sub.verified, dashboard.output()[-2000:]
    stack.wait_until(lambda: _state(stack) == "active", 30, "the subscription to be active")
    # The feed is now polled every MONITOR_WEBSUB_POLL_INTERVAL (1 h), not every 10 s.
    stack.wait_until(lambda: _due_in(stack) > 3000, 30, "the slower fallback schedule")
    polls = stack.feed_server.requests[f"/feeds/{name}.xml"]

    marker = f"push-{time.time_ns()}"
    stack.feed_server.publish(name, f"Blackout across Lagos {marker}", "Grid down.")
    started = time.monotonic()
    answer = hub.publish(sub, stack.feed_server.render(name))
    assert answer.status_code == 202

    took = stack.wait_until(lambda: stack.posts_for(marker) >= 1, 30, f"the alert for {marker}")
    print(f"\npush -> Slack: {took:.2f}s (answer {time.monotonic() - started:.2f}s ago)")
    assert stack.feed_server.requests[f"/feeds/{name}.xml"] == polls  # no poll carried it
    assert stack.posts_for(marker) == 1

    # A forged push is answered 2xx and changes nothing.
    forged = f"forged-{time.time_ns()}"
    stack.feed_server.publish(name, f"Blackout forged {forged}", "")
    assert hub.publish(sub, stack.feed_server.render(name), secret="guess").is_success
    time.sleep(3)
    assert stack.posts_for(forged) == 0
    with stack.engine.connect() as connection:
        row = connection.execute(select(WebSubSubscription.rejected_pushes)).scalar_one()
    assert row == 1


def _state(stack: Stack) -> str | None:
    with stack.engine.connect() as connection:
        value = connection.execute(select(WebSubSubscription.state)).scalar()
    return None if value is None else str(value)


def _due_in(stack: Stack) -> float:
    with stack.engine.connect() as connection:
        due = connection.execute(select(Feed.next_poll_at)).scalar()
    if due is None:
        return 0.0
    due = due if due.tzinfo else due.replace(tzinfo=UTC)
    return (due - datetime.now(UTC)).total_seconds()
