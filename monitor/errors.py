"""The exceptions a person may see, in one place.

Every error that reaches the command line is a :class:`MonitorError`: the CLI prints its
message on one line of stderr and exits with its ``exit_code``; nothing else prints a
traceback to a user.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError

__all__ = ["ConfigError", "DatabaseUnavailable", "MonitorError", "UserError", "first_problem"]


class MonitorError(Exception):
    """Base class: a message meant for a person, and the exit code the CLI should use."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UserError(MonitorError):
    """Bad input from the person at the keyboard (a wrong argument, a missing file)."""


class ConfigError(MonitorError):
    """A wrong setting: a bad ``MONITOR_*`` value, a broken feeds.yaml."""

    exit_code = 2


class DatabaseUnavailable(ConfigError):
    """The configured database cannot be reached or opened."""


def first_problem(exc: ValidationError) -> tuple[str, str]:
    """The first thing pydantic found wrong, for a one-line message: its dotted location
    (``""`` for the whole object) and what is wrong, without pydantic's 'Value error, '."""
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return where, str(first["msg"]).removeprefix("Value error, ")
