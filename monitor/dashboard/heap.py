"""The dashboard process's heap, settled once it has started, so a request's garbage is all
the garbage collector walks.

CPython's full collection walks every tracked object: in the dashboard that is ~190,000 of
them (FastAPI, pydantic, SQLAlchemy, the app's modules), all alive for the life of the process.
The 7-day overview allocates tens of thousands of rows, so every few requests one of them paid
for a full collection: 100 to 140 ms of CPU on the 2-core test machine, the whole of its p95
(see docs/benchmarks.md). Freezing what exists after start-up moves it out of the collector's
sight (``gc.freeze``, Python >= 3.7); what requests allocate is collected as before.
"""

from __future__ import annotations

import gc

__all__ = ["settle"]


def settle() -> int:
    """Collect what start-up left over, then freeze every object alive now; returns how
    many objects are frozen."""
    # Collect first: garbage frozen with the rest would never be freed.
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
