"""Prometheus metrics, one definition each, shared by the workers and the dashboard.

Celery runs several processes, so when ``PROMETHEUS_MULTIPROC_DIR`` is set (``monitor run``
and the docker-compose services set it) every process writes its samples to files there and
:func:`exposition` merges them; without it the process's own registry is served.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

__all__ = [
    "ARTICLES_INGESTED",
    "CONTENT_TYPE_LATEST",
    "DELIVERIES",
    "HITS",
    "POLLS",
    "QUEUE_LAG",
    "STORY_ASSIGNMENTS",
    "STORY_ASSIGNMENT_SECONDS",
    "STORY_INDEX_LOADS",
    "TASK_DURATION",
    "exposition",
]

POLLS = Counter("monitor_polls_total", "Feed polls by outcome.", ["outcome"])
ARTICLES_INGESTED = Counter("monitor_articles_ingested_total", "New articles stored.")
HITS = Counter("monitor_hits_total", "Hits stored, by watchlist.", ["watchlist"])
DELIVERIES = Counter(
    "monitor_deliveries_total", "Delivery attempts by channel and outcome.", ["channel", "outcome"]
)
QUEUE_LAG = Gauge(
    "monitor_queue_lag_seconds",
    "Age of the oldest piece of due work, by kind (feeds, articles, deliveries).",
    ["kind"],
    multiprocess_mode="max",
)
TASK_DURATION = Histogram(
    "monitor_task_duration_seconds",
    "Time spent in each task.",
    ["task"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)

# Clustering (monitor/clustering/): how articles find their story, and what that costs the
# matching transaction it runs in.
STORY_ASSIGNMENTS = Counter(
    "monitor_story_assignments_total",
    "Articles put into a story, by outcome (joined, new_story, joined_concurrent).",
    ["outcome"],
)
STORY_ASSIGNMENT_SECONDS = Histogram(
    "monitor_story_assignment_seconds",
    "Time to put one article into a story.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30),
)
STORY_INDEX_LOADS = Counter(
    "monitor_story_index_loads_total",
    "Full loads of a process's story index (a start, or the stories table went back); "
    "every other assignment reads only the stories added since.",
)


def exposition() -> bytes:
    """The text exposition of every metric, merged across processes when multiprocess."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest()
