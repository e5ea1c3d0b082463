"""Relevance controls: the lede: scope, min_mentions, the score and min_score, in the matcher,
in the watchlist file and in `monitor watchlists test`."""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest import mock

import jsonschema
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings

from benchmarks import relevance as relevance_backtest
from monitor import db as storage
from monitor.cli.main import cli
from monitor.config import Settings
from monitor.matching import Document, Matcher, engine, parse_query
from monitor.matching.relevance import BODY_WEIGHT, LEDE_WEIGHT, SATURATION, TITLE_WEIGHT
from monitor.matching.sentences import is_lede
from monitor.models import Article
from monitor.watchlists import load_watchlists
from monitor.watchlists.spec import json_schema
from tests.conftest import shared_data
from tests.matching.reference import counted, field_tokens
from tests.matching.test_engine_agrees import queries
from tests.matching.test_explanations import documents


@dataclass
class Controlled:
    """A watchlist stand-in with relevance controls."""

    id: str
    query: str
    min_mentions: int | None = None
    min_score: float | None = None
    enabled: bool = True
    feeds: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)


def _ids(matcher: Matcher, doc: Document) -> list[str]:
    return [hit.watchlist_id for hit in matcher.match(doc)]


def _score(query: str, doc: Document) -> float:
    [(_, weight)] = Matcher([Controlled("w", query)]).weigh(doc)
    return weight.score


# -- the lede: scope --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (Document("1", summary="The naira fell.", content="Later, the naira rose."), True),
        (Document("1", summary="The cedi fell.", content="The naira fell."), False),
        (Document("1", content="One. Two. The naira fell. Four."), True),
        (Document("1", content="One. Two. Three. The naira fell."), False),
        (Document("1", title="Naira falls", content="One. Two. Three."), False),
        (Document("1", summary="  ", content="The naira fell."), True),
    ],
    ids=["summary", "summary-not-content", "third-sentence", "fourth-sentence", "title", "blank"],
)
def test_it_scopes_a_term_to_the_lede(doc: Document, expected: bool) -> None:
    assert bool(Matcher([Controlled("w", "lede:naira")]).match(doc)) is expected


def test_it_explains_and_highlights_a_lede_match() -> None:
    doc = Document("1", title="Markets", content="The naira fell. Two. Three. The naira rose.")
    [hit] = Matcher([Controlled("w", "lede:naira")]).match(doc)
    assert hit.fields == ("lede",)
    assert hit.explanation == {"lede": ["naira"]}
    assert [hit.snippet[a:b] for a, b in hit.highlights] == ["naira"]
    assert hit.snippet.startswith("The naira fell.")


def test_it_tokenises_the_lede_only_when_a_watchlist_searches_it() -> None:
    doc = Document("1", content="The naira fell. More.")
    with mock.patch.object(engine.TokenisedDocument, "lede_tokens") as lede_tokens:
        Matcher([Controlled("w", "naira")]).match_ids(doc)
    lede_tokens.assert_not_called()


# -- min_mentions -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "doc", "kept"),
    [
        ("naira", Document("1", content="The naira fell."), False),
        ("naira", Document("1", title="Naira", content="The naira fell."), True),
        ("naira", Document("1", content="The naira fell as the naira."), True),
        ('"naira market"', Document("1", content="naira market, naira market"), True),
        # Terms under NOT, or under a branch that did not hold, are not mentions.
        ("naira -cedi", Document("1", content="naira"), False),
        ("naira OR (market NEAR/1 cedi)", Document("1", content="naira market market"), False),
        ("naira OR (market NEAR/1 cedi)", Document("1", content="naira market cedi"), True),
        # One place found by two terms is one mention.
        ("naira OR nai*", Document("1", content="The naira fell."), False),
        # The lede is the summary or the content, not a third place.
        ("lede:naira naira", Document("1", summary="The naira fell."), False),
    ],
    ids=[
        "once",
        "title-and-content",
        "twice",
        "phrase-twice",
        "not",
        "near-not-held",
        "near-held",
        "same-place",
        "lede-not-twice",
    ],
)
def test_it_drops_hits_with_fewer_mentions(query: str, doc: Document, kept: bool) -> None:
    matcher = Matcher([Controlled("w", query, min_mentions=2)])
    assert bool(matcher.match(doc)) is kept
    assert len(matcher.weigh(doc)) == 1  # a hit all the same, before the control


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(queries, documents)
def test_it_counts_mentions_as_the_reference_does(query: str, doc: Document) -> None:
    weighed = Matcher([Controlled("w", query)]).weigh(doc)
    reference = counted(parse_query(query).root, field_tokens(doc))
    if not weighed:
        return
    assert reference is not None
    fields = field_tokens(doc)
    has_summary = is_lede(doc.summary)
    lede_of = "summary" if has_summary else "content"
    places = {(lede_of if name == "lede" else name, start) for _, name, (start, _) in reference}
    [(_, found)] = weighed
    assert found.mentions == len(places)
    # The score, from the reference's word positions: the lede's words are the first ones
    # of the summary or the content.
    lede_words = max((token.last for token in fields["lede"]), default=-1) + 1
    weight = 0.0
    for name, start in places:
        if name == "title":
            weight += TITLE_WEIGHT
        elif (name == "summary" and has_summary) or (name == lede_of and start < lede_words):
            weight += LEDE_WEIGHT
        else:
            weight += BODY_WEIGHT
    assert found.score == pytest.approx(weight / (weight + SATURATION))
    assert 0 <= found.score < 1


# -- the score --------------------------------------------------------------------------


BODY = "Filler one. Filler two. Filler three. "


@pytest.mark.parametrize(
    ("doc", "score"),
    [
        (Document("1", content=BODY + "The naira fell."), 1 / 5),
        (Document("1", content=BODY + "The naira fell, naira."), 2 / 6),
        (Document("1", content="The naira fell. " + BODY), 2 / 6),
        (Document("1", summary="The naira fell.", content=BODY), 2 / 6),
        (Document("1", summary="Summary.", content="The naira fell."), 1 / 5),
        (Document("1", title="Naira", content=BODY), 3 / 7),
        (Document("1", title="Naira", content="The naira fell. " + BODY), 5 / 9),
    ],
    ids=[
        "body",
        "body-twice",
        "content-lede",
        "summary-lede",
        "content-after-summary",
        "title",
        "title-and-lede",
    ],
)
def test_it_weighs_title_above_lede_above_body(doc: Document, score: float) -> None:
    assert _score("naira", doc) == pytest.approx(score)


def test_it_saturates_below_one() -> None:
    scores = [_score("naira", Document("1", content=BODY + "naira " * n)) for n in (1, 2, 3, 50)]
    assert scores == sorted(scores) and scores[-1] < 1
    assert scores[2] - scores[1] < scores[1] - scores[0]  # each mention adds less


def test_it_scores_a_not_only_hit_zero() -> None:
    [hit] = Matcher([Controlled("w", "-cedi")]).match(Document("1", content="naira"))
    assert hit.score == 0.0


def test_it_returns_the_score_with_the_hit_and_drops_hits_below_min_score() -> None:
    doc = Document("1", title="Naira", content="The naira fell.")
    [hit] = Matcher([Controlled("w", "naira")]).match(doc)
    assert hit.score == pytest.approx(5 / 9)
    assert _ids(Matcher([Controlled("w", "naira", min_score=0.55)]), doc) == ["w"]
    assert _ids(Matcher([Controlled("w", "naira", min_score=0.56)]), doc) == []


def test_it_weighs_only_hits() -> None:
    # Articles that match nothing cost nothing here; a hit costs one weighing.
    matcher = Matcher([Controlled("w", "naira", min_score=0.1), Controlled("v", "cedi")])
    with mock.patch.object(engine, "relevance", wraps=engine.relevance) as weighed:
        for number in range(50):
            matcher.match(Document(str(number), content=f"Rain in Lagos, day {number}."))
        assert weighed.call_count == 0
        matcher.match(Document("x", content="The naira fell."))
        assert weighed.call_count == 1


# -- the watchlist file -----------------------------------------------------------------


def _write(directory: Path, text: str) -> Path:
    path = directory / "w.yaml"
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("query: naira\nmin_mentions: 0\n", "2:15: min_mentions: Input should be greater than"),
        ("query: naira\nmin_mentions: '2'\n", "2:15: min_mentions: Input should be a valid int"),
        ("query: naira\nmin_score: '0.5'\n", "2:12: min_score: Input should be a number"),
        ("query: naira\nmin_score: 1\n", "2:12: min_score: Input should be less than 1"),
        ("query: naira\nmin_score: -0.1\n", "2:12: min_score: Input should be greater than"),
        (
            "query: -naira\nmin_mentions: 2\n",
            "2:15: min_mentions: needs a query with words to count",
        ),
        (
            "query: naira\nmin_mentions: 2\nexamples:\n  match: [The naira fell.]\n",
            "4:11: example matches the query but its relevance controls drop it "
            "(1 mention(s), score 0.33)",
        ),
        ("query: lede:nara*x\n", "1:13: '*' is allowed only at the end of a word"),
    ],
    ids=["zero", "text", "score-text", "score-one", "negative", "not-only", "example", "lede"],
)
def test_it_reports_bad_controls_with_file_and_line(tmp_path: Path, text: str, error: str) -> None:
    path = _write(tmp_path, text)
    [problem] = load_watchlists([path]).errors
    assert str(problem).startswith(f"{path}:{error}")


def test_it_loads_controls_and_puts_them_in_the_schema(tmp_path: Path) -> None:
    text = "query: lede:naira market\nmin_mentions: 2\nmin_score: 0.3\n"
    path = _write(tmp_path, text)
    result = load_watchlists([path])
    assert result.ok
    [spec] = result.watchlists
    assert (spec.min_mentions, spec.min_score) == (2, 0.3)
    schema = json_schema()
    jsonschema.Draft202012Validator(schema).validate(yaml.safe_load(text))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate({"query": "x", "min_score": 1})
    doc = Document("1", content="The naira market. The market, the market.")
    assert _ids(Matcher(result.watchlists), doc) == ["w"]


# -- monitor watchlists test -------------------------------------------------------------


def test_it_backtests_what_each_control_removes(settings: Settings, tmp_path: Path) -> None:
    directory = tmp_path / "wl"
    directory.mkdir()
    (directory / "naira.yaml").write_text("query: naira\nmin_score: 0.3\n", encoding="utf-8")
    now = datetime.now(UTC)
    articles = [
        ("Naira slides", "The naira fell. The naira fell again."),  # 0.64, 3 mentions
        ("Markets", "Stocks. Bonds. Gold. Late on, the naira fell."),  # 0.2, 1
        ("Markets", "Stocks. Bonds. Gold. The naira and the naira."),  # 0.33, 2
        ("Weather", "Rain in Lagos."),
    ]
    with storage.session_scope(settings) as session:
        for number, (title, content) in enumerate(articles):
            session.add(
                Article(
                    identity=f"{number:064d}",
                    url=f"https://example.org/{number}",
                    title=title,
                    content=content,
                    first_seen_at=now - timedelta(hours=number + 1),
                )
            )
    env = {"MONITOR_DATABASE_URL": settings.database_url, "MONITOR_WATCHLISTS": str(directory)}
    result = CliRunner().invoke(cli, ["watchlists", "test", "naira"], env=env)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("naira: 3 hit(s) in 4 article(s) since ")
    assert lines[1:5] == [
        "scores: lowest 0.20, median 0.33, highest 0.64",
        "min_mentions 2: removes 1 hit(s), 2 left (not in the file)",
        "min_score 0.3: removes 1 hit(s), 2 left (as in the file)",
        "both: removes 1 hit(s), 2 left (together)",
    ]
    assert "  score 0.20, 1 mention(s), dropped by the controls in force" in lines

    result = CliRunner().invoke(
        cli, ["watchlists", "test", "naira", "--min-mentions", "3", "--min-score", "0.5"], env=env
    )
    lines = result.stdout.splitlines()
    assert lines[2:5] == [
        "min_mentions 3: removes 2 hit(s), 1 left (not in the file)",
        "min_score 0.5: removes 2 hit(s), 1 left (the file has 0.3)",
        "both: removes 2 hit(s), 1 left (together)",
    ]
    result = CliRunner().invoke(cli, ["watchlists", "test", "naira", "--min-score", "1"], env=env)
    assert result.exit_code == 2 and "--min-score" in result.output


def test_it_prints_the_watchlist_line_as_json_for_the_other_tools(tmp_path: Path) -> None:
    # `monitor match` carries the score along with the other reasons.
    directory = tmp_path / "wl"
    directory.mkdir()
    (directory / "naira.yaml").write_text("query: naira\n", encoding="utf-8")
    page = tmp_path / "a.txt"
    page.write_text("Naira news\nThe naira fell.\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["match", "--watchlists", str(directory), str(page)])
    [line] = [json.loads(text) for text in result.stdout.splitlines()]
    assert line["score"] == 0.556


# -- the backtest in docs/watchlists.md ----------------------------------------------------


def test_it_backtests_each_control_on_labelled_news() -> None:
    # benchmarks/relevance.py makes the table in docs/watchlists.md; here on the English
    # test set alone: each control removes hits, and more of those left are on the topic.
    directory = shared_data("labeled", "masakhanews")
    items = [item for item in relevance_backtest.articles(directory) if "eng-test" in item.doc.id]
    [(_, topic, columns)] = relevance_backtest.backtest(items, 0.4, [("election*", "politics")])
    written = columns["as written"].hits

    def on_topic(hits: list[relevance_backtest.Labelled]) -> float:
        return sum(1 for item in hits if item.topic == topic) / len(hits)

    for label in ("min_mentions: 2", "min_score: 0.4", "lede:"):
        kept = columns[label].hits
        assert 0 < len(kept) < len(written), label
        assert {item.doc.id for item in kept} <= {item.doc.id for item in written}
        assert on_topic(kept) > on_topic(written), label
    assert relevance_backtest.table([(_, topic, columns)])[0] == (
        "| query | topic | as written | min_mentions: 2 | min_score: 0.4 | lede: |"
    )
