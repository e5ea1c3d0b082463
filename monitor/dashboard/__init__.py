"""The ops dashboard and HTTP API (``monitor dashboard``, and a child of ``monitor run``)."""

from __future__ import annotations

from typing import Any

from monitor.config import Settings

__all__ = ["create_app", "serve"]


def create_app(settings: Settings) -> Any:
    from monitor.dashboard.app import create_app as make

    return make(settings)


def serve(settings: Settings, *, host: str | None = None, port: int | None = None) -> None:
    """Run the dashboard in this thread until interrupted (uvicorn, one process)."""
    import uvicorn

    uvicorn.run(
        create_app(settings),
        host=host or settings.dashboard_host,
        port=settings.dashboard_port if port is None else port,
        log_level="warning",
        access_log=False,  # query strings may carry ?token=
    )
