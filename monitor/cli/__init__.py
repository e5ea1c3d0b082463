"""The ``monitor`` command line: a click group that each area adds its subcommands to."""

from __future__ import annotations

from monitor.cli.main import cli, main

__all__ = ["cli", "main"]
