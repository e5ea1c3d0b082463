"""Per-language queries (``translations:``) and inflected forms (``stem: true``): the cases
of issue 18, real sentences in Russian, French and English, and the watchlist format."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.matching import Document, Matcher
from monitor.watchlists import load_watchlists
from tests.matching.conftest import Spec


def hits(spec: Spec, text: str, language: str | None) -> list[str]:
    return [
        r.watchlist_id for r in Matcher([spec]).match(Document("1", title=text, language=language))
    ]


@pytest.mark.parametrize(
    ("query", "text", "language"),
    [
        # The table of issue 18: each of these missed before.
        ("NATO AND 東京 AND 連絡事務所", "NATO東京連絡事務所の開設、フランスが反対", "ja"),
        ("북한 AND 러시아", "북한이 러시아에 병력 파견", "ko"),
        ("НАТО AND Япония", "НАТО откроет офис в Японии", "ru"),
        ("naira AND market", "the naira weakened in the parallel markets", "en"),
        # More real sentences, written for these tests.
        ("Россия AND санкции", "Евросоюз продлил санкции против России", "ru"),
        ("marché AND prix", "Les prix du pétrole font reculer les marchés européens", "fr"),
        ("election AND postpone", "INEC postponed the elections by a week", "en"),
        ("market NEAR/5 naira", "the naira weakened in the parallel markets", "en"),
    ],
)
def test_stem_matches_inflected_forms(query: str, text: str, language: str) -> None:
    assert hits(Spec("w", query, stem=True), text, language) == ["w"]


@pytest.mark.parametrize(
    ("query", "text", "language"),
    [
        ("НАТО AND Япония", "НАТО откроет офис в Японии", "ru"),
        ("naira AND market", "the naira weakened in the parallel markets", "en"),
    ],
)
def test_without_stem_matching_stays_exact(query: str, text: str, language: str) -> None:
    assert hits(Spec("w", query), text, language) == []


@pytest.mark.parametrize(
    "query",
    ['naira AND "market"', '"parallel market"', "naira AND marke", "naira -markets"],
)
def test_quoted_phrases_wildcards_and_other_words_stay_exact(query: str) -> None:
    text = "the naira weakened in the parallel markets"
    assert hits(Spec("w", query, stem=True), text, "en") == []


def test_a_word_under_not_excludes_its_forms_too() -> None:
    text = "the naira weakened in the parallel markets"
    assert hits(Spec("w", "naira -market", stem=True), text, "en") == []
    assert hits(Spec("w", "naira -market", stem=True), "the naira weakened", "en") == ["w"]


def test_an_article_of_unknown_language_is_matched_exactly() -> None:
    spec = Spec("w", "naira AND market", stem=True)
    assert hits(spec, "the naira weakened in the parallel markets", None) == []
    assert hits(spec, "the naira market", None) == ["w"]


def test_a_stemmed_hit_explains_itself_as_the_query_wrote_it() -> None:
    spec = Spec("w", "НАТО AND Япония", stem=True)
    doc = Document("1", title="НАТО откроет офис в Японии", language="ru")
    [hit] = Matcher([spec]).match(doc)
    assert hit.matched == ("НАТО", "Япония")
    assert [hit.snippet[a:b] for a, b in hit.highlights] == ["НАТО", "Японии"]


TRANSLATED = Spec(
    "nato-japan",
    '"liaison office" AND NATO',
    translations={"ja": "NATO AND 連絡事務所", "ru": "НАТО AND офис"},
)


@pytest.mark.parametrize(
    ("text", "language", "matched"),
    [
        ("NATO東京連絡事務所の開設、フランスが反対", "ja", ("NATO", "連絡事務所")),
        ("НАТО откроет офис в Японии", "ru", ("НАТО", "офис")),
        ("France blocks NATO liaison office in Tokyo", "en", ("NATO", '"liaison office"')),
        ("France blocks NATO liaison office in Tokyo", None, ("NATO", '"liaison office"')),
    ],
)
def test_an_article_is_matched_against_the_query_of_its_language(
    text: str, language: str | None, matched: tuple[str, ...]
) -> None:
    [hit] = Matcher([TRANSLATED]).match(Document("1", title=text, language=language))
    assert sorted(hit.matched) == sorted(matched)


def test_an_article_in_a_translated_language_is_not_matched_against_query() -> None:
    # English words in a Japanese article: the Japanese query decides.
    assert hits(TRANSLATED, "NATO liaison office 東京", "ja") == []
    assert hits(TRANSLATED, "NATO liaison office 東京", "ja-JP") == []
    assert hits(TRANSLATED, "NATO liaison office 東京", "fr") == ["nato-japan"]


WORDS = [
    "market",
    "markets",
    "marketing",
    "naira",
    "nairas",
    "cry",
    "cries",
    "war",
    "wars",
    "oil",
    "happy",
    "happiness",
    "office",
    "offices",
    "япония",
    "японии",
    "офис",
    "офисе",
]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.lists(st.sampled_from(WORDS), min_size=1, max_size=3),
            st.booleans(),
            st.sampled_from([{}, {"ru": "офис"}, {"en": "wars OR crying"}]),
        ),
        min_size=1,
        max_size=8,
    ),
    st.lists(st.sampled_from(WORDS), max_size=8),
    st.sampled_from(["en", "ru", None]),
)
def test_the_index_finds_every_watchlist_that_matches_alone(
    specs: list[tuple[list[str], bool, dict[str, str]]], words: list[str], language: str | None
) -> None:
    made = [
        Spec(f"w{n}", " ".join(query), stem=stem, translations=translations)
        for n, (query, stem, translations) in enumerate(specs)
    ]
    doc = Document("1", content=" ".join(words), language=language)
    alone = [spec.id for spec in made if Matcher([spec]).match(doc)]
    assert Matcher(made).match_ids(doc) == alone


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "w.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_format_takes_translations_stem_and_example_languages(tmp_path: Path) -> None:
    _write(
        tmp_path,
        """id: nato-japan
query: NATO AND office
stem: true
translations:
  ja: "NATO AND 連絡事務所"
  ru: "НАТО AND офис"
examples:
  match:
    - "NATO opens offices in Tokyo despite the objections raised by France"
    - {title: "НАТО откроет офисы в Японии", language: ru}
    - "NATO東京連絡事務所の開設について、フランスが反対の立場を示した"
  no_match:
    - {title: "NATO office", language: ja}
""",
    )
    result = load_watchlists([tmp_path])
    assert result.errors == []
    [spec] = result.watchlists
    assert spec.stem and spec.translations["ja"] == "NATO AND 連絡事務所"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("query: a1\ntranslations: {JA: a1}\n", "'JA' is not a language code"),
        ("query: a1\ntranslations: {ja: 'a1 AND'}\n", "ja: column 4: expected a term after"),
        ("query: a1\nstem: 'yes'\n", "stem"),
        (
            "query: a1\ntranslations: {ru: офис}\nexamples: {match: [{title: a1, language: ru}]}\n",
            "example does not match the query",
        ),
    ],
)
def test_the_format_reports_bad_translations(tmp_path: Path, text: str, message: str) -> None:
    _write(tmp_path, text)
    errors = [str(e) for e in load_watchlists([tmp_path]).errors]
    assert len(errors) == 1 and message in errors[0], errors


def test_the_hit_page_marks_the_query_the_article_matched_through() -> None:
    from monitor.matching.satisfied import marked_query

    doc = Document("1", title="НАТО откроет офисы в Японии", language="ru")
    parts = marked_query(
        '"liaison office" AND NATO', doc, translations={"ru": "НАТО AND офис"}, stem=True
    )
    assert "".join(p.text for p in parts) == "НАТО AND офис"
    assert [p.text for p in parts if p.satisfied] == ["НАТО", "офис"]
    exact = marked_query('"liaison office" AND NATO', doc, translations={"ru": "НАТО AND офис"})
    # Without stem the Russian query does not hold: nothing of it counts.
    assert [p.text for p in exact if p.satisfied is False] == ["НАТО", "офис"]


MASAKHANEWS = Path(__file__).resolve().parents[2].parent / "shared/data/labeled/masakhanews"


@pytest.mark.skipif(not MASAKHANEWS.exists(), reason="../shared/data/labeled/masakhanews absent")
def test_stem_on_real_english_news_matches_the_words_sharing_a_stem() -> None:
    # On the BBC's English articles, 'election AND vote' with stem: true matches exactly the
    # articles holding a word with each stem (Snowball's: 'elected' is 'elect' as 'election'
    # is), found here the plain way, word by word, without the index.
    import csv
    import sys

    import Stemmer

    from monitor.matching.text import tokenise

    csv.field_size_limit(sys.maxsize)
    with (MASAKHANEWS / "eng" / "dev.tsv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))[:400]
    docs = [
        Document(str(n), title=r["headline"], content=r["text"], language="en")
        for n, r in enumerate(rows)
    ]
    english = Stemmer.Stemmer("english")

    def plainly(doc: Document) -> bool:
        stems = set(english.stemWords(list(tokenise(doc.title + "\n" + doc.content).vocabulary)))
        return {"elect", "vote"} <= stems

    stemmed = Matcher([Spec("s", "election AND vote", stem=True)])
    found = [bool(stemmed.match_ids(d)) for d in docs]
    assert found == [plainly(d) for d in docs]
    exact = Matcher([Spec("e", "election AND vote")])
    assert 0 < sum(bool(exact.match_ids(d)) for d in docs) < sum(found)
