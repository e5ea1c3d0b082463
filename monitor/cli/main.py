"""Entry point. User errors print one line on stderr and exit non-zero, never a traceback."""

from __future__ import annotations

import sys
from typing import Any

import click

from monitor import __version__
from monitor.config import Settings, load_settings
from monitor.errors import MonitorError

__all__ = ["cli", "main", "pass_settings"]


class MonitorGroup(click.Group):
    """A group that turns :class:`MonitorError` into one line on stderr and its exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MonitorError as exc:
            click.echo(f"monitor: {exc.message}", err=True)
            ctx.exit(exc.exit_code)


def settings_from(ctx: click.Context) -> Settings:
    """Settings are loaded lazily, so that ``--help`` works even with a broken environment."""
    root = ctx.find_root()
    obj = root.ensure_object(dict)
    if "settings" not in obj:
        obj["settings"] = load_settings()
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


@click.group(cls=MonitorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="monitor")
def cli() -> None:
    """Media monitoring: poll news feeds, match watchlists, alert Slack and email."""


def _register() -> None:
    # Each area of the service owns one module of subcommands; the list is explicit.
    from monitor.cli import db

    cli.add_command(db.db)
    for name in ("feeds", "watchlists", "alerts", "run", "dashboard"):
        try:
            module = __import__(f"monitor.cli.{name}", fromlist=["commands"])
        except ModuleNotFoundError as exc:
            if exc.name != f"monitor.cli.{name}":
                raise
            continue
        for command in module.commands:
            cli.add_command(command)


_register()


def main() -> None:
    try:
        cli.main(prog_name="monitor")
    except MonitorError as exc:  # raised outside a command, e.g. while parsing settings
        click.echo(f"monitor: {exc.message}", err=True)
        sys.exit(exc.exit_code)
