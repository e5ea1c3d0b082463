"""Structured logging with the same keys everywhere.

Log with ``log = get_logger(__name__)`` and keyword fields: ``log.info("feed polled",
feed=feed.id, new=3)``. The keys that tie a line to a row are fixed: ``feed``, ``watchlist``,
``article_id``, ``hit_id``, ``delivery_id`` and ``task``. Output is human-readable on a
terminal and one JSON object per line with ``MONITOR_LOG_FORMAT=json``, always on stderr:
stdout belongs to a command's own output.

Levels: ``debug`` for what happens on every tick or every item as planned (a scheduling
tick, a task received and done), ``info`` for what changed (a feed polled, an article
matched, a file reloaded), ``warning`` for what failed and will be tried again (a feed that
could not be polled), ``error`` for what needs a person.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

__all__ = ["LOG_KEYS", "configure_logging", "get_logger"]

LOG_KEYS = ("feed", "watchlist", "article_id", "hit_id", "delivery_id", "task")

_configured = False


def configure_logging(*, level: str = "INFO", fmt: str = "console") -> None:
    """Route structlog and the standard library's logging through one renderer."""
    global _configured
    renderer: Any
    formatting: list[Any] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if fmt == "json":
        # The traceback as one string field; without it a logged exception came out as
        # "exc_info": true and nothing else.
        formatting.append(structlog.processors.format_exc_info)
        renderer = structlog.processors.JSONRenderer()
    else:
        # A plain traceback: the default (rich's) prints every frame's local variables, and
        # those hold feed URLs with their credentials, tokens and message bodies.
        renderer = structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[*formatting, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_monitor", False):
            root.removeHandler(old)
    handler._monitor = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    # httpx logs every request at INFO: too chatty for a poller. Alembic narrates every
    # plugin it loads at INFO; a person upgrading the database only needs to hear about
    # problems.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    _configured = True


def get_logger(name: str) -> Any:
    return structlog.stdlib.get_logger(name)
