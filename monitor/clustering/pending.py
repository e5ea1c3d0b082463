"""The stories the caller's transaction created and has not committed yet, kept beside its
session.

They stay out of the shared index, which must never hold a story that may yet be rolled back
(it would be a ghost there); :func:`monitor.clustering.assign.assign_story` compares them too,
so two copies stored in one transaction join. Once committed they are in the table and the
shared index reads them; after a rollback (also of a savepoint) they are forgotten.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from monitor.clustering.fingerprints import Fingerprint
from monitor.models import Story

__all__ = ["PendingStory", "pending_stories"]

_PENDING_KEY = "monitor.clustering.pending"


@dataclass(slots=True)
class PendingStory:
    """A story this transaction created, and the fingerprint of its first article."""

    story: Story
    fp: Fingerprint

    @property
    def signature(self) -> np.ndarray[Any, np.dtype[np.uint32]] | None:
        """The story's signature as ``stories.signature`` has it: None for a short item."""
        return None if self.fp.is_short else self.fp.hashvalues


def pending_stories(session: Session) -> list[PendingStory]:
    """The uncommitted stories of *session*'s transaction: a list kept in ``session.info``,
    to which the caller appends the stories it creates."""
    pending: list[PendingStory] | None = session.info.get(_PENDING_KEY)
    if pending is None:
        pending = session.info[_PENDING_KEY] = []

        # Once committed they are in the table and the shared index will read them.
        def _clear(_session: Session) -> None:
            session.info.get(_PENDING_KEY, []).clear()

        event.listen(session, "after_commit", _clear)
        event.listen(session, "after_rollback", _clear)
    # A story whose savepoint was rolled back is no longer persistent: drop it.
    pending[:] = [p for p in pending if inspect(p.story).persistent]
    return pending
