"""A retry an operator asks for goes out at the workers' next sweep, not a grace period later.

The sweep waits ``MONITOR_SWEEP_GRACE_SECONDS`` before it re-sends a ``pending`` delivery,
because such a delivery normally has a message on its way. One that failed and was queued
again by ``monitor alerts retry`` has none, so the sweep sends it at once. The grace here is
ten minutes, far longer than the test waits.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from monitor.models import Delivery, Destination
from tests.pipeline.harness import Stack


def _failed(stack: Stack) -> int:
    return int(stack.scalar(select(func.count()).where(Delivery.status == "failed")))


@pytest.mark.slow
def test_it_sends_a_retried_delivery_at_the_next_sweep(embedded: Callable[..., Stack]) -> None:
    stack = embedded(MONITOR_SWEEP_GRACE_SECONDS=600)
    stack.slack.refuse = "channel_not_found"  # permanent: the delivery fails at once
    run = stack.monitor_run(concurrency=1)
    run.wait_for("beat lease taken", 90)
    feed = stack.feed_names[0]
    stack.wait_until(lambda: stack.feed_server.requests[f"/feeds/{feed}.xml"] >= 1, 60, "a poll")
    marker = f"retry-{time.time_ns()}"
    stack.feed_server.publish(feed, f"Blackout in Lagos {marker}", "Grid down.")
    stack.wait_until(lambda: _failed(stack) == 1, 60, "the delivery to fail")
    assert stack.scalar(select(Destination.last_error)) is not None  # flagged on the dashboard

    stack.slack.refuse = None  # the channel was fixed
    asked = time.monotonic()
    retry = subprocess.run(
        [sys.executable, "-m", "monitor", "alerts", "retry", "--failed"],
        env=stack.env,
        cwd=stack.workdir,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert retry.returncode == 0, retry.stderr
    assert retry.stdout.strip() == "1 delivery queued again"

    stack.wait_until(lambda: stack.posts_for(marker) == 1, 60, "the retried alert")
    print(f"\nretry asked -> Slack: {time.monotonic() - asked:.2f}s (sweep every 2 s)")
    stack.wait_until(lambda: stack.counts()["sent"] == 1, 20, "the delivery recorded as sent")
    assert _failed(stack) == 0
    assert stack.scalar(select(Destination.last_error)) is None
    assert len(stack.slack.posted) == 1
