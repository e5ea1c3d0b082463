"""The indexed engine returns exactly what a plain reference evaluator returns."""

from __future__ import annotations

import re
from unittest import mock

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from monitor.matching import Document, Matcher, document, parse_query, snippets
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
    st.tuples(
        st.sampled_from(["title:", "lede:", "summary:", "content:", "url:", "source:"]), word
    ).map("".join),
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


@LAYOUTS
def test_it_tells_many_wildcards_on_one_article_apart(threshold: int | None) -> None:
    # Past document._SCANS prefixes, the article's tokens' first characters turn most away
    # before the joined tokens are searched: short prefixes, ones that begin a word only
    # inside another word, ones that begin a hyphen part, and ones that begin nothing.
    stems = ["nat", "natx", "ecox", "econ", "indop", "pacif", "offic", "offi", "mark", "japx"]
    stems += [f"zz{i:02d}" for i in range(25)] + ["conom", "rket", "acific"]
    assert len(stems) > document._SCANS
    specs = [Spec(f"w{i}", f"{stem}* naira") for i, stem in enumerate(stems)]
    matcher = Matcher(specs, array_threshold=threshold)
    doc = Document(
        id="d", title="Naira news", content="NATO’s economy and the Indo-Pacific office market"
    )
    expected = [s.id for s in specs if reference_match(parse_query(s.query).root, doc)]
    assert [stems[int(w[1:])] for w in expected] == [
        "nat",
        "econ",
        "indop",
        "pacif",
        "offic",
        "offi",
        "mark",
    ]
    assert matcher.match_ids(doc) == expected
    assert [r.watchlist_id for r in matcher.match(doc)] == expected


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
    *["NATO.", "market!", "crisis?", "economy;", "(japan)", "Office,", "Ja'pan", "o'Japan"],
    "office-NATO",
    # folding that moves characters: a combining accent (dropped) and a ligature (widened)
    *["Japa\u0301n", "o\ufb03ce", "Yorùbá", "e\u0323\u0301"],
]
long_texts = st.lists(st.sampled_from(SENTENCE_WORDS), min_size=30, max_size=120).map(" ".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(queries, min_size=1, max_size=6), long_texts, texts)
# The apostrophe cases str.find gets wrong, which random sentences seldom line up.
@example(["japan"], "nato o'Japan said japan office", "")
@example(["japan", "nato"], "The NATO's office. Then nat'o japan-nato Japan's", "")
@example(["eco*"], "o'economy and econometrics's economy", "")
@example(["japan"], "office japan'x then japan", "")
# An altered spelling first: the quick path must look for it too.
@example(["IndoPacific"], "nato Indo-Pacific office. Then IndoPacific", "")
@example(["japan"], "nato Ja'pan office. Then japan", "")
@example(["indopa*"], "nato Indo-Pacific office. Then indopacific", "")
# A phrase across a sentence end merges with the highlight before it.
@example(['nato "nato nato"'], "nato " * 30 + "NATO. nato", "")
def test_the_quick_snippet_is_the_exact_one(texts_: list[str], content: str, title: str) -> None:
    # The quick path finds the first match with str.find and tokenises only its sentence;
    # it must give what tokenising the whole field with offsets gives, or step aside.
    doc = Document(id="d", title=title, content=content)
    matcher = Matcher([Spec(f"w{i}", q) for i, q in enumerate(texts_)])
    quick = matcher.match(doc)
    with mock.patch.object(snippets, "_quick_snippet", return_value=None):
        exact = matcher.match(doc)
    assert quick == exact
    for hit in quick:
        for a, b in hit.highlights:
            assert 0 <= a < b <= len(hit.snippet)


# Mostly words, so that sentences run long, with every kind of sentence end now and then.
pieces = st.sampled_from(
    [
        *(["word", "nato", "a", "Japan", "liaison"] * 12),
        *".!?…)'\n ",
        *[".)", "?”", "\n\n", ".\n \n", "nato.", "word.”", "Japan!)", "a…"],
    ]
)
raw_texts = st.lists(pieces, min_size=20, max_size=900).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(raw_texts, st.data())
def test_looking_back_a_little_gives_the_same_sentence(text: str, data: st.DataObject) -> None:
    # _bounds looks for the sentence's start only _LOOK_BACK characters before the match;
    # scanning from the start of the text must give the same snippet.
    anchor = data.draw(st.integers(0, len(text) - 1))
    anchor_end = data.draw(st.integers(anchor + 1, len(text)))
    near = snippets._bounds(text, anchor, anchor_end)
    with mock.patch.object(snippets, "_LOOK_BACK", len(text) + 1):
        assert snippets._bounds(text, anchor, anchor_end) == near


def test_the_quick_snippet_places_a_match_after_folding_moved_characters() -> None:
    # Combining tone marks (dropped by folding) and a ligature (widened) before the match:
    # the quick path maps its guess back to the text rather than giving up.
    content = (
        "Ọ\u0300rọ\u0300 Yoru\u0300ba\u0301 \ufb01nance news. "
        + "Filler words here. " * 30
        + "The NATO office in Ja\u0301pan opened."
    )
    doc = Document(id="d", content=content)
    d = document.TokenisedDocument(doc)
    leaves = [parse_query("nato").root]
    quick = snippets._quick_snippet(content, d.fields["content"], leaves)
    assert quick is not None
    snippet, highlights = quick
    assert snippet == "The NATO office in Ja\u0301pan opened."
    assert [snippet[a:b] for a, b in highlights] == ["NATO"]
    (hit,) = Matcher([Spec("w", "nato")]).match(doc)
    assert (hit.snippet, hit.highlights) == quick


@settings(max_examples=500, deadline=None)
@given(raw_texts, st.data())
def test_the_sentence_start_is_the_one_a_full_scan_finds(text: str, data: st.DataObject) -> None:
    low = data.draw(st.integers(0, len(text)))
    anchor = data.draw(st.integers(low, len(text)))
    scanned = [m.end() for m in snippets._SENTENCE_END.finditer(text, low, anchor)]
    assert snippets._sentence_start(text, low, anchor) == (scanned[-1] if scanned else low)


@pytest.mark.parametrize(
    "text", ['x." \n\n y', "a.) b", "a.\n\n  b", "a\n \n\nb", "end?”  ) next", "no end here"]
)
def test_the_sentence_start_survives_punctuation_runs(text: str) -> None:
    for anchor in range(len(text) + 1):
        scanned = [m.end() for m in snippets._SENTENCE_END.finditer(text, 0, anchor)]
        assert snippets._sentence_start(text, 0, anchor) == (scanned[-1] if scanned else 0)


def _collapse_one_by_one(
    text: str, spans: list[tuple[int, int]]
) -> tuple[str, list[tuple[int, int]]]:
    """The plain way to tidy whitespace: character by character, keeping a map."""
    out, where, space = "", [], False
    for char in text:
        if char.isspace():
            out += "" if space else " "
            space = True
        else:
            out += char
            space = False
        where.append(len(out))
    return out, [(where[a] - 1, where[b - 1]) for a, b in spans]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["ab", "c", " ", "  ", "\n", "\n\n", "\t ", "\u00a0"]), min_size=1))
def test_tidying_whitespace_keeps_the_marks_on_their_words(parts: list[str]) -> None:
    text = "".join(parts).strip() or "x"
    words = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
    tidied, kept = snippets._collapse("…", text, "", words)
    expected, spans = _collapse_one_by_one(text, words)
    assert tidied == "…" + expected
    assert kept == tuple((a + 1, b + 1) for a, b in spans)
    assert [tidied[a:b] for a, b in kept] == [text[a:b] for a, b in words]
