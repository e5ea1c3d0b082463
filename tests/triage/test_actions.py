"""Actions on a hit (issue 17): labels, repeats and undo, through the one core every
transport calls."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.config import Settings
from monitor.models import Hit, HitAction
from monitor.triage import Action, ActionError, ActionRequest, apply_action, undo_action
from tests.alerts.conftest import NOW, World, alerts


def a_hit(session: Session, world: World, settings: Settings) -> Hit:
    spec = world.watchlist("floods", alerts=alerts("console"))
    world.hit(spec, settings=settings)
    return session.scalars(select(Hit)).one()


def ask(hit: Hit, action: Action, who: str = "Ada", **extra: object) -> ActionRequest:
    return ActionRequest(hit_id=hit.id, action=action, who=who, via="dashboard", **extra)  # type: ignore[arg-type]


def test_it_labels_a_hit_with_who_and_when(
    session: Session, world: World, settings: Settings
) -> None:
    hit = a_hit(session, world, settings)
    outcome = apply_action(session, ask(hit, Action.NOT_RELEVANT), now=NOW)
    session.commit()

    assert outcome.changed
    assert outcome.summary == "Marked not relevant by Ada at 09:15 UTC"
    session.refresh(hit)
    assert (hit.label, hit.labelled_by, hit.labelled_at) == ("not_relevant", "Ada", NOW)
    act = session.get(HitAction, outcome.act_id)
    assert act is not None and (act.action, act.via, act.changed) == (
        "not_relevant",
        "dashboard",
        True,
    )


def test_it_changes_state_once_when_a_request_is_replayed(
    session: Session, world: World, settings: Settings
) -> None:
    hit = a_hit(session, world, settings)
    first = apply_action(session, ask(hit, Action.RELEVANT, key="1700000000.123"), now=NOW)
    session.commit()
    # The same key later, even asking for something else: the first act stands.
    again = apply_action(
        session,
        ask(hit, Action.NOT_RELEVANT, who="Mallory", key="1700000000.123"),
        now=NOW + timedelta(minutes=1),
    )
    session.commit()

    assert again == type(again)(first.act_id, False, first.summary)
    session.refresh(hit)
    assert (hit.label, hit.labelled_by) == ("relevant", "Ada")
    assert session.scalar(select(func.count()).select_from(HitAction)) == 1


def test_it_keeps_keys_of_different_transports_apart(
    session: Session, world: World, settings: Settings
) -> None:
    hit = a_hit(session, world, settings)
    first = apply_action(session, ask(hit, Action.RELEVANT, key="k1"), now=NOW)
    by_slack = ActionRequest(hit.id, Action.NOT_RELEVANT, "Bo", "slack", key="k1")
    second = apply_action(session, by_slack, now=NOW)
    assert second.changed and second.act_id != first.act_id


def test_it_changes_nothing_on_a_second_click(
    session: Session, world: World, settings: Settings
) -> None:
    hit = a_hit(session, world, settings)
    apply_action(session, ask(hit, Action.NOT_RELEVANT), now=NOW)
    second = apply_action(session, ask(hit, Action.NOT_RELEVANT, who="Bo"), now=NOW)

    assert not second.changed
    assert second.summary == "Already marked not relevant (by Ada at 09:15 UTC)"
    session.refresh(hit)
    assert hit.labelled_by == "Ada"
    # The second click is logged, with nothing to undo.
    assert undo_action(session, second.act_id, who="Bo", now=NOW).changed is False


def test_it_undoes_a_label_back_to_the_one_before(
    session: Session, world: World, settings: Settings
) -> None:
    hit = a_hit(session, world, settings)
    apply_action(session, ask(hit, Action.RELEVANT), now=NOW)
    relabelled = apply_action(
        session, ask(hit, Action.NOT_RELEVANT, who="Bo"), now=NOW + timedelta(minutes=2)
    )
    undone = undo_action(session, relabelled.act_id, who="Bo", now=NOW + timedelta(minutes=3))
    session.commit()

    assert undone.changed
    assert undone.summary == "Undone by Bo at 09:18 UTC: marked not relevant"
    session.refresh(hit)
    assert (hit.label, hit.labelled_by, hit.labelled_at) == ("relevant", "Ada", NOW)
    # Undo twice (a double click on Undo): once.
    twice = undo_action(session, relabelled.act_id, who="Bo", now=NOW + timedelta(minutes=4))
    assert not twice.changed and twice.summary.startswith("Already undone (by Bo")


def test_it_leaves_a_later_label_standing_on_undo(
    session: Session, world: World, settings: Settings
) -> None:
    hit = a_hit(session, world, settings)
    first = apply_action(session, ask(hit, Action.RELEVANT), now=NOW)
    apply_action(session, ask(hit, Action.NOT_RELEVANT, who="Bo"), now=NOW + timedelta(minutes=1))
    undone = undo_action(session, first.act_id, who="Ada", now=NOW + timedelta(minutes=2))

    assert not undone.changed and "changed it since" in undone.summary
    session.refresh(hit)
    assert (hit.label, hit.labelled_by) == ("not_relevant", "Bo")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"hit_id": 999}, "no hit 999"),
        ({"who": "  "}, "an action needs the name of the person taking it"),
        ({"via": "fax"}, "unknown place to act from 'fax'"),
        ({"action": "delete"}, "unknown action 'delete'"),
    ],
    ids=["unknown-hit", "nameless", "unknown-transport", "unknown-action"],
)
def test_it_refuses_a_bad_request_in_one_line(
    session: Session, world: World, settings: Settings, change: dict[str, object], message: str
) -> None:
    hit = a_hit(session, world, settings)
    values: dict[str, object] = {
        "hit_id": hit.id,
        "action": Action.RELEVANT,
        "who": "Ada",
        "via": "dashboard",
    }
    values.update(change)
    with pytest.raises(ActionError, match=message):
        apply_action(session, ActionRequest(**values), now=NOW)  # type: ignore[arg-type]
    assert session.scalar(select(func.count()).select_from(HitAction)) == 0


def test_two_workers_given_one_request_act_once(
    session: Session, world: World, settings: Settings
) -> None:
    """A replayed Slack request handled by two workers at once: the unique key lets the first
    act and sends the second to the first act, on both databases."""
    import threading

    from monitor import db as storage

    hit = a_hit(session, world, settings)
    session.commit()
    request = ask(hit, Action.NOT_RELEVANT, key="1700000000.999")
    first = apply_action(session, request, now=NOW)  # written, not yet committed
    answers: list[object] = []

    def second_worker() -> None:
        with storage.sessionmaker_for(settings)() as other:
            try:
                answers.append(apply_action(other, request, now=NOW))
                other.commit()
            except Exception as exc:  # reported below, with its type
                answers.append(exc)

    worker = threading.Thread(target=second_worker)
    worker.start()
    worker.join(0.5)  # it waits on the first's uncommitted key
    session.commit()
    worker.join(20)

    assert answers == [type(first)(first.act_id, False, first.summary)]
    assert session.scalar(select(func.count()).select_from(HitAction)) == 1
