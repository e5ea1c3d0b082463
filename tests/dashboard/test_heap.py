"""The dashboard settles its heap before serving: what start-up made is frozen, so a full
collection during a request walks only what requests made (monitor/dashboard/heap.py)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest
from fastapi import FastAPI

from monitor.config import Settings
from monitor.dashboard import heap, serve


@pytest.fixture(autouse=True)
def _unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()  # the rest of the test session collects as it did
    gc.enable()


def test_it_freezes_what_start_up_made_before_serving(
    sqlite_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[object, int]] = []
    monkeypatch.setattr(
        "monitor.dashboard.uvicorn.run",
        lambda app, **_: seen.append((app, gc.get_freeze_count())),
    )
    gc.unfreeze()
    serve(sqlite_settings)
    [(app, frozen)] = seen
    assert isinstance(app, FastAPI)
    # The imports and the app: tens of thousands of objects, none left for the collector.
    assert frozen > 20_000
    assert len(gc.get_objects()) < frozen / 10


def test_it_frees_start_up_garbage_instead_of_freezing_it() -> None:
    gc.unfreeze()
    gc.disable()  # no automatic collection between here and settle()

    class Cycle:
        me: object = None

    left = Cycle()
    left.me = left  # unreachable once deleted, but only a collection frees it
    gone = weakref.ref(left)
    del left
    assert gone() is not None
    assert heap.settle() > 0
    assert gone() is None  # collected, not frozen for the life of the process
