"""Precision per watchlist (issue 17): labelled counts and precision over a period, candidate
exclusions from the not-relevant hits, and an exclusion backtested before anyone commits it,
in the library, the command line and the watchlists page."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.cli.main import cli
from monitor.config import Settings
from monitor.dashboard.app import create_app
from monitor.matching import QuerySyntaxError
from monitor.models import Hit, utcnow
from monitor.precision import backtest_exclusion, candidate_exclusions, precision_by_watchlist
from monitor.triage import Action, ActionRequest, apply_action
from tests.alerts.conftest import World, alerts

RELEVANT = [
    "Flood waters rise in Lagos",
    "Flood warning for the Niger delta",
    "Flood leaves thousands homeless in Kano",
    "Stadium flood: football pitch under water after storm",
]
NOT_RELEVANT = [
    "Flood of goals as football side wins 7-0",
    "Transfer flood: football clubs spend record sums",
    "Football fans flood the streets after cup final",
    "A flood of football memorabilia goes to auction",
]
UNLABELLED = ["Flood defences tested", "Flood insurance claims rise"]


@pytest.fixture
def labelled(session: Session, world: World, settings: Settings) -> World:
    """'floods' (query: flood) with 4 relevant, 4 not-relevant and 2 unlabelled hits."""
    spec = world.watchlist("floods", alerts=alerts("console"))
    world.watchlist("quiet", alerts=alerts("console"))
    now = utcnow()
    for title in (*RELEVANT, *NOT_RELEVANT, *UNLABELLED):
        world.hit(spec, world.article(title, published_at=now), settings=settings, now=now)
    from monitor.models import Watchlist

    session.get_one(Watchlist, "floods").query = "flood"
    hits = {h.article.title: h.id for h in session.scalars(select(Hit))}
    for titles, action in ((RELEVANT, Action.RELEVANT), (NOT_RELEVANT, Action.NOT_RELEVANT)):
        for title in titles:
            apply_action(session, ActionRequest(hits[title], action, "Ada", "dashboard"))
    session.commit()
    return world


def test_it_counts_labels_and_precision_per_watchlist(session: Session, labelled: World) -> None:
    rows = precision_by_watchlist(session, since=utcnow() - timedelta(days=30))
    floods, quiet = rows
    assert (floods.watchlist_id, floods.hits, floods.relevant, floods.not_relevant) == (
        "floods",
        10,
        4,
        4,
    )
    assert floods.precision == 0.5
    # Nobody labelled anything: no precision, not a perfect one.
    assert (quiet.hits, quiet.precision) == (0, None)
    # Outside the period nothing counts.
    [later] = precision_by_watchlist(
        session, since=utcnow() + timedelta(minutes=1), watchlist_ids=["floods"]
    )
    assert (later.hits, later.labelled, later.precision) == (0, 0, None)


def test_it_offers_the_words_over_represented_in_not_relevant_hits(
    session: Session, labelled: World
) -> None:
    offered = candidate_exclusions(session, "floods", since=utcnow() - timedelta(days=30))
    best = offered[0]
    assert (best.term, best.not_relevant, best.not_relevant_total) == ("football", 4, 4)
    assert (best.relevant, best.others, best.others_total) == (1, 1, 6)
    # The query's own word is never offered, nor a word seen in one not-relevant hit only.
    terms = {c.term for c in offered}
    assert "flood" not in terms and "transfer" not in terms


def test_it_backtests_an_exclusion_on_the_labelled_hits(session: Session, labelled: World) -> None:
    since = utcnow() - timedelta(days=30)
    tried = backtest_exclusion(session, "floods", "flood", "football", since=since)
    assert tried.query == "(flood) AND NOT (football)"
    assert (tried.hits, tried.relevant, tried.not_relevant) == (10, 4, 4)
    assert (tried.relevant_lost, tried.not_relevant_removed, tried.unlabelled_removed) == (1, 4, 0)
    assert tried.unmatched == 0
    phrase = backtest_exclusion(session, "floods", "flood", '"football pitch"', since=since)
    assert (phrase.relevant_lost, phrase.not_relevant_removed) == (1, 0)
    with pytest.raises(QuerySyntaxError):
        backtest_exclusion(session, "floods", "flood", "(football", since=since)


def run(settings: Settings, tmp_path: Path, *args: str) -> tuple[int, str, str]:
    directory = tmp_path / "wl"
    directory.mkdir(exist_ok=True)
    (directory / "floods.yaml").write_text("query: flood\n", encoding="utf-8")
    env = {"MONITOR_DATABASE_URL": settings.database_url, "MONITOR_WATCHLISTS": str(directory)}
    result = CliRunner().invoke(cli, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_it_prints_precision_and_candidates(
    settings: Settings, labelled: World, tmp_path: Path
) -> None:
    code, out, _ = run(settings, tmp_path, "watchlists", "precision", "--since", "30d")
    assert code == 0, out
    lines = out.splitlines()
    assert lines[1].split() == ["watchlist", "hits", "relevant", "not", "rel.", "precision"]
    assert lines[2].split() == ["floods", "10", "4", "4", "50%"]
    assert lines[3].split() == ["quiet", "0", "0", "0", "-"]

    code, out, _ = run(settings, tmp_path, "watchlists", "precision", "floods")
    assert code == 0, out
    assert "candidate exclusions (most over-represented in not-relevant hits):" in out
    assert out.splitlines()[4].split()[:6] == ["football", "in", "4", "of", "4", "not-relevant,"]
    assert "    try: monitor watchlists test floods --since 30d --exclude football" in out

    code, _, err = run(settings, tmp_path, "watchlists", "precision", "nope")
    assert code == 1 and err.strip() == "monitor: no watchlist 'nope' in the database"


def test_it_backtests_an_exclusion_from_the_command_line(
    settings: Settings, labelled: World, tmp_path: Path
) -> None:
    code, out, err = run(
        settings,
        tmp_path,
        "watchlists",
        "test",
        "floods",
        "--since",
        "30d",
        "--exclude",
        "football",
    )
    assert code == 0, err
    assert (
        "--exclude football: loses 1 of 4 relevant hit(s), removes 4 of 4 not-relevant hit(s) "
        "and 0 unlabelled, of 10 hit(s)"
    ) in out.splitlines()

    code, _, err = run(settings, tmp_path, "watchlists", "test", "floods", "--exclude", "(football")
    assert code == 1 and err.startswith("monitor: --exclude '(football': ")
    assert len(err.strip().splitlines()) == 1


def test_the_watchlists_page_shows_precision(settings: Settings, labelled: World) -> None:
    with TestClient(create_app(settings)) as client:
        page = client.get("/watchlists").text
        assert '<td class="num precision">50%</td>' in page
        assert "4 of 8 labelled relevant" in page
        detail = client.get("/watchlists/floods/precision")
        assert detail.status_code == 200
        assert "football" in detail.text
        assert "monitor watchlists test floods --since 30d --exclude football" in detail.text
        api = client.get("/api/watchlists/floods/precision").json()
        assert (api["relevant"], api["not_relevant"], api["precision"]) == (4, 4, 0.5)
        assert api["candidates"][0]["term"] == "football"
        assert client.get("/watchlists/nope/precision").status_code == 404
