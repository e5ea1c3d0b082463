"""How a command gets its settings: loaded when a command needs them, not before.

So ``monitor --help`` and every command's ``--help`` work even with a broken environment, and
a bad setting is reported by the command that needs it, in one line. Once loaded, the
settings' ``MONITOR_LOG_LEVEL`` and ``MONITOR_LOG_FORMAT`` apply to the command's logs (which go
to stderr from the start: see :mod:`monitor.cli.main`).
"""

from __future__ import annotations

from typing import Any

import click

from monitor.config import Settings, load_settings
from monitor.logs import configure_logging

__all__ = ["pass_settings", "settings_from"]


def settings_from(ctx: click.Context) -> Settings:
    """Settings are loaded lazily, so that ``--help`` works even with a broken environment."""
    root = ctx.find_root()
    obj = root.ensure_object(dict)
    if "settings" not in obj:
        obj["settings"] = load_settings()
        configure_logging(level=obj["settings"].log_level, fmt=obj["settings"].log_format)
    settings: Settings = obj["settings"]
    return settings


def pass_settings(f: Any) -> Any:
    """Decorator: call the command with the :class:`Settings` as its first argument."""

    @click.pass_context
    def wrapper(ctx: click.Context, /, *args: Any, **kwargs: Any) -> Any:
        return ctx.invoke(f, settings_from(ctx), *args, **kwargs)

    wrapper.__name__ = f.__name__
    wrapper.__doc__ = f.__doc__
    return wrapper
