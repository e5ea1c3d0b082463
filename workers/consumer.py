"""The worker's broker consumer, with guards around two reconnect bugs of Celery 5.7 on Redis.

When the connection to the broker breaks, Celery 5.7 first collects the connection, which
detaches kombu's transport from it, and then closes it. Two things then touch the detached
transport and raise AttributeError ("'NoneType' object has no attribute 'hostname'"), which
the error handling around them does not expect, so the worker dies with 'Unrecoverable error'
instead of reconnecting (our Redis-restart fault test caught it in 4 runs out of 6):

- closing the old channel tries to put its unacknowledged messages back;
- a task that finishes after the reconnect acknowledges (or rejects) its message on the old
  channel.

Both are the same situation as an acknowledgement that fails because the connection is gone:
the message comes back after the visibility timeout (the sweep usually resends the work
first), and every task is idempotent. So each is logged as one line and the worker goes on.
"""

from __future__ import annotations

from typing import Any

from celery.worker.consumer import Consumer as CeleryConsumer
from kombu.message import Message

from monitor.logs import get_logger

__all__ = ["Consumer"]

log = get_logger(__name__)


class Consumer(CeleryConsumer):  # type: ignore[misc]
    def on_connection_error_after_connected(self, exc: BaseException) -> None:
        connection = self.connection
        if connection is not None:
            close = connection.close

            def close_after_collect() -> None:
                try:
                    close()
                except AttributeError as error:  # the detached transport: see the docstring
                    log.warning("broker connection closed with an error", error=repr(error))

            connection.close = close_after_collect
        super().on_connection_error_after_connected(exc)


def _tolerate_a_detached_channel(name: str) -> None:
    settle = getattr(Message, name)

    def settle_or_log(self: Message, *args: Any, **kwargs: Any) -> None:
        try:
            settle(self, *args, **kwargs)
        except AttributeError as error:
            log.warning(
                "message of a lost broker connection not settled; it comes back after "
                "the visibility timeout",
                action=name,
                error=repr(error),
            )

    setattr(Message, name, settle_or_log)


# The worker imports this module (celeryconfig's worker_consumer) before it consumes anything.
for _name in ("ack_log_error", "reject_log_error"):
    _tolerate_a_detached_channel(_name)
