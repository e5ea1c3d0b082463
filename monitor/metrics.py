"""Prometheus metrics, one definition each, shared by the workers and the dashboard.

Celery runs several processes, so every worker process writes its samples to files under
``MONITOR_METRICS_DIR`` (a folder per host, see :mod:`monitor.metricfiles`) and
:func:`exposition`, which the dashboard's ``/metrics`` serves, adds up all of them. A process
that is not a worker (``monitor run --once``, ``monitor feeds poll``) counts in memory only.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector

from monitor.metricfiles import sample_files

__all__ = [
    "ALERT_LATENCY",
    "ARTICLES_INGESTED",
    "CONTENT_TYPE_LATEST",
    "DELIVERIES",
    "FEED_SILENT",
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
# Set by the dashboard from the feed_silences table as /metrics is read (one truth, whichever
# worker ran the check): 1 while a feed answers but has stopped publishing, else 0.
FEED_SILENT = Gauge(
    "monitor_feed_silent",
    "1 while an enabled feed still answers but has published nothing for several times its "
    "usual gap between items.",
    ["feed"],
    multiprocess_mode="max",
)
TASK_DURATION = Histogram(
    "monitor_task_duration_seconds",
    "Time spent in each task.",
    ["task"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
# From an article coming out to its alert being sent (monitor/alerts/latency.py): what a
# reader waits, poll interval included. Buckets from seconds (a WebSub push) to a day (a
# daily digest).
ALERT_LATENCY = Histogram(
    "monitor_alert_latency_seconds",
    "From an article's publication (since=published), or when first seen where it gives no "
    "earlier time (since=first_seen), to the delivery of its alert; by channel and kind.",
    ["channel", "kind", "since"],
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400),
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


class _EveryProcess:
    """A collector of the samples every worker process wrote under the metrics folder, then
    of this process's own metrics that no file holds.

    prometheus_client's own collector reads one folder; ours has one folder per host, and
    its files are merged the same way (counters and histograms summed, the gauge by its
    ``multiprocess_mode``). This process's registry adds each metric's definition before any
    worker has counted it, and the process's own figures (memory, CPU).
    """

    def __init__(self, root: Path | None) -> None:
        self.root = root

    def collect(self) -> Iterable[Metric]:
        files = sample_files(self.root) if self.root is not None else []
        merged: list[Metric] = list(MultiProcessCollector.merge(files))  # type: ignore[no-untyped-call]
        yield from merged
        shared = {metric.name for metric in merged}
        for metric in REGISTRY.collect():
            if metric.name not in shared:
                yield metric


def exposition(root: Path | None = None) -> bytes:
    """The text exposition of every metric: added up over the processes that wrote under
    *root* (``Settings.metrics_path``), and this process's own where no file has them."""
    return generate_latest(_EveryProcess(root))
