"""The Celery app: configuration from celeryconfig.py, logging and metrics hooked to signals.

This package only adapts the library in ``monitor/`` to Celery; nothing in ``monitor/`` imports
Celery. Worker processes log through :mod:`monitor.logs` with the task's name bound to every
line, and time each task into ``monitor_task_duration_seconds``. A pool process that consumes
the ``match`` queue loads the story index as it starts (see :func:`_warm_story_index`).

Every process of a worker writes its metric samples under ``MONITOR_METRICS_DIR``, where the
dashboard's ``/metrics`` adds them up: this module sets that up before the tasks (and with
them prometheus_client) are imported, so no one has to export ``PROMETHEUS_MULTIPROC_DIR``.
A worker that sends alerts says, as it starts, which destinations it cannot send to.
"""

# Celery's decorators carry no types; the functions under them are typed.
# mypy: disable-error-code="untyped-decorator"

from __future__ import annotations

import gc
import logging
import threading
import time
from typing import Any

import structlog
from celery import Celery
from celery.app.trace import LOG_RECEIVED, LOG_SUCCESS
from celery.signals import (
    setup_logging,
    task_postrun,
    task_prerun,
    worker_process_init,
    worker_process_shutdown,
    worker_ready,
)

from monitor.config import get_settings
from monitor.metricfiles import share_samples

# Before anything imports prometheus_client: it picks in-memory or shared samples on import.
share_samples(get_settings().metrics_path)

from monitor.logs import get_logger  # noqa: E402  (after the choice above)
from monitor.watchlists import load_watchlists, unsendable_destinations  # noqa: E402

app = Celery("monitor")
app.config_from_object("celeryconfig")
import workers.tasks  # noqa: E402,F401  (register the tasks with the app)

_started: dict[str, float] = {}

# What celery.beat logs as it sends a task (celery/beat.py, Scheduler.apply_entry).
BEAT_SENDING = "Scheduler: Sending due task %s (%s)"


class _RoutineAtDebug(logging.Filter):
    """Celery's lines about every tick and every task (the beat sending one, a worker
    receiving one, a task succeeding) are routine, so debug rather than info: with the
    default 5 s scheduling tick they were three info lines every 5 s, burying what changed
    (our own info lines) and what failed (Celery's failure lines, and ours, stay as they
    are)."""

    ROUTINE = frozenset({BEAT_SENDING, LOG_RECEIVED, LOG_SUCCESS})

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or record.msg not in self.ROUTINE:
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


_ROUTINE_AT_DEBUG = _RoutineAtDebug()


@setup_logging.connect
def _configure_logging(**_: Any) -> None:
    # Connecting to this signal tells Celery not to install its own handlers.
    from monitor.config import get_settings
    from monitor.logs import configure_logging

    settings = get_settings()
    configure_logging(level=settings.log_level, fmt=settings.log_format)
    for name in ("celery.beat", "celery.worker.strategy", "celery.app.trace"):
        logging.getLogger(name).addFilter(_ROUTINE_AT_DEBUG)


@worker_process_init.connect
def _start_pool_process(**_: Any) -> None:
    # A forked pool process must not share the parent's database connections.
    from monitor.db import dispose_engines

    dispose_engines()
    # Everything imported so far lives as long as the process: move it out of the cyclic
    # collector's reach, so a full collection no longer walks every module's objects (it
    # cost matching 0.04 ms an article, a tenth of its time, measured in-process).
    gc.freeze()
    if _consumes("poll"):
        threading.Thread(target=_warm_fetch_pool, name="warm-fetch-pool", daemon=True).start()
    if _consumes("match"):
        threading.Thread(target=_warm_story_index, name="warm-story-index", daemon=True).start()


def _consumes(queue: str) -> bool:
    # `-Q` was applied in the parent before the pool forked; None means every queue.
    selected = app.amqp.queues.consume_from
    return not selected or queue in selected


def _warm_fetch_pool() -> None:
    """Build the feed fetcher's connection pool before the first poll; a failure here only
    means the first poll builds it (and reports what went wrong)."""
    from monitor.config import get_settings
    from monitor.feeds.fetcher import warm_pool

    try:
        warm_pool(get_settings())
    except Exception as exc:
        reason = (str(exc).splitlines() or [""])[0][:200]
        get_logger("workers.app").warning(
            "fetch pool not built", error=f"{type(exc).__name__}: {reason}"
        )


def _warm_story_index() -> None:
    """Load the language detector's model and the clustering index (the window's stories)
    now rather than in the first match task, which would otherwise wait half a second for
    the one and 8-20 s at 100k stories for the other.

    In a thread, because Celery gives a new pool process a few seconds
    (``worker_proc_alive_timeout``) to report for work before it kills it; a match task that
    arrives meanwhile waits on the index's lock, then finds it loaded. A failure is one log
    line, never a failed start: the first match task loads the index itself, as it would
    have anyway.
    """
    from monitor.config import get_settings
    from monitor.logs import get_logger

    log = get_logger("workers.app")
    started = time.perf_counter()
    try:
        # The language detector's model first: half a second, and every batch needs it.
        from monitor.matching.language import load_model

        load_model()
    except Exception as exc:
        reason = (str(exc).splitlines() or [""])[0][:200]
        log.warning("language model not loaded", error=f"{type(exc).__name__}: {reason}")
    try:
        from monitor.clustering import warm_story_index

        stories = warm_story_index(get_settings())
    except Exception as exc:
        reason = (str(exc).splitlines() or [""])[0][:200]
        log.warning("story index not warmed", error=f"{type(exc).__name__}: {reason}")
        return
    # The index lives as long as the process too (see _start_pool_process).
    gc.freeze()
    log.info("story index warm", stories=stories, seconds=round(time.perf_counter() - started, 2))


@worker_ready.connect
def _warn_about_unsendable_destinations(**_: Any) -> None:
    """One warning per alert destination this worker could not send to: its secret's variable
    is unset, and its first alert would fail. Only a worker that consumes ``alerts`` sends."""
    if not _consumes("alerts"):
        return
    log = get_logger("workers.app")
    settings = get_settings()
    try:
        specs = load_watchlists([settings.watchlists]).watchlists
    except Exception as exc:  # a check must never stop a start; the files are reported anyway
        log.warning("alert destinations not checked", error=f"{type(exc).__name__}")
        return
    for item in unsendable_destinations(specs, settings):
        log.warning(
            "alert destination cannot send",
            destination=item.destination,
            error=item.problem,
            watchlist=list(item.watchlists),
        )


@worker_process_shutdown.connect
def _close_connections(**_: Any) -> None:
    # Pooled feed connections and the host limiter's Redis connections would otherwise stay
    # open until the interpreter exits.
    from monitor.feeds import fetcher, hostlimit

    fetcher.close_pools()
    hostlimit.close_clients()


@worker_process_shutdown.connect
def _mark_process_dead(pid: int | None = None, **_: Any) -> None:
    import os

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())  # type: ignore[no-untyped-call]


@task_prerun.connect
def _task_started(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    if task_id is not None:
        _started[task_id] = time.monotonic()
    structlog.contextvars.bind_contextvars(task=getattr(task, "name", None))


@task_postrun.connect
def _task_finished(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    from monitor.metrics import TASK_DURATION

    started = _started.pop(task_id or "", None)
    if started is not None:
        TASK_DURATION.labels(task=getattr(task, "name", "unknown")).observe(
            time.monotonic() - started
        )
    structlog.contextvars.unbind_contextvars("task")
