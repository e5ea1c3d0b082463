"""The batch's vectorised comparison with the stories it started (``_BatchStories``) finds
exactly the stories, in the same order and with the same similarities, that the pairwise
same-story rule (``near_duplicate`` then ``same_headline``) finds one story at a time; and
through ``pipeline.match_articles``, copies inside one batch join the story an earlier
article of that batch started while unrelated items start their own."""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor import db as storage
from monitor import pipeline
from monitor.clustering.batch import _VIRTUAL, _BatchStories
from monitor.clustering.fingerprints import (
    MIN_SHINGLES,
    MIN_TITLE_WORDS,
    NUM_PERM,
    Fingerprint,
    fingerprint,
    near_duplicate,
    same_headline,
)
from monitor.config import Settings
from monitor.feeds.normalise import ArticleData
from monitor.feeds.store import store_articles
from monitor.models import Article, Feed, Story
from monitor.watchlists import WatchlistRegistry

THRESHOLDS = (0.3, 0.5, 0.8)
# Enough words that most bodies are long; a few are cut below MIN_SHINGLES on purpose.
VOCABULARY = [
    f"{a}{b}" for a in ("ka", "lo", "mi", "ne", "ru", "sa", "to", "ve") for b in range(60)
]
HEADLINE_WORDS = ["flood", "Lagos", "market", "naira", "rain", "Governor", "Port", "Harcourt"]


@dataclass(frozen=True, slots=True)
class Text:
    title: str
    body: str


def _words(rng: random.Random, n: int) -> list[str]:
    return [rng.choice(VOCABULARY) for _ in range(n)]


def _headline(rng: random.Random) -> str:
    # Three to six words: some titles are too short for rule 3 to match at all.
    return " ".join(rng.choice(HEADLINE_WORDS) for _ in range(rng.randint(3, 6)))


def _retyped(title: str, rng: random.Random) -> str:
    """The same headline as rule 3 sees it, typed differently (case, punctuation)."""
    words = [w.upper() if rng.random() < 0.3 else w for w in title.split()]
    return ", ".join(words) + rng.choice(["", "!", " ...", " —"])


def _edited(body: str, rng: random.Random) -> str:
    """A near copy: one to twelve words replaced, so the similarity ranges across the
    thresholds."""
    words = body.split()
    for _ in range(rng.randint(1, 12)):
        words[rng.randrange(len(words))] = rng.choice(VOCABULARY)
    return " ".join(words)


def _next_text(rng: random.Random, earlier: list[Text]) -> Text:
    """A new item: fresh long or short text, or one derived from an earlier item."""
    kind = rng.choice(
        ["long", "long", "short", "copy", "near", "near", "headline", "headline", "stub"]
    )
    if kind in ("copy", "near", "headline") and earlier:
        source = rng.choice(earlier)
        if kind == "copy":
            return source
        if kind == "near" and source.body:
            return Text(source.title, _edited(source.body, rng))
        # The same headline over a different body: long, or none at all.
        body = " ".join(_words(rng, rng.randint(30, 80))) if rng.random() < 0.5 else ""
        return Text(_retyped(source.title, rng), body)
    if kind == "short":
        return Text(_headline(rng), "")
    if kind == "stub":
        # A few words of body: short however the title reads.
        return Text(_headline(rng), " ".join(_words(rng, rng.randint(1, 8))))
    return Text(_headline(rng), " ".join(_words(rng, rng.randint(25, 90))))


def _pairwise(
    fp: Fingerprint, stories: list[Fingerprint], threshold: float
) -> tuple[list[tuple[float, int]], list[int]]:
    """The rule as it was applied before vectorising: each story in turn."""
    similar: list[tuple[float, int]] = []
    titled: list[int] = []
    for n, story in enumerate(stories):
        signature = None if story.is_short else story.hashvalues
        similarity = near_duplicate(fp, signature, threshold=threshold)
        if similarity is not None:
            similar.append((similarity, _VIRTUAL + n))
        elif same_headline(fp, story.title_key, signature):
            titled.append(_VIRTUAL + n)
    return similar, titled


def test_candidates_are_exactly_what_the_pairwise_rule_finds() -> None:
    rng = random.Random(20260302)
    seen: Counter[str] = Counter()
    near_misses: Counter[float] = Counter()  # per threshold: pairs the threshold cut off
    for case in range(300):
        threshold = THRESHOLDS[case % len(THRESHOLDS)]
        texts: list[Text] = []
        # Up to 60 items, so the signature array (16 rows to start) has to grow.
        for _ in range(rng.randint(1, 60)):
            texts.append(_next_text(rng, texts))
        fingerprints = [fingerprint(t.title, t.body) for t in texts]

        batch = _BatchStories()
        stories: list[Fingerprint] = []
        for fp in fingerprints:
            expected = _pairwise(fp, stories, threshold)
            assert batch.candidates(fp, threshold=threshold) == expected, (case, len(stories))
            similar, titled = expected
            seen["similar"] += bool(similar)
            seen["titled"] += bool(titled)
            seen["several similar"] += len(similar) > 1
            seen["neither"] += not similar and not titled
            seen["short"] += fp.is_short
            for story in stories:
                if not fp.is_short and not story.is_short:
                    jaccard = fp.jaccard(story.hashvalues)
                    if threshold - 0.15 <= jaccard < threshold:
                        near_misses[threshold] += 1
            # As in assign_stories, only an item that joins nothing starts a story; some that
            # could join start one anyway (rule 3's host condition sends them on).
            if (not similar and not titled) or rng.random() < 0.3:
                batch.add(fp)
                stories.append(fp)

    # The cases cover what the rule distinguishes: without these, equality proves little.
    assert min(seen.values()) >= 50, seen
    assert all(near_misses[t] >= 10 for t in THRESHOLDS), near_misses


def test_the_edges_of_the_rule_are_kept() -> None:
    """Hand-picked pairs at each edge of the rule: the threshold itself, a title one word too
    short, two long items with one headline, a short item against a long story."""
    rng = random.Random(7)
    body = " ".join(_words(rng, 60))
    long_story = fingerprint("Flood hits Lagos market again", body)
    short_story = fingerprint("Naira falls at Lagos market", "")
    three_words = fingerprint("Naira falls again", "")
    batch = _BatchStories()
    for fp in (long_story, short_story, three_words):
        batch.add(fp)
    assert not long_story.is_short and short_story.is_short
    assert short_story.title_words >= MIN_TITLE_WORDS > three_words.title_words

    # Exactly at the threshold counts, one value below does not, as Fingerprint.jaccard cuts.
    for same in (64, 63, 103, 102, 39, 38):
        values = long_story.hashvalues.copy()
        values[same:] = values[same:] ^ np.uint32(1)
        probe = Fingerprint("other words entirely here", 4, MIN_SHINGLES, values)
        for threshold in THRESHOLDS:
            found, titled = batch.candidates(probe, threshold=threshold)
            accepted = same / NUM_PERM >= threshold
            assert found == ([(same / NUM_PERM, _VIRTUAL)] if accepted else []), (same, threshold)
            assert titled == []

    # A long item with the long story's headline: text only, never the headline.
    retitled = fingerprint("FLOOD hits Lagos, market again!", " ".join(_words(rng, 60)))
    assert batch.candidates(retitled, threshold=0.5) == ([], [])
    # A short item with the long story's headline joins that story by it.
    assert batch.candidates(fingerprint("Flood hits Lagos market again", ""), threshold=0.5) == (
        [],
        [_VIRTUAL],
    )
    # A long item with the short story's headline joins it by the headline.
    other = fingerprint("Naira falls at Lagos market", " ".join(_words(rng, 60)))
    assert batch.candidates(other, threshold=0.5) == ([], [_VIRTUAL + 1])
    # Three words never match by headline, whatever the story.
    assert batch.candidates(fingerprint("Naira falls again", ""), threshold=0.5) == ([], [])


# -- through the pipeline -----------------------------------------------------------------

NOW = datetime.now(UTC).replace(microsecond=0)


def _item(key: str, title: str, body: str, host: str) -> ArticleData:
    return ArticleData(
        identity=hashlib.sha256(key.encode()).hexdigest(),
        url=f"https://{host}.example.org/{key}",
        title=title,
        summary="",
        content=body,
        author=None,
        published_at=NOW - timedelta(minutes=5),
        language="en",
    )


def _two_words_changed(body: str) -> str:
    words = body.split()
    words[10], words[50] = "reported", "officials"
    return " ".join(words)


def _never(*args: Any, **kwargs: Any) -> int:
    raise AssertionError("the batch fell back to one article at a time")


def test_copies_in_one_batch_join_the_story_an_earlier_article_started(
    sqlite_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = sqlite_settings
    settings.watchlists.mkdir(parents=True, exist_ok=True)
    (settings.watchlists / "turbines.yaml").write_text(
        "query: turbine\nalerts:\n  - console: true\n", encoding="utf-8"
    )
    registry = WatchlistRegistry(settings.watchlists)
    rng = random.Random(11)
    flood = " ".join(_words(rng, 70))
    harvest = " ".join(_words(rng, 70))
    turbine = "turbine " + " ".join(_words(rng, 70))
    items = {
        "flood": _item("flood", "Flood hits Lagos market", flood, "wire"),
        "harvest": _item("harvest", "Harvest fails in Kebbi", harvest, "wire"),
        "headline": _item("headline", "Governor visits flooded Port Harcourt streets", "", "wire"),
        "flood-edited": _item(
            "flood-edited", "Flood hits Lagos market", _two_words_changed(flood), "daily"
        ),
        "turbine": _item("turbine", "Turbine blade cracks offshore", turbine, "wire"),
        "harvest-copy": _item("harvest-copy", "Harvest fails in Kebbi", harvest, "daily"),
        "headline-copy": _item(
            "headline-copy", "GOVERNOR visits flooded Port Harcourt streets!", "", "daily"
        ),
        # The same outlet repeating its headline is a new story (rule 3's host condition).
        "headline-again": _item(
            "headline-again", "Governor visits flooded Port Harcourt streets", "", "wire"
        ),
    }
    # Every copy must be decided in the batch, not by the one-article path.
    monkeypatch.setattr(pipeline, "assign_story", _never)

    with storage.sessionmaker_for(settings)() as session:
        pipeline.sync_registry(session, registry, force=True)
        session.add(Feed(url="https://feeds.example.org/rss", name="wire"))
        session.commit()
        feed_id = session.scalar(select(Feed.id))
        assert feed_id is not None
        ids = store_articles(session, feed_id, list(items.values()), now=NOW)
        session.commit()
        pipeline.match_articles(session, ids, registry=registry, settings=settings, now=NOW)

        story = dict(zip(items, _story_ids(session, ids), strict=True))
        assert None not in story.values()
        assert story["flood-edited"] == story["flood"]
        assert story["harvest-copy"] == story["harvest"]
        assert story["headline-copy"] == story["headline"]
        starters = ["flood", "harvest", "headline", "turbine", "headline-again"]
        assert len({story[key] for key in starters}) == len(starters)
        # The stories exist, each counting the articles that point at it.
        counts = dict(
            session.execute(
                select(Article.story_id, func.count(Article.id)).group_by(Article.story_id)
            ).all()
        )
        stored = {s.id: s.article_count for s in session.scalars(select(Story))}
        assert stored == counts
        assert sorted(stored.values()) == [1, 1, 2, 2, 2]


def _story_ids(session: Session, ids: list[int]) -> list[int | None]:
    by_id = dict(session.execute(select(Article.id, Article.story_id)).all())
    return [by_id[i] for i in ids]
