"""The ``monitor`` command: every area's subcommands, and errors as one line, never a traceback."""

from __future__ import annotations

import sys
from typing import Any

import click

from monitor import __version__
from monitor.cli import alerts, dashboard, db, feeds, run, slack, watchlists
from monitor.errors import MonitorError
from monitor.logs import configure_logging

__all__ = ["cli", "main"]


class MonitorGroup(click.Group):
    """A group that turns :class:`MonitorError` into one line on stderr and its exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MonitorError as exc:
            click.echo(f"monitor: {exc.message}", err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=MonitorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="monitor")
def cli() -> None:
    """Media monitoring: poll news feeds, match watchlists, alert Slack and email."""
    # Logs go to stderr, so that stdout holds a command's own output and nothing else (left
    # alone, structlog prints to stdout). Commands that load the settings apply their level
    # and format (monitor.cli.context).
    configure_logging()


# Each area of the service owns one module of subcommands; the list is explicit.
for _area in (db, feeds, watchlists, alerts, run, dashboard, slack):
    for _command in _area.commands:
        cli.add_command(_command)


def main() -> None:
    try:
        cli.main(prog_name="monitor")
    except MonitorError as exc:  # raised outside a command, e.g. while parsing settings
        click.echo(f"monitor: {exc.message}", err=True)
        sys.exit(exc.exit_code)
