"""Explanations tell the truth: a hit names, in its terms, fields and highlights, only what
the article satisfied; a headline-only hit shows the lede; the query can be shown marked."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from monitor.matching import Document, Matcher, MatchResult, parse_query
from monitor.matching.query import And, Near, Node, Not, Or, Phrase, Prefix, Term
from monitor.matching.satisfied import QueryPart, marked_query
from monitor.matching.sentences import SENTENCE_END, lede, opening
from monitor.matching.text import Token
from tests.matching.conftest import Spec
from tests.matching.reference import Occurrence, counted, evaluate, field_tokens
from tests.matching.test_engine_agrees import TEXT_WORDS, queries, raw_texts


def _one(query: str, doc: Document) -> MatchResult:
    [hit] = Matcher([Spec("w", query)]).match(doc)
    return hit


def _marked(hit: MatchResult) -> list[str]:
    return [hit.snippet[a:b] for a, b in hit.highlights]


ELECTION = "election* OR (vote NEAR/3 (count* OR result*))"
CLOSE = (
    "Candidates across the country won seats, and the party leads in the north. "
    "The election was close."
)


def test_it_names_only_the_branch_the_article_satisfied() -> None:
    # The NEAR clause was never satisfied: 'vote' is nowhere, so 'country' is no reason.
    hit = _one(ELECTION, Document("1", content=CLOSE))
    assert hit.matched == ("election*",)
    assert hit.fields == ("content",)
    assert hit.explanation == {"content": ["election*"]}
    assert _marked(hit) == ["election"]


@pytest.mark.parametrize(
    ("query", "content", "matched", "marked"),
    [
        ("(naira AND cedi) OR market", "The naira market rallied.", ["market"], ["market"]),
        ("naira OR NOT cedi", "The naira market rallied.", ["naira"], ["naira"]),
        (
            "(market ONEAR/2 naira) OR rally",
            "The naira market had a rally.",
            ["rally"],
            ["rally"],
        ),
        (
            "naira NEAR/2 market",
            "Market news. Then the naira market rallied, and a market closed.",
            ["naira", "market"],
            ["naira", "market"],
        ),
        (
            "naira NEAR/1 (market OR bureau*)",
            "A bureau opened. The naira bureaus and the market.",
            ["naira", "bureau*"],
            ["naira", "bureaus"],
        ),
        ("title:naira OR market", "The naira market rallied.", ["market"], ["market"]),
        ('"naira market" -cedi', "The naira market, not the cedi's.", None, None),
    ],
    ids=["and-branch", "not-branch", "onear-wrong-order", "near-far", "near-or", "scope", "not"],
)
def test_it_leaves_out_what_did_not_count(
    query: str, content: str, matched: list[str] | None, marked: list[str] | None
) -> None:
    hits = Matcher([Spec("w", query)]).match(Document("1", content=content))
    if matched is None:  # the NOT holds against it: no hit at all
        assert hits == []
        return
    [hit] = hits
    assert list(hit.matched) == matched
    assert _marked(hit) == marked


def test_it_highlights_only_the_near_occurrences_within_the_distance_deep_in_a_field() -> None:
    # Past the quick path's reach (NEAR's occurrences are word positions): the exact path
    # marks the kept occurrence only, even with 'market' twice in the same sentence.
    filler = " ".join(f"word{i}" for i in range(300))
    doc = Document("1", content=f"{filler}. A market rose as the naira market fell; market.")
    hit = _one("naira NEAR/1 market", doc)
    assert _marked(hit) == ["naira", "market"]
    assert hit.snippet.startswith("A market rose")
    [(_, end)] = [span for span in hit.highlights if hit.snippet[slice(*span)] == "market"]
    assert hit.snippet[:end].endswith("the naira market")


# -- the property: held to the reference evaluator --------------------------------------

sentence_words = st.sampled_from([*TEXT_WORDS, "nato.", "market.", "Japan!", "office."])
sentences = st.lists(sentence_words, max_size=14).map(" ".join)
documents = st.builds(
    Document,
    id=st.just("d"),
    title=sentences,
    summary=st.one_of(st.just(""), sentences),
    content=sentences,
    url=st.sampled_from(["", "https://example.org/nato-japan-office"]),
    source=st.sampled_from(["", "Japan Times"]),
)


def _paths(node: Node, above: tuple[Node, ...] = ()) -> list[tuple[Node, tuple[Node, ...]]]:
    """Each word, wildcard and phrase of *node* with the nodes above it."""
    if isinstance(node, Term | Prefix | Phrase):
        return [(node, above)]
    below = (*above, node)
    if isinstance(node, Not):
        return _paths(node.child, below)
    if isinstance(node, Near):
        return _paths(node.left, below) + _paths(node.right, below)
    assert isinstance(node, And | Or)
    return [path for child in node.children for path in _paths(child, below)]


def _snippet_field(hit: MatchResult) -> str | None:
    """The field the snippet was taken from, by the rule in monitor.matching.snippets (None:
    the lede's opening, shown for a hit found in the title or with no term)."""
    for name in ("content", "summary", "lede"):
        if name in hit.fields:
            return name
    if "title" in hit.fields or not hit.fields:
        return None
    return next(name for name in ("url", "source") if name in hit.fields)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(queries, min_size=1, max_size=6), documents)
@example([ELECTION], Document("d", content=CLOSE))
@example(["nato NEAR/1 japan"], Document("d", content="japan office nato japan. nato"))
def test_it_reports_only_what_the_reference_says_counts(texts: list[str], doc: Document) -> None:
    fields = field_tokens(doc)
    for hit in Matcher([Spec(f"w{i}", q) for i, q in enumerate(texts)]).match(doc):
        root = parse_query(texts[int(hit.watchlist_id[1:])]).root
        assert evaluate(root, fields)
        reference = counted(root, fields)
        assert reference is not None

        # Every reported term, in every field it is reported in, belongs to a word of the
        # query that has no NOT above it, whose every enclosing clause the reference says
        # holds, and that occurs in that field.
        reported = {(term, name) for name, terms in hit.explanation.items() for term in terms}
        assert set(hit.fields) == {name for _, name in reported}
        assert set(hit.matched) == {term for term, _ in reported}
        for term, name in reported:
            assert any(
                leaf.text == term
                and name in getattr(leaf, "fields", ())
                and not any(isinstance(node, Not) for node in above)
                and all(evaluate(node, fields) for node in above)
                and any(t == term and f == name for t, f, _ in reference)
                for leaf, above in _paths(root)
            ), (term, name)
        # ... and nothing that counts is left out.
        assert reported == {(term, name) for term, name, _ in reference}

        # A hit names a term whenever something counts; a query without NOT always does.
        assert bool(hit.matched) == bool(reference)
        if not any(isinstance(node, Not) for _, above in _paths(root) for node in above):
            assert hit.matched

        _check_highlights(hit, doc, fields, reference)


def _check_highlights(
    hit: MatchResult, doc: Document, fields: dict[str, list[Token]], reference: set[Occurrence]
) -> None:
    """Every highlight covers words of occurrences that count, in the snippet's field."""
    name = _snippet_field(hit)
    if name is None and lede(doc).strip():
        assert hit.highlights == ()  # the lede's opening: no occurrence in it counts
        return
    if name is None:  # no lede: the headline, marked where it counts
        if "title" not in hit.fields:
            assert hit.highlights == ()
            return
        name = "title"
    text = lede(doc) if name == "lede" else getattr(doc, name)
    body = hit.snippet.removeprefix("…").removesuffix("…")
    if text.count(body) != 1:  # a repeated sentence: no telling which one is shown
        return
    shift = text.index(body) - (len(hit.snippet) - len(hit.snippet.removeprefix("…")))
    counting = [span for _, f, span in reference if f == name]
    assert hit.highlights
    for a, b in hit.highlights:
        inside = [t for t in fields[name] if a + shift <= t.start and t.end <= b + shift]
        assert inside, (hit.snippet, a, b)
        for token in inside:
            assert any(s <= token.position and token.last <= e for s, e in counting), (
                hit.snippet[a:b],
                token,
            )


# -- a headline-only hit shows the lede ------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "snippet"),
    [
        (
            Document(
                "1",
                title="Naira falls to a record low",
                summary="The currency lost 3% on Monday. Traders blamed demand.",
                content="LAGOS - The currency lost ground again. More text follows here.",
            ),
            "The currency lost 3% on Monday. Traders blamed demand.",
        ),
        (
            Document(
                "1",
                title="Naira falls to a record low",
                content="The currency lost ground. Traders blamed demand. Banks were shut. "
                "A fourth sentence is not the lede.",
            ),
            "The currency lost ground. Traders blamed demand.",
        ),
        (Document("1", title="Naira falls to a record low"), "Naira falls to a record low"),
    ],
    ids=["summary", "first-sentences", "no-body"],
)
def test_it_shows_the_lede_when_only_the_headline_matched(doc: Document, snippet: str) -> None:
    hit = _one("naira", doc)
    assert hit.fields == ("title",)
    assert hit.snippet == snippet
    if doc.summary or doc.content:
        assert hit.highlights == ()  # the lede holds no occurrence that counts
    else:
        assert _marked(hit) == ["Naira"]


def test_it_shows_a_long_lede_cut_at_a_word() -> None:
    content = " ".join(["word"] * 200)
    hit = _one("title:naira", Document("1", title="Naira news", content=content))
    assert hit.snippet.endswith("…") and len(hit.snippet) <= 321
    assert hit.snippet.removesuffix("…").split() == ["word"] * len(hit.snippet.split())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("One. Two! Three? Four.", "One. Two! Three?"),
        ("One.\n\nTwo.) Three.” Four", "One.\n\nTwo.) Three.”"),
        ("No end at all", "No end at all"),
        ("Short. " + "x" * 2000, "Short."),
        ("y " * 600, ("y " * 500).rstrip()),
    ],
    ids=["three", "closers", "no-end", "long-second", "no-end-long"],
)
def test_it_takes_the_first_three_sentences_for_the_lede(text: str, expected: str) -> None:
    assert opening(text) == expected


def _opening_by_scanning(text: str, limit: int) -> str:
    """The plain way: every sentence end SENTENCE_END finds, from the start."""
    ends = [found.end() for found in SENTENCE_END.finditer(text, 0, limit + 1)][:3]
    if len(ends) == 3 or len(text) <= limit:
        return text[: ends[2] if len(ends) == 3 else len(text)].rstrip()
    if ends:
        return text[: ends[-1]].rstrip()
    space = max(text.rfind(" ", 0, limit), text.rfind("\n", 0, limit))
    return text[: space + 1 if space > 0 else 0].rstrip()


@settings(max_examples=500, deadline=None)
@given(raw_texts, st.sampled_from([10, 80, 1000]))
def test_the_lede_ends_where_a_full_scan_finds_the_third_sentence_end(
    text: str, limit: int
) -> None:
    assert opening(text, limit=limit) == _opening_by_scanning(text, limit)


# -- the query, marked ------------------------------------------------------------------


def test_it_marks_the_parts_of_the_query_that_counted() -> None:
    parts = marked_query(ELECTION + ' -"naira marley" title:vote', Document("1", content=CLOSE))
    assert parts == [
        QueryPart("election*", True),
        QueryPart(" OR (", None),
        QueryPart("vote", False),
        QueryPart(" NEAR/3 (", None),
        QueryPart("count*", False),
        QueryPart(" OR ", None),
        QueryPart("result*", False),
        QueryPart(")) -", None),
        QueryPart('"naira marley"', False),
        QueryPart(" title:", None),
        QueryPart("vote", False),
    ]
    assert "".join(part.text for part in parts) == ELECTION + ' -"naira marley" title:vote'


@settings(max_examples=200, deadline=None)
@given(queries, documents)
def test_it_marks_exactly_the_words_the_explanation_names(query: str, doc: Document) -> None:
    parts = marked_query(query, doc)
    assert "".join(part.text for part in parts) == query
    marked = {part.text for part in parts if part.satisfied}
    hits = Matcher([Spec("w", query)]).match(doc)
    named = set(hits[0].matched) if hits else set()
    assert marked == named


def test_it_leaves_a_query_that_no_longer_parses_unmarked() -> None:
    assert marked_query("naira AND", Document("1", content="naira")) == [
        QueryPart("naira AND", None)
    ]
