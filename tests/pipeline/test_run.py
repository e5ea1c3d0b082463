"""``monitor run``: its refusals, ``monitor prune``, and a child's death stopping the rest.
(Starting it with its dashboard and stopping it by Ctrl-C or SIGTERM: test_service.py.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.pipeline.conftest import Proc, base_env, monitor


def test_it_refuses_a_bad_broker_url_in_one_line(tmp_path: Path) -> None:
    env = base_env(MONITOR_BROKER_URL="kafka://nowhere")
    result = subprocess.run(
        monitor("run", "--once"), env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.startswith("monitor: MONITOR_BROKER_URL:")
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "argv",
    [["run"], ["-m", "monitor.dashboard"]],
    ids=["monitor-run", "compose-dashboard-entry-point"],
)
def test_it_refuses_an_exposed_dashboard_without_a_login_in_one_line(
    tmp_path: Path, argv: list[str]
) -> None:
    env = base_env(
        MONITOR_DATABASE_URL=f"sqlite:///{tmp_path}/monitor.db", MONITOR_DASHBOARD_HOST="0.0.0.0"
    )
    command = monitor(*argv) if argv == ["run"] else [sys.executable, *argv]
    result = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "monitor: refusing to serve the dashboard on 0.0.0.0 without MONITOR_DASHBOARD_TOKEN "
        "or MONITOR_DASHBOARD_USERS"
    )
    assert not (tmp_path / "monitor.db").exists()  # refused before touching anything


def test_it_refuses_a_bad_concurrency(tmp_path: Path) -> None:
    env = base_env(MONITOR_DATABASE_URL=f"sqlite:///{tmp_path}/monitor.db")
    result = subprocess.run(
        monitor("run", "--concurrency", "0"), env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 1
    assert result.stderr.strip() == "monitor: --concurrency must be at least 1"


def test_it_prunes_from_the_command_line(tmp_path: Path) -> None:
    env = base_env(MONITOR_DATABASE_URL=f"sqlite:///{tmp_path}/monitor.db")
    subprocess.run(monitor("db", "upgrade"), env=env, cwd=tmp_path, check=True, capture_output=True)
    result = subprocess.run(
        monitor("prune", "--days", "7"), env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "pruned 0 articles older than 7 days without hits"


@pytest.mark.slow
def test_it_stops_everything_and_fails_when_the_worker_dies(
    processes: Callable[..., Proc], tmp_path: Path
) -> None:
    env = base_env(
        MONITOR_DATABASE_URL=f"sqlite:///{tmp_path}/monitor.db",
        MONITOR_BROKER_URL=f"sqla+sqlite:///{tmp_path}/broker.db",
        MONITOR_VAR_DIR=tmp_path / "var",
    )
    run = processes("run", monitor("run", "--no-dashboard", "--concurrency", "1"), env=env)
    run.wait_for("ready.", timeout=90)
    children = Path(f"/proc/{run.pid}/task/{run.pid}/children").read_text().split()
    assert children, "monitor run has no child process"
    os.killpg(int(children[0]), signal.SIGKILL)

    assert run.popen is not None
    assert run.popen.wait(timeout=60) == 1
    assert "worker exited with status -9; stopped the rest" in run.output()
