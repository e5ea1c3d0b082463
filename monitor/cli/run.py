"""``monitor run`` (the whole service on one machine) and ``monitor prune``.

``monitor run`` upgrades the database, then starts two children and watches them: a Celery
worker with an embedded beat on every queue, and the dashboard (and a third, ``monitor slack
listen``, when ``MONITOR_SLACK_APP_TOKEN`` turns on Slack's Socket Mode). With the defaults
that needs nothing installed: SQLite for the data and a SQLite file as the broker. Ctrl-C (or
SIGTERM) is forwarded once to each child as SIGTERM, Celery's warm shutdown, so running tasks
finish; the command then exits 0. If a child dies on its own, the others are stopped and the command
exits non-zero, so a supervisor notices.

The library never imports Celery: the worker is ``python -m celery -A workers worker``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

import click

from monitor import db as storage
from monitor.cli.context import pass_settings
from monitor.cli.terminal import printable
from monitor.config import Settings
from monitor.errors import MonitorError, UserError
from monitor.feeds import sync_feeds
from monitor.redaction import redact_url
from monitor.watchlists import load_watchlists, unsendable_destinations

__all__ = ["commands", "prune", "run", "worker_command"]

QUEUES = "poll,match,alerts"
# How long Ctrl-C waits for running tasks to finish before it kills what is left.
STOP_TIMEOUT = 30.0


def worker_command(*, concurrency: int | None, beat: bool = True) -> list[str]:
    """The Celery worker the embedded mode runs (a subprocess: monitor/ never imports Celery)."""
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "workers",
        "worker",
        "-Q",
        QUEUES,
        "-n",
        f"monitor-{os.getpid()}@%h",
        "--without-gossip",
        "--without-mingle",
    ]
    if concurrency:
        command += ["--concurrency", str(concurrency)]
    if beat:
        command.append("--beat")
    return command


def dashboard_command() -> list[str]:
    """The dashboard as a child process (the same entry point docker-compose.yml uses)."""
    return [sys.executable, "-m", "monitor.dashboard"]


def _metrics_dir(settings: Settings) -> Path:
    # Each worker process writes its samples here (monitor.metricfiles); stale files from a
    # previous run would be added to this run's counters, so the folder starts empty.
    path = settings.metrics_path
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def _die_with_parent() -> None:
    """In the child, before exec: on Linux, ask for SIGTERM if ``monitor run`` itself dies
    (kill -9, OOM), so a worker is never left orphaned, holding messages and the beat lease."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    # Not glibc: the child simply outlives us, as on other systems.
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class Supervisor:
    """Start children in their own process groups; stop them all on a signal or a death."""

    def __init__(self) -> None:
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.stopping = False

    def start(self, name: str, command: list[str], env: dict[str, str]) -> None:
        # A session of its own, so the terminal's Ctrl-C reaches only us: Celery takes a
        # second SIGINT as 'stop now', and we want to forward exactly one warm shutdown.
        # Whatever a child prints (Celery's banner and shutdown lines) is its log, not this
        # command's output: on our stderr, with the rest of the log.
        self.children[name] = subprocess.Popen(
            command,
            env=env,
            stdout=sys.stderr.fileno(),
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if not self.stopping:
            click.echo(f"monitor: {signal.Signals(signum).name}, stopping...", err=True)
        self.stopping = True

    def wait(self) -> int:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._on_signal)
        failed: str | None = None
        while not self.stopping:
            for name, child in self.children.items():
                if child.poll() is not None:
                    failed = f"{name} exited with status {child.returncode}"
                    self.stopping = True
                    break
            time.sleep(0.2)
        self.stop()
        if failed:
            click.echo(f"monitor: {failed}; stopped the rest", err=True)
            return 1
        return 0

    def stop(self) -> None:
        for child in self.children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for child in self.children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()


def _warn_unsendable(settings: Settings) -> None:
    """One line on stderr per alert destination this cycle could not send to (its secret's
    variable is unset), as a worker that sends alerts logs at its start: a cron user learns it
    before the first hit fails. The files' own errors are the watchlists' report."""
    specs = load_watchlists([settings.watchlists]).watchlists
    for item in unsendable_destinations(specs, settings):
        click.echo(
            f"monitor: warning: cannot send to {item.destination}: {item.problem} "
            f"(watchlists: {', '.join(item.watchlists)})",
            err=True,
        )


def _check_feeds(settings: Settings) -> None:
    """Apply feeds.yaml before anything starts: its broken entries are logged (and keep their
    feeds as they were); with no valid feed at all, the ConfigError is the one line printed."""
    with storage.session_scope(settings) as session:
        sync_feeds(session, settings, force=True)


@click.command()
@click.option("--once", is_flag=True, help="Run one cycle in this process, print it, exit.")
@click.option(
    "--concurrency", type=int, default=None, help="Worker processes (default: one per CPU)."
)
@click.option("--no-dashboard", is_flag=True, help="Do not start the dashboard.")
@pass_settings
def run(settings: Settings, once: bool, concurrency: int | None, no_dashboard: bool) -> None:
    """Run the whole service here: worker, beat and dashboard (Ctrl-C stops it)."""
    if concurrency is not None and concurrency < 1:
        raise UserError("--concurrency must be at least 1")
    if not once and not no_dashboard:
        # The dashboard child would refuse an exposed address without a login; say it here,
        # in one line, before anything starts.
        from monitor.dashboard import check_exposure

        check_exposure(settings, settings.dashboard_host)
    settings.ensure_dirs()
    storage.upgrade(settings)
    _check_feeds(settings)
    if once:
        from monitor.pipeline import run_once

        _warn_unsendable(settings)
        summary = run_once(settings)
        for line in summary.lines():
            click.echo(printable(line))  # feed names, URLs and servers' errors are outside text
        if summary.nothing_polled:
            # A cron job must notice a cycle in which every feed failed (a network down, a
            # proxy gone); one with nothing due did all it had to, and exits 0.
            raise MonitorError(f"none of the {summary.feeds_due} due feeds could be polled")
        return

    env = dict(os.environ)
    env["MONITOR_METRICS_DIR"] = str(_metrics_dir(settings).resolve())
    supervisor = Supervisor()
    click.echo(
        f"monitor: database {redact_url(settings.database_url)}, "
        f"broker {redact_url(settings.broker_url)}",
        err=True,
    )
    supervisor.start("worker", worker_command(concurrency=concurrency), env)
    if settings.slack_app_token is not None:
        # Clicks on Slack alerts over Socket Mode (monitor.slackapp.socketmode).
        supervisor.start("slack", [sys.executable, "-m", "monitor", "slack", "listen"], env)
    if not no_dashboard:
        supervisor.start("dashboard", dashboard_command(), env)
        click.echo(
            f"monitor: dashboard on http://{settings.dashboard_host}:{settings.dashboard_port}/",
            err=True,
        )
    sys.exit(supervisor.wait())


@click.command()
@click.option(
    "--days", type=int, default=None, help="Keep this many days (default MONITOR_RETENTION_DAYS)."
)
@pass_settings
def prune(settings: Settings, days: int | None) -> None:
    """Delete articles without hits older than the retention period."""
    from monitor.models import utcnow
    from monitor.pipeline import prune as prune_articles

    if days is not None:
        if days < 1:
            raise UserError("--days must be at least 1")
        settings = settings.model_copy(update={"retention_days": days})
    with storage.session_scope(settings) as session:
        count = prune_articles(session, settings=settings, now=utcnow())
    click.echo(f"pruned {count} articles older than {settings.retention_days} days without hits")


commands = [run, prune]


def _serve_dashboard(argv: list[str]) -> None:
    """``python -m monitor.cli.run dashboard``: what ``python -m monitor.dashboard`` was called
    before, kept for docker-compose files written then (runpy warns at its start: see
    monitor/dashboard/__main__.py)."""
    if argv != ["dashboard"]:
        sys.exit("usage: python -m monitor.dashboard")
    from monitor.dashboard.__main__ import main as serve_dashboard

    serve_dashboard()


if __name__ == "__main__":  # pragma: no cover (a docker-compose file from before)
    _serve_dashboard(sys.argv[1:])
