"""A label on a hit: relevant or not relevant, who said so and when.

The label lives on the hit itself (``hits.label``, ``labelled_by``, ``labelled_at``), so the
dashboard filters on it, the API and exports carry it and precision counts it without a join.
Setting it is a compare-and-set on the label the caller read, so two people labelling at once
leave the last word, and each act knows what it replaced for its undo.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from monitor.cas import compare_and_set
from monitor.models import Hit
from monitor.states import HitLabel

__all__ = ["restore_label", "set_label"]


def _is(column: Any, value: str | None) -> Any:
    return column.is_(None) if value is None else column == value


def set_label(
    session: Session, hit: Hit, label: HitLabel, *, who: str, now: datetime
) -> dict[str, Any] | None:
    """Label *hit*; what an undo needs to put back, or None when it already had that label."""
    session.refresh(hit)
    if hit.label == label:
        return None
    before = {
        "previous": hit.label,
        "previous_by": hit.labelled_by,
        "previous_at": hit.labelled_at.isoformat() if hit.labelled_at else None,
    }
    changed = compare_and_set(
        session,
        Hit,
        Hit.id == hit.id,
        _is(Hit.label, hit.label),
        label=label,
        labelled_by=who,
        labelled_at=now,
    )
    session.refresh(hit)
    return {**before, "label": str(label)} if changed else None


def restore_label(session: Session, hit_id: int, detail: dict[str, Any], *, at: datetime) -> bool:
    """Put back the label an act replaced, unless someone has labelled the hit since (then
    their word stands). True when the label went back."""
    previous_at = detail.get("previous_at")
    return compare_and_set(
        session,
        Hit,
        Hit.id == hit_id,
        Hit.label == detail.get("label"),
        Hit.labelled_at == at,
        label=detail.get("previous"),
        labelled_by=detail.get("previous_by"),
        labelled_at=datetime.fromisoformat(previous_at) if previous_at else None,
    )
