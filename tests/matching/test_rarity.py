"""Word rarity from a sample of articles: where each watchlist is filed, never what matches."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.matching import Document, Matcher, parse_query
from monitor.matching.anchors import anchors
from monitor.matching.rarity import MIN_SAMPLE, Rarity
from tests.matching.conftest import Spec
from tests.matching.test_engine_agrees import documents, queries


def _sample(common: str, rare: str, size: int = MIN_SAMPLE) -> list[Document]:
    """*size* articles that all say *common*, and one in ten that says *rare*."""
    return [
        Document(str(i), title=f"Story {i}", content=f"{common} news {rare if i % 10 == 0 else ''}")
        for i in range(size)
    ]


def test_a_word_in_fewer_articles_is_the_better_anchor() -> None:
    query = parse_query("japan liaison").root
    # Without a sample the longer word is taken for the rarer one ...
    assert anchors(query) == frozenset({("t", "liaison")})
    # ... but the sample knows better: here "liaison" is in every article.
    rarity = Rarity.from_documents(_sample("liaison", "japan"))
    assert rarity.cost("t", "japan") < rarity.cost("t", "liaison")
    assert anchors(query, rarity) == frozenset({("t", "japan")})


def test_a_word_missing_from_the_sample_counts_as_rarest() -> None:
    rarity = Rarity.from_documents(_sample("naira", "market"))
    seen = [rarity.cost("t", word) for word in ("naira", "market", "news", "story")]
    unseen = [rarity.cost("t", word) for word in ("zloty", "a", "the")]
    assert max(unseen) < min(seen)
    # Among unseen words the length guess still orders them.
    assert rarity.cost("t", "zloty") < rarity.cost("t", "the")


def test_a_prefix_costs_what_its_words_cost_together() -> None:
    docs = [
        Document(str(i), content=["economy", "economic", "econometrics", "crisis"][i % 4])
        for i in range(4 * MIN_SAMPLE)
    ]
    rarity = Rarity.from_documents(docs)
    assert rarity.cost("p", "econom") == pytest.approx(0.75)
    assert rarity.cost("p", "economy") == pytest.approx(0.25)
    assert rarity.cost("p", "cri") == pytest.approx(0.25)
    assert rarity.cost("p", "zzz") < rarity.cost("t", "crisis")


def test_too_small_a_sample_falls_back_to_the_length_guess() -> None:
    small = Rarity.from_documents(_sample("liaison", "japan", size=MIN_SAMPLE - 1))
    assert not small.sampled and small.documents == 0
    assert small.cost("t", "japan") == Rarity().cost("t", "japan")
    assert Rarity.from_documents(_sample("liaison", "japan")).documents == MIN_SAMPLE


WORDS = ["nato", "japan", "office", "naira", "market", "economy", "economic", "crisis"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(queries, min_size=1, max_size=8),
    st.lists(documents, min_size=1, max_size=4),
    st.randoms(use_true_random=False),
    st.sampled_from([None, 0]),
)
def test_any_rarity_gives_the_same_hits(
    texts: list[str], docs: list[Document], rng: random.Random, threshold: int | None
) -> None:
    # Arbitrary document counts, so that anchors land on any word, common or not.
    counts = {word: rng.randrange(1, 1000) for word in rng.sample(WORDS, rng.randrange(9))}
    rarity = Rarity(counts, 1000)
    specs = [Spec(f"w{i}", q) for i, q in enumerate(texts)]
    guessed = Matcher(specs, array_threshold=threshold)
    sampled = Matcher(specs, rarity=rarity, array_threshold=threshold)
    for doc in docs:
        assert sampled.match(doc) == guessed.match(doc)
