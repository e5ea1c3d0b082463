"""Helpers for the pipeline tests: real processes on loopback, watched and always stopped."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT


class Proc:
    """A child process with its output in a file, stopped (and its group killed) at the end."""

    def __init__(self, name: str, argv: list[str], *, env: dict[str, str], cwd: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.cwd = cwd
        self.log = cwd / f"{name}.log"
        self.popen: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        handle = self.log.open("ab")
        self.popen = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=self.cwd,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        handle.close()

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_for(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return
            if self.popen is not None and self.popen.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"{self.name}: no {text!r} in its output:\n{self.output()[-3000:]}")

    def kill9(self) -> None:
        """kill -9 the whole process group: the worker and its pool, as a crash would."""
        assert self.popen is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int | None:
        if self.popen is None or self.popen.poll() is not None:
            return None if self.popen is None else self.popen.returncode
        self.popen.send_signal(sig)
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
            return None


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Callable[..., Proc]]:
    started: list[Proc] = []

    def start(name: str, argv: list[str], *, env: dict[str, str]) -> Proc:
        proc = Proc(name, argv, env=env, cwd=tmp_path)
        started.append(proc)
        return proc

    yield start
    for proc in reversed(started):
        proc.stop(timeout=15)
        if proc.popen is not None and proc.popen.poll() is None:
            proc.kill9()


def base_env(**values: Any) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    env["PYTHONPATH"] = str(ROOT)
    env["MONITOR_ALLOW_PRIVATE_FEEDS"] = "1"
    env.update({k: str(v) for k, v in values.items()})
    return env


def celery(*args: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "workers", *args]


def monitor(*args: str) -> list[str]:
    return [sys.executable, "-m", "monitor", *args]


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """``embedded(**env)``: a :class:`~tests.pipeline.harness.Stack` on the embedded default
    (SQLite, SQLite broker) in this test's folder, closed at the end."""
    from tests.pipeline.harness import Stack

    stacks: list[Stack] = []

    def make(**env: Any) -> Stack:
        stacks.append(Stack.embedded(tmp_path, env=env))
        return stacks[-1]

    yield make
    for stack in stacks:
        stack.close()
