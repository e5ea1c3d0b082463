"""Celery configuration for the monitor workers (``celery -A workers`` reads it).

Everything the service needs to know comes from :func:`monitor.config.get_settings`, so the
worker, the beat and the CLI agree on the broker and the database. The choices below are the
reliability rules of docs/architecture.md turned into Celery settings; each says why.
"""

from __future__ import annotations

from typing import Any

from kombu import Queue  # type: ignore[attr-defined]

from monitor.config import get_settings
from workers.beat import beat_schedule as _beat_schedule

_settings = get_settings()

broker_url = _settings.broker_url
# Keep trying to reach the broker forever, at start-up and after a restart of Redis: a worker
# that gives up would need a person to bring it back.
broker_connection_retry_on_startup = True
broker_connection_max_retries = None
broker_heartbeat = 10

# JSON only: a message is a task name and a few ids, never a pickle a broker could forge.
task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
event_serializer = "json"

# No result backend: tasks return a one-line summary for the log, and the database, not the
# broker, is where outcomes live.
result_backend = None
task_ignore_result = True
task_store_errors_even_if_ignored = False

# Acknowledge after the task ran, and give the message back when a worker process dies, so a
# kill -9 re-runs the task instead of dropping it. Tasks are idempotent (compare-and-set
# claims, unique keys), so running twice is harmless.
task_acks_late = True
task_reject_on_worker_lost = True
# One message at a time per process: a slow feed must not sit on a queue of others.
worker_prefetch_multiplier = 1
# Left at False on purpose: True crashes the worker on a second broker reconnection
# ("'NoneType' object has no attribute 'hostname'", celery/celery#9250), and our tasks are
# idempotent, so a running copy finishing while the broker redelivers it is harmless.
worker_cancel_long_running_tasks_on_connection_loss = False
# Celery's consumer with a guard around its reconnect on Celery 5.7 (see workers/consumer.py).
worker_consumer = "workers.consumer:Consumer"

# A task that hangs is killed; the table-backed sweeps pick its work up again.
task_soft_time_limit = 240
task_time_limit = 300

# Three queues that scale apart: poll (I/O-bound), match (CPU-bound), alerts (providers).
task_default_queue = "poll"
task_queues = tuple(Queue(name) for name in ("poll", "match", "alerts"))  # type: ignore[no-untyped-call]
task_routes = {
    "monitor.schedule_due_feeds": {"queue": "poll"},
    "monitor.poll_feed": {"queue": "poll"},
    "monitor.match_articles": {"queue": "match"},
    "monitor.sweep": {"queue": "match"},
    "monitor.prune": {"queue": "match"},
    "monitor.deliver": {"queue": "alerts"},
    "monitor.send_due_digests": {"queue": "alerts"},
}

# With Redis, an unacknowledged message comes back after the visibility timeout when a whole
# worker machine dies. It must be longer than the slowest task (the time limit above), and it
# is short enough that a lost task is retried within minutes; the sweeps cover the rest.
broker_transport_options: dict[str, Any] = {}
if _settings.broker_is_redis:
    broker_transport_options = {
        "visibility_timeout": _settings.broker_visibility_timeout,
        "socket_timeout": 10,
        "socket_connect_timeout": 5,
        "health_check_interval": 10,
        "retry_on_timeout": True,
    }
elif _settings.broker_url.startswith("sqla+sqlite"):
    # kombu hands these options to SQLAlchemy's create_engine (so its own polling_interval
    # cannot be set here; it polls every second). The worker, its pool and the beat share
    # the SQLite file: wait for a lock instead of failing with 'database is locked'.
    broker_transport_options = {"connect_args": {"timeout": 30}}

# The beat: one list in workers/beat.py; the scheduler only sends while it holds the lease.
beat_schedule = _beat_schedule()
beat_scheduler = "workers.beat:LeasedScheduler"
beat_max_loop_interval = 5

timezone = "UTC"
enable_utc = True
# Our own logging (monitor.logs) is configured through the setup_logging signal.
worker_hijack_root_logger = False
worker_redirect_stdouts = False
worker_send_task_events = False
