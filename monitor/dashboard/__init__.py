"""The ops dashboard and HTTP API (``monitor dashboard``, and a child of ``monitor run``)."""

from __future__ import annotations

import uvicorn

from monitor.config import Settings
from monitor.dashboard import heap
from monitor.dashboard.app import create_app
from monitor.dashboard.security import auth_configured, is_loopback
from monitor.errors import ConfigError

__all__ = ["check_exposure", "create_app", "serve"]


def check_exposure(settings: Settings, host: str) -> None:
    """Raise ConfigError when ``host`` is not loopback and nobody has to log in.

    Headlines, watchlists and delivery errors are not for the whole network to read. Checked in
    ``serve`` itself, so ``monitor dashboard``, ``monitor run`` and the docker-compose service
    (which binds 0.0.0.0) all refuse alike.
    """
    if not is_loopback(host) and not auth_configured(settings):
        raise ConfigError(
            f"refusing to serve the dashboard on {host} without MONITOR_DASHBOARD_TOKEN "
            "or MONITOR_DASHBOARD_USERS"
        )


def serve(settings: Settings, *, host: str | None = None, port: int | None = None) -> None:
    """Run the dashboard in this thread until interrupted (uvicorn, one process)."""
    host = host or settings.dashboard_host
    check_exposure(settings, host)
    app = create_app(settings)
    heap.settle()  # after the imports and the app: what lives for the whole process
    uvicorn.run(
        app,
        host=host,
        port=settings.dashboard_port if port is None else port,
        log_level="warning",
        access_log=False,  # query strings may carry ?token=
    )
