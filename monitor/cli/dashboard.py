"""``monitor dashboard``: serve the ops dashboard and HTTP API."""

from __future__ import annotations

import click

from monitor.cli.context import pass_settings
from monitor.config import Settings

__all__ = ["commands", "dashboard"]


@click.command()
@click.option("--host", default=None, help="Address to bind (default: MONITOR_DASHBOARD_HOST).")
@click.option("--port", type=int, default=None, help="Port (default: MONITOR_DASHBOARD_PORT).")
@pass_settings
def dashboard(settings: Settings, host: str | None, port: int | None) -> None:
    """Serve the dashboard and JSON API (127.0.0.1 unless told otherwise)."""
    from monitor.dashboard import check_exposure, serve

    host = host or settings.dashboard_host
    check_exposure(settings, host)  # before the banner: a refusal is the only line printed
    click.echo(f"monitor: dashboard on http://{host}:{port or settings.dashboard_port}/", err=True)
    serve(settings, host=host, port=port)


commands = [dashboard]
