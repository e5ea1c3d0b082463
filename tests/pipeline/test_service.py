"""The running service as an operator starts it: ``monitor run`` on the embedded default (what
``make run`` does), with its dashboard. Health and Prometheus metrics are served over HTTP,
the pipeline's counters move when a feed brings a matching item, and Ctrl-C or SIGTERM stops
every process it started."""

from __future__ import annotations

import contextlib
import signal
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine

from tests.pipeline.harness import Stack

# The samples that show the pipeline at work, one per stage.
MOVING = (
    ("monitor_polls_total", (("outcome", "new"),)),
    ("monitor_articles_ingested_total", ()),
    ("monitor_hits_total", (("watchlist", "grid"),)),
    ("monitor_deliveries_total", (("channel", "slack"), ("outcome", "sent"))),
)


LOCATIONS = (
    "MONITOR_DATABASE_URL",
    "MONITOR_BROKER_URL",
    "MONITOR_FEEDS",
    "MONITOR_WATCHLISTS",
    "MONITOR_VAR_DIR",
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            found += [int(child), *_descendants(int(child))]
    return found


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has stopped already


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_it_serves_health_and_moving_metrics_then_stops_cleanly(
    embedded: Callable[..., Stack], sig: int
) -> None:
    port = _free_port()
    stack = embedded(MONITOR_DASHBOARD_PORT=port)
    base = f"http://127.0.0.1:{port}"
    # `make run`'s defaults: the database, the broker, feeds.yaml and watchlists/ are found
    # where the command runs (the stack wrote the two files there).
    for name in LOCATIONS:
        del stack.env[name]
    stack.engine = create_engine(f"sqlite:///{stack.workdir}/var/monitor.db")
    run = stack.start(
        "run", [str(Path(sys.executable).with_name("monitor")), "run", "--concurrency", "1"]
    )
    run.wait_for("beat lease taken", 90)
    assert "database sqlite:///var/monitor.db, broker sqla+sqlite:///var/broker.db" in run.output()

    def get(path: str) -> httpx.Response:
        return httpx.get(base + path, timeout=10)

    stack.wait_until(lambda: get("/healthz").status_code == 200, 60, "the dashboard", poll=0.5)
    assert get("/healthz").json() == {"status": "ok"}
    feed = stack.feed_names[0]
    stack.wait_until(lambda: stack.feed_server.requests[f"/feeds/{feed}.xml"] >= 1, 60, "a poll")
    before = _samples(get("/metrics").text)

    marker = f"service-{time.time_ns()}"
    stack.feed_server.publish(feed, f"Turbine failure at Egbin plant {marker}", "Grid down.")
    stack.wait_until(lambda: stack.posts_for(marker) == 1, 60, "the alert")

    def moved() -> bool:
        after = _samples(get("/metrics").text)
        return all(after.get(key, 0) > before.get(key, 0) for key in MOVING)

    stack.wait_until(moved, 30, "every stage's counter to move", poll=0.5)
    after = _samples(get("/metrics").text)
    assert after[MOVING[2]] - before.get(MOVING[2], 0) == 1  # one hit, counted once
    assert get("/metrics").headers["content-type"].startswith("text/plain")

    # Everything `monitor run` started: the worker, its pool, the dashboard.
    children = _descendants(run.popen.pid if run.popen else 0)
    assert len(children) >= 3
    assert run.popen is not None
    run.popen.send_signal(sig)
    assert run.popen.wait(timeout=60) == 0
    output = run.output()
    assert "stopping" in output
    assert "beat lease released" in output
    assert "Traceback" not in output
    assert [pid for pid in children if _running(pid)] == []
    with pytest.raises(httpx.TransportError):
        get("/healthz")
