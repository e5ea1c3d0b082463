"""Every operator and normalisation rule of the query language, as a table of cases."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.matching import Document, Matcher, QuerySyntaxError, parse_query
from tests.matching.conftest import Spec, matches

# (id, query, text that must match, text that must not match)
CASES = [
    ("word", "naira", "The naira fell.", "The cedi fell."),
    ("implicit-and", "naira market", "Market traders sold the naira.", "The naira fell."),
    ("explicit-and", "naira AND market", "the market and the naira", "the naira alone"),
    ("or", "naira OR cedi", "The cedi fell.", "The rand fell."),
    ("not", "naira NOT cedi", "The naira fell.", "The naira and the cedi fell."),
    ("minus-word", "naira -cedi", "The naira fell.", "The naira and the cedi fell."),
    ("minus-phrase", 'naira -"naira marley"', "The naira fell.", "Naira Marley sang."),
    ("minus-group", "naira -(cedi OR rand)", "The naira fell.", "naira and rand"),
    ("not-only", "NOT naira", "The cedi fell.", "The naira fell."),
    ("lowercase-or-is-a-word", "naira or cedi", "naira or cedi", "The cedi fell."),
    ("and-binds-tighter-than-or", "a1 b1 OR c1", "only c1 here", "only a1 here"),
    ("parentheses", "(naira OR cedi) market", "cedi market", "cedi rally"),
    ("phrase", '"parallel market"', "in the parallel market", "the market is parallel"),
    ("phrase-adjacent-only", '"liaison office"', "a liaison office", "liaison and office"),
    ("near", "naira NEAR/3 market", "market for the naira", "naira is one of many in the market"),
    ("near-either-order", "market NEAR/2 naira", "the naira market", "naira x y z market"),
    (
        "near-phrase",
        '"liaison office" NEAR/4 Japan',
        "Japan and its liaison office",
        "liaison office x x x x x Japan",
    ),
    (
        "near-group",
        "(NATO OR alliance) NEAR/2 Japan",
        "the alliance in Japan",
        "alliance a b c Japan",
    ),
    ("onear-in-order", "naira ONEAR/3 market", "naira parallel market", "market for the naira"),
    ("near-same-field", "naira NEAR/3 market", "naira market", "naira"),
    ("wildcard", "econom*", "Economists said", "The ecology"),
    (
        "wildcard-in-near",
        "econom* NEAR/2 crisis",
        "an economic crisis",
        "an economic and political crisis",
    ),
    ("scope-title", "title:naira", "NAIRA_TITLE", "The naira fell."),
    ("scope-url", "url:premiumtimesng", "URL", "premiumtimesng in the text only"),
    ("scope-source", "source:reuters", "SOURCE", "Reuters said in the text"),
    ("scope-group", "title:(naira OR cedi)", "NAIRA_TITLE", "The naira fell."),
    ("case-folding", "NATO", "nato members", "natal"),
    ("nfkc", "ＮＡＴＯ ﬁnance", "NATO finance", "NATO"),
    ("accents", "Yorùbá", "Yoruba culture", "Yuruba"),
    ("accents-in-text", "Yoruba", "Yorùbá culture", "Yuruba"),
    ("curly-quotes-phrase", "“liaison office”", 'the "liaison office"', "the office"),
    ("apostrophes-unified", "O'Neill", "O’Neill said", "Neill said"),
    ("possessive-curly", "NATO", "NATO’s first office", "The alliance's office"),
    ("possessive-straight", "NATO's", "NATO's office and NATO", "natos"),
    ("hyphen-matches-split", "Indo-Pacific", "the Indo Pacific", "the Pacific"),
    ("hyphen-matches-hyphenated", "Indo-Pacific", "the Indo-Pacific", "Indonesia"),
    ("hyphen-matches-joined", "Indo-Pacific", "the IndoPacific", "the Indo region"),
    ("split-matches-hyphenated", '"Indo Pacific"', "the Indo-Pacific", "the Pacific Indo"),
    ("joined-matches-hyphenated", "IndoPacific", "the Indo-Pacific", "the Indo Pacific"),
    (
        "hyphen-in-phrase",
        '"Indo-Pacific security"',
        "IndoPacific security",
        "Indo-Pacific and security",
    ),
    ("letters-digits-one-token", "IP4", "an IP4 address", "an IP 4 address"),
    ("digits-with-comma", "N1,572", "at N1,572 to the dollar", "at N1 572 to the dollar"),
    ("decimal-number", "27.5", "a rate of 27.5 percent", "a rate of 27 percent"),
]


def _doc(text: str) -> Document:
    if text == "NAIRA_TITLE":
        return Document("1", title="Naira falls", content="Markets")
    if text == "URL":
        return Document("1", url="https://www.premiumtimesng.com/business/naira.html")
    if text == "SOURCE":
        return Document("1", source="Reuters World", content="Markets")
    return Document("1", content=text)


@pytest.mark.parametrize(("query", "yes", "no"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_it_matches_what_the_query_means_and_nothing_else(query: str, yes: str, no: str) -> None:
    assert matches(query, _doc(yes)), f"{query!r} should match {yes!r}"
    assert not matches(query, _doc(no)), f"{query!r} should not match {no!r}"


ERRORS = [
    ("empty", "", 1, "empty"),
    ("dangling-and", "naira AND", 7, "expected a term after 'AND'"),
    ("leading-and", "AND naira", 1, "expected a term before 'AND'"),
    ("dangling-or", "naira OR", 7, "expected a term after 'OR'"),
    ("leading-or", "OR naira", 1, "expected a term before 'OR'"),
    ("dangling-not", "naira NOT", 7, "expected a term after 'NOT'"),
    ("unclosed-paren", "(naira OR cedi", 15, "expected ')' to close the '(' at column 1"),
    ("stray-paren", "naira)", 6, "unexpected ')'"),
    ("empty-parens", "naira ()", 7, "empty parentheses"),
    ("unclosed-phrase", 'naira "parallel', 7, "unterminated phrase"),
    ("empty-phrase", 'naira ""', 7, "empty phrase"),
    ("short-wildcard", "ec*", 1, "at least 3"),
    ("inner-wildcard", "ec*nomy", 1, "only at the end"),
    ("near-without-distance", "a NEAR b", 3, "NEAR needs a distance"),
    ("near-bad-distance", "a NEAR/x b", 3, "NEAR needs a distance"),
    ("near-with-and-side", "(a b) NEAR/3 c", 7, "each side of 'NEAR/3'"),
    ("unknown-field", "author:smith", 1, "unknown field 'author'"),
    ("no-letters", "naira &", 7, "no letters or digits"),
]


@pytest.mark.parametrize(
    ("query", "column", "message"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS]
)
def test_it_says_where_and_what_was_expected(query: str, column: int, message: str) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse_query(query)
    assert caught.value.position == column
    assert message in caught.value.message


def test_it_explains_a_hit_with_fields_terms_and_a_marked_snippet() -> None:
    doc = Document(
        "1",
        title="France blocks NATO’s Japan plan",
        content="Officials met on Monday. A plan to open NATO's first liaison office in Japan "
        "was blocked by France. Talks continue.",
    )
    [hit] = Matcher([Spec("nato", 'NATO "liaison office" Japan -Russia')]).match(doc)
    assert hit.matched == ("NATO", '"liaison office"', "Japan")
    assert hit.fields == ("title", "content")
    assert hit.explanation == {
        "title": ["NATO", "Japan"],
        "content": ["NATO", '"liaison office"', "Japan"],
    }
    assert hit.snippet.startswith("A plan to open NATO's first liaison office in Japan")
    marked = [hit.snippet[a:b] for a, b in hit.highlights]
    assert marked == ["NATO's", "liaison office", "Japan"]


def test_it_marks_the_original_text_when_folding_changes_lengths() -> None:
    doc = Document(
        "1", content="Straße news: the Yorùbá-speaking Indo-Pacific\n\n   delegation  left."
    )
    [hit] = Matcher([Spec("w", "Yoruba OR Indo-Pacific")]).match(doc)
    assert [hit.snippet[a:b] for a, b in hit.highlights] == ["Yorùbá", "Indo-Pacific"]


def test_it_trims_a_long_sentence_around_the_first_match() -> None:
    words = " ".join(f"word{i}" for i in range(200))
    doc = Document("1", content=f"{words} naira {words}.")
    [hit] = Matcher([Spec("w", "naira")]).match(doc)
    assert len(hit.snippet) <= 330
    assert hit.snippet.startswith("…") and hit.snippet.endswith("…")
    [(a, b)] = hit.highlights
    assert hit.snippet[a:b] == "naira"


def test_it_gives_a_not_only_hit_an_opening_snippet_and_no_terms() -> None:
    [hit] = Matcher([Spec("w", "-naira")]).match(Document("1", content="The cedi fell. More."))
    assert hit.matched == () and hit.highlights == ()
    assert hit.snippet.startswith("The cedi fell.")


@pytest.mark.parametrize(
    ("feeds", "languages", "doc", "expected"),
    [
        (
            ["Premium Times"],
            [],
            Document("1", content="naira", feeds=frozenset({"Premium Times"})),
            True,
        ),
        (["Premium Times"], [], Document("1", content="naira", feeds=frozenset({"BBC"})), False),
        (["tag:nigeria"], [], Document("1", content="naira", tags=frozenset({"nigeria"})), True),
        (["tag:nigeria"], [], Document("1", content="naira"), False),
        ([], ["en"], Document("1", content="naira", language="en-GB"), True),
        ([], ["en"], Document("1", content="naira", language="fr"), False),
        ([], ["en"], Document("1", content="naira", language=None), True),
    ],
    ids=[
        "feed-name",
        "other-feed",
        "feed-tag",
        "no-tag",
        "language-subtag",
        "other-language",
        "unknown-language",
    ],
)
def test_it_honours_feed_and_language_filters(
    feeds: list[str], languages: list[str], doc: Document, expected: bool
) -> None:
    matcher = Matcher([Spec("w", "naira", feeds=feeds, languages=languages)])
    assert bool(matcher.match(doc)) is expected


def test_it_skips_disabled_watchlists() -> None:
    assert Matcher([Spec("w", "naira", enabled=False)]).match(Document("1", content="naira")) == []


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('ab -"()*:/NEAROTDtil0123456789éЖ’ \t')), max_size=40))
def test_it_parses_any_string_or_raises_a_syntax_error(text: str) -> None:
    try:
        query = parse_query(text)
    except QuerySyntaxError as exc:
        assert 1 <= exc.position <= len(text) + 1
    else:
        Matcher([Spec("w", query.text)]).match(Document("1", content=text))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_it_parses_arbitrary_unicode_or_raises_a_syntax_error(text: str) -> None:
    try:
        parse_query(text)
    except QuerySyntaxError as exc:
        assert exc.position >= 1
