"""Where each process's Prometheus samples live: a folder per host under MONITOR_METRICS_DIR.

Celery runs several processes, and prometheus_client shares their counters through files, one
per process, named after its PID, in the folder ``PROMETHEUS_MULTIPROC_DIR`` names. That
variable must be set before prometheus_client is first imported, so a worker sets it itself
(:func:`share_samples`, called by ``workers/app.py`` before it loads the tasks) from the
settings: nobody has to export it by hand for ``/metrics`` to show the workers' counters.

Each host writes into a folder of its own under the metrics folder, and the dashboard adds up
every host's files (:func:`sample_files`). Containers sharing one volume (docker-compose.yml)
then never write to the same file: each container numbers its processes from 1, so two of
them would otherwise both write ``counter_7.db``.

This module imports nothing of prometheus_client, so it can run before the choice is made.
"""

from __future__ import annotations

import os
import re
import socket
import sys
from pathlib import Path

__all__ = ["ENVIRONMENT_VARIABLE", "host_folder", "sample_files", "share_samples"]

ENVIRONMENT_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def host_folder(root: Path) -> Path:
    """This host's folder under *root* (the host name, reduced to characters safe in a path)."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", socket.gethostname()).strip(".") or "host"
    return root / name


def share_samples(root: Path) -> Path | None:
    """Make this process write its samples under *root*, for the dashboard to add up.

    Returns the folder, or None when sharing is not possible: prometheus_client was imported
    already (it chose to keep samples in memory then, and a variable set now would only
    mislead the processes started from this one), or the folder cannot be created (said on
    stderr in one line; the worker runs on, its counters only missing from ``/metrics``).
    """
    if "prometheus_client" in sys.modules:
        return None
    folder = host_folder(root)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(
            f"monitor: metrics not shared: cannot create {folder}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return None
    os.environ[ENVIRONMENT_VARIABLE] = str(folder.resolve())
    return folder


def sample_files(root: Path) -> list[str]:
    """Every process's sample file under *root*, from every host's folder."""
    if not root.is_dir():
        return []
    return sorted(str(path) for path in root.glob("*/*.db") if path.is_file())
