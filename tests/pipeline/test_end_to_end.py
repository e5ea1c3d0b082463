"""End to end with real processes: a feed publishes, a hit is stored, Slack gets the alert.

Scaled out: PostgreSQL + Redis with separate ``celery worker`` and ``celery beat`` processes.
Embedded: ``monitor run`` on SQLite with the SQLite broker, no servers. Each prints the
latency from publication to the Slack stand-in accepting the alert.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from monitor.models import Hit
from tests.conftest import need
from tests.pipeline.harness import Stack, postgres_available, redis_available, redis_url

ITEMS = 3


@pytest.fixture
def redis_stack(tmp_path: Path) -> Iterator[Stack]:
    need(redis_available(redis_url(13)), f"Redis not reachable at {redis_url(13)}")
    need(postgres_available(), "PostgreSQL not reachable")
    stack = Stack.redis(tmp_path, redis_db=13)
    try:
        yield stack
    finally:
        stack.close()


def _publish_and_measure(stack: Stack, label: str) -> list[float]:
    feed = stack.feed_names[0]
    path = f"/feeds/{feed}.xml"
    # The feed is known and polled once before we publish, as in a running service.
    stack.wait_until(lambda: stack.feed_server.requests[path] >= 1, 90, "the first poll")
    latencies, pipeline = [], []
    for n in range(ITEMS):
        marker = f"{label}-{n}-{time.time_ns()}"
        item = stack.feed_server.publish(
            feed, f"Turbine failure at Egbin plant {marker}", "Grid down."
        )
        took = stack.wait_until(lambda m=marker: stack.posts_for(m) >= 1, 60, f"alert {marker}")
        latencies.append(took)
        accepted = next(p.accepted_at for p in stack.slack.posted if marker in p.text)
        pipeline.append(accepted - stack.feed_server.served_at[item.guid])
        stack.feed_server.publish(feed, f"Football results {marker}", "Nothing to see.")
    print(
        f"\n{label}: publication -> Slack "
        + ", ".join(f"{s:.2f}s" for s in latencies)
        + "; poll response -> Slack "
        + ", ".join(f"{s:.2f}s" for s in pipeline)
        + " (feeds are polled every 10 s, the shortest interval feeds.yaml allows)"
    )
    # The pipeline's own part, poll to Slack, takes seconds.
    assert max(pipeline) < 10
    return latencies


@pytest.mark.slow
@pytest.mark.redis
@pytest.mark.postgres
def test_it_alerts_within_seconds_on_redis_and_postgres(redis_stack: Stack) -> None:
    stack = redis_stack
    stack.upgrade()
    stack.worker("w1", concurrency=2)
    beat = stack.beat()
    beat.wait_for("beat lease taken", 60)

    latencies = _publish_and_measure(stack, "redis")

    assert max(latencies) < 30
    with stack.engine.connect() as connection:
        hits = connection.execute(select(Hit.watchlist_id, Hit.matched)).all()
    assert len(hits) == ITEMS
    assert {row.watchlist_id for row in hits} == {"grid"}
    # Only the matching items alerted, each exactly once, to the channel the watchlist names.
    stack.wait_until(lambda: stack.counts()["sent"] == ITEMS, 20, "every delivery recorded")
    assert len(stack.slack.posted) == ITEMS
    assert {p.channel for p in stack.slack.posted} == {"#grid"}


@pytest.mark.slow
def test_it_alerts_within_seconds_on_the_embedded_default(embedded: Callable[..., Stack]) -> None:
    stack = embedded(MONITOR_LOG_FORMAT="json")
    run = stack.monitor_run(concurrency=2)
    run.wait_for("beat lease taken", 90)

    latencies = _publish_and_measure(stack, "embedded")

    assert max(latencies) < 30
    stack.wait_until(lambda: stack.counts()["sent"] == ITEMS, 20, "every delivery recorded")
    assert stack.counts()["hits"] == ITEMS
    assert len(stack.slack.posted) == ITEMS

    # Observability: every worker process wrote its samples where the dashboard reads them.
    stack.wait_until(lambda: "monitor.sweep" in _metrics(stack), 30, "a sweep measured")
    metrics = _metrics(stack)
    for task in ("monitor.poll_feed", "monitor.match_articles", "monitor.deliver"):
        assert f'monitor_task_duration_seconds_count{{task="{task}"}}' in metrics
    assert 'monitor_queue_lag_seconds{kind="articles"' in metrics
    # Publish → alert latency, observed by the alerts worker process, added up by /metrics.
    assert 'monitor_alert_latency_seconds_count{channel="slack",kind="instant",since=' in metrics
    # JSON logs with the fixed keys, the task bound to each line logged inside a task.
    lines = [json.loads(line) for line in run.output().splitlines() if line.startswith("{")]
    assert any(line.get("task") == "monitor.match_articles" for line in lines)
    # One line per matched batch, naming each watchlist's articles.
    batches = [line for line in lines if line.get("event") == "articles matched"]
    assert sum(len(ids) for line in batches for ids in line["matched"].values()) == ITEMS
    assert all(set(line["matched"]) == {"grid"} for line in batches)
    polled = [line for line in lines if line.get("event") == "feed polled"]
    assert polled and all(line["task"] == "monitor.poll_feed" for line in polled)
    assert all(isinstance(line.get("feed"), int) for line in polled)
    sent = [line for line in lines if line.get("event") == "alert sent"]
    assert len(sent) == ITEMS
    assert all({"delivery_id", "hit_id", "watchlist"} <= line.keys() for line in sent)


def _metrics(stack: Stack) -> str:
    # What the dashboard's /metrics serves: every host folder under the metrics folder.
    from monitor.metrics import exposition

    return exposition(stack.workdir / "var" / "metrics").decode()
