"""``monitor dashboard``: serve the ops dashboard and HTTP API."""

from __future__ import annotations

import click

from monitor.cli.main import pass_settings
from monitor.config import Settings
from monitor.errors import UserError

__all__ = ["commands", "dashboard"]


class _Unprotected(UserError):
    exit_code = 2


@click.command()
@click.option("--host", default=None, help="Address to bind (default: MONITOR_DASHBOARD_HOST).")
@click.option("--port", type=int, default=None, help="Port (default: MONITOR_DASHBOARD_PORT).")
@pass_settings
def dashboard(settings: Settings, host: str | None, port: int | None) -> None:
    """Serve the dashboard and JSON API (127.0.0.1 unless told otherwise)."""
    from monitor.dashboard import serve
    from monitor.dashboard.security import auth_configured, is_loopback

    host = host or settings.dashboard_host
    if not is_loopback(host) and not auth_configured(settings):
        # Headlines, watchlists and delivery errors are not for the whole network to read.
        raise _Unprotected(
            f"refusing to serve the dashboard on {host} without MONITOR_DASHBOARD_TOKEN "
            "or MONITOR_DASHBOARD_USERS"
        )
    click.echo(f"monitor: dashboard on http://{host}:{port or settings.dashboard_port}/", err=True)
    serve(settings, host=host, port=port)


commands = [dashboard]
