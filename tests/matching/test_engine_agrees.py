"""The indexed engine returns exactly what a plain reference evaluator returns."""

from __future__ import annotations

from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.matching import Document, Matcher, engine, parse_query
from tests.matching.conftest import Spec
from tests.matching.reference import reference_match

WORDS = [
    "nato",
    "japan",
    "office",
    "naira",
    "market",
    "economy",
    "economic",
    "crisis",
    "indo",
    "pacific",
]
TEXT_WORDS = [
    *WORDS,
    "NATO’s",
    "Japán",
    "Indo-Pacific",
    "IndoPacific",
    "N1,572",
    "the",
    "of",
    "econometrics",
    "Market's",
]

word = st.sampled_from([*WORDS, "Indo-Pacific", "NATO's"])
leaf = st.one_of(
    word,
    st.sampled_from(["eco*", "econom*", "nat*", "mar*", "indo*"]),
    st.lists(word, min_size=2, max_size=3).map(lambda ws: '"' + " ".join(ws) + '"'),
    st.tuples(st.sampled_from(["title:", "summary:", "content:", "url:", "source:"]), word).map(
        "".join
    ),
)
positional = st.one_of(
    leaf, st.lists(leaf, min_size=2, max_size=3).map(lambda ls: "(" + " OR ".join(ls) + ")")
)
near = st.tuples(positional, st.sampled_from(["NEAR", "ONEAR"]), st.integers(1, 4), positional).map(
    lambda t: f"{t[0]} {t[1]}/{t[2]} {t[3]}"
)


def _combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.lists(children, min_size=2, max_size=3).map(" ".join),
        st.lists(children, min_size=2, max_size=3).map(" AND ".join),
        st.lists(children, min_size=2, max_size=3).map(lambda cs: "(" + " OR ".join(cs) + ")"),
        children.map(lambda c: f"NOT {c}"),
        children.map(lambda c: f"-({c})"),
    )


queries = st.recursive(st.one_of(leaf, near), _combine, max_leaves=6)
texts = st.lists(st.sampled_from(TEXT_WORDS), max_size=14).map(" ".join)
documents = st.builds(
    Document,
    id=st.just("d"),
    title=texts,
    summary=texts,
    content=texts,
    url=st.sampled_from(
        ["", "https://example.org/nato-japan-office", "https://naira.example/market"]
    ),
    source=st.sampled_from(["", "Japan Times", "Naira Market Watch"]),
)


# The word index has two layouts (monitor.matching.pairs): small indexes use dicts, large
# ones sorted arrays. Threshold 0 puts these small indexes in the array layout.
LAYOUTS = pytest.mark.parametrize("threshold", [None, 0], ids=["dicts", "arrays"])


@LAYOUTS
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(queries, min_size=1, max_size=8), st.lists(documents, min_size=1, max_size=4))
def test_it_agrees_with_the_reference_evaluator(
    threshold: int | None, texts_: list[str], docs: list[Document]
) -> None:
    specs = [Spec(f"w{i}", q) for i, q in enumerate(texts_)]
    matcher = Matcher(specs, array_threshold=threshold)
    assert matcher._index.table.uses_arrays == (threshold == 0 and len(matcher._index.table) > 0)
    for doc in docs:
        expected = [s.id for s in specs if reference_match(parse_query(s.query).root, doc)]
        assert matcher.match_ids(doc) == expected
        assert [r.watchlist_id for r in matcher.match(doc)] == expected


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(queries, min_size=2, max_size=6), documents)
def test_it_explains_a_hit_the_same_alone_or_beside_other_hits(
    texts_: list[str], doc: Document
) -> None:
    # Hits on one article share the article's tokens and the last window of offsets; one
    # hit alone starts from nothing. Both must give the same explanation and snippet.
    specs = [Spec(f"w{i}", q) for i, q in enumerate(texts_)]
    together = Matcher(specs).match(doc)
    alone = [r for s in specs for r in Matcher([s]).match(doc)]
    assert together == alone


def test_it_shares_offsets_between_hits_deep_in_a_long_article() -> None:
    filler = " ".join(f"word{i}" for i in range(300))
    doc = Document(id="d", content=f"{filler}. The naira fell. Later the Indo-Pacific NATO office.")
    specs = [Spec("a", "naira"), Spec("b", "indo-pacific nato"), Spec("c", "-japan")]
    together = Matcher(specs).match(doc)
    assert together == [r for s in specs for r in Matcher([s]).match(doc)]
    assert together[1].snippet[slice(*together[1].highlights[0])] == "Indo-Pacific"


def test_it_highlights_a_match_on_the_second_part_of_a_hyphenated_word() -> None:
    doc = Document(id="d", content="nato", url="https://example.org/nato-japan-office")
    (alone,) = Matcher([Spec("w", "url:japan")]).match(doc)
    assert alone.snippet[slice(*alone.highlights[0])] == "japan"


# Sentences with the punctuation that cuts snippets and the forms the quick path cannot
# place by itself (apostrophes, hyphens, accents), so that both paths are exercised.
SENTENCE_WORDS = [
    *TEXT_WORDS,
    *["NATO.", "market!", "crisis?", "economy;", "(japan)", "Office,", "Ja'pan", "office-NATO"],
]
long_texts = st.lists(st.sampled_from(SENTENCE_WORDS), min_size=30, max_size=120).map(" ".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(queries, min_size=1, max_size=6), long_texts, texts)
def test_the_quick_snippet_is_the_exact_one(texts_: list[str], content: str, title: str) -> None:
    # The quick path finds the first match with str.find and tokenises only its sentence;
    # it must give what tokenising the whole field with offsets gives, or step aside.
    doc = Document(id="d", title=title, content=content)
    matcher = Matcher([Spec(f"w{i}", q) for i, q in enumerate(texts_)])
    quick = matcher.match(doc)
    with mock.patch.object(engine, "_quick_snippet", return_value=None):
        exact = matcher.match(doc)
    assert quick == exact
    for hit in quick:
        for a, b in hit.highlights:
            assert 0 <= a < b <= len(hit.snippet)


# Mostly words, so that sentences run long, with every kind of sentence end now and then.
pieces = st.sampled_from(
    [*["word", "nato", "a", "Japan", "liaison"] * 12, ".", "!", "?", "…", ")", "'", "\n", " "]
)
raw_texts = st.lists(pieces, min_size=20, max_size=900).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(raw_texts, st.data())
def test_looking_back_a_little_gives_the_same_sentence(text: str, data: st.DataObject) -> None:
    # _bounds looks for the sentence's start only _LOOK_BACK characters before the match;
    # scanning from the start of the text must give the same snippet.
    anchor = data.draw(st.integers(0, len(text) - 1))
    anchor_end = data.draw(st.integers(anchor + 1, len(text)))
    near = engine._bounds(text, anchor, anchor_end)
    with mock.patch.object(engine, "_LOOK_BACK", len(text) + 1):
        assert engine._bounds(text, anchor, anchor_end) == near
