"""The pure part: normalisation, fingerprints and the in-memory story index."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from monitor.clustering import (
    MIN_SHINGLES,
    NUM_PERM,
    OPENING_WORDS,
    Fingerprint,
    StoryIndex,
    band_shape,
    fingerprint,
    normalise_words,
)
from tests.clustering.texts import FLOOD, FLOOD_OTHER, cut, with_byline, with_edits

TITLE = "Floods hit Abeokuta after Ogun river bursts its banks"
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Hello, World!", ["hello", "world"]),
        ("<p>Tinubu&nbsp;visits <b>Kano</b></p>", ["tinubu", "visits", "kano"]),
        ("Ọbasanjọ́ pàdé àwọn", ["obasanjo", "pade", "awon"]),
        ("“Curly” quotes — and dashes", ["curly", "quotes", "and", "dashes"]),
        ("Ｆｕｌｌ width 2026", ["full", "width", "2026"]),
    ],
    ids=["punctuation", "markup-and-entities", "yoruba-tone-marks", "typography", "nfkc"],
)
def test_it_normalises_words(text: str, words: list[str]) -> None:
    assert normalise_words(text) == words


def test_it_uses_only_the_opening_of_the_body() -> None:
    body = " ".join(f"w{i}" for i in range(OPENING_WORDS * 3))
    tail_changed = body + " an entirely different ending"
    assert fingerprint("t", body).jaccard(fingerprint("t", tail_changed).hashvalues) == 1.0


def test_it_keeps_a_signature_of_num_perm_integers() -> None:
    signature = fingerprint(TITLE, FLOOD).signature()
    assert len(signature) == NUM_PERM
    assert all(isinstance(value, int) and 0 <= value < 2**32 for value in signature)


def test_it_is_deterministic_across_calls() -> None:
    # Signatures are stored and compared after a restart: same text, same values.
    assert fingerprint(TITLE, FLOOD).signature() == fingerprint(TITLE, FLOOD).signature()


@pytest.mark.parametrize(
    ("title", "body", "short"),
    [
        ("Six different words in this headline", "", True),
        ("A headline", "One short summary sentence about nothing much at all.", True),
        (TITLE, FLOOD, False),
    ],
    ids=["title-only", "one-line-summary", "full-text"],
)
def test_it_flags_items_too_short_to_compare(title: str, body: str, short: bool) -> None:
    fp = fingerprint(title, body)
    assert fp.is_short is short
    assert (fp.shingles < MIN_SHINGLES) is short


@pytest.mark.parametrize(
    ("copy", "same"),
    [
        (with_byline(FLOOD), True),
        (with_edits(FLOOD), True),
        (cut(FLOOD), True),
        (FLOOD_OTHER, False),
    ],
    ids=["byline-and-dateline", "edited-words", "cut-ending", "same-topic-other-story"],
)
def test_it_finds_near_duplicates_in_the_index(copy: str, same: bool) -> None:
    index = StoryIndex(threshold=0.5)
    original = fingerprint(TITLE, FLOOD)
    index.add(1, first_seen_at=NOW, title_key=original.title_key, hashvalues=original.hashvalues)
    found = index.near_duplicates(fingerprint(TITLE, copy), since=NOW - timedelta(hours=1))
    assert ([story for _, story in found] == [1]) is same


def test_it_evicts_stories_older_than_the_window() -> None:
    index = StoryIndex(threshold=0.5)
    original = fingerprint(TITLE, FLOOD)
    for story_id, hours in [(1, 80), (2, 10)]:
        index.add(
            story_id,
            first_seen_at=NOW - timedelta(hours=hours),
            title_key=original.title_key,
            hashvalues=original.hashvalues,
        )
    assert index.evict_before(NOW - timedelta(hours=72)) == 1
    assert 1 not in index
    assert 2 in index
    assert [s for _, s in index.near_duplicates(original, since=NOW - timedelta(hours=72))] == [2]


@pytest.mark.parametrize(
    ("threshold", "shape"),
    [(0.5, (42, 3)), (0.8, (18, 7)), (0.9, (11, 11))],
    ids=["0.5", "0.8", "0.9"],
)
def test_it_picks_bands_that_find_pairs_at_the_threshold(
    threshold: float, shape: tuple[int, int]
) -> None:
    assert band_shape(threshold) == shape
    bands, rows = shape
    assert 1 - (1 - threshold**rows) ** bands >= 0.97
    assert bands * rows <= NUM_PERM


def test_it_finds_stories_added_one_by_one_in_bulk_and_across_merges() -> None:
    rng = np.random.default_rng(7)
    signatures = rng.integers(0, 2**32, size=(6000, NUM_PERM), dtype=np.uint64).astype(np.uint32)
    index = StoryIndex(threshold=0.8)
    since = NOW - timedelta(hours=1)
    bulk = [(i, NOW, f"story {i}", signatures[i]) for i in range(3000)]
    index.add_many(bulk)
    for i in range(3000, 6000):  # past MERGE_MIN: the dicts are merged into the arrays
        index.add(i, first_seen_at=NOW, title_key=f"story {i}", hashvalues=signatures[i])
    for i in (10, 3500, 5999):
        index.remove(i)
    assert len(index) == 5997
    for i in (0, 10, 2999, 3000, 3500, 4100, 5998, 5999):
        near = signatures[i].copy()
        near[:10] = 0  # a near-duplicate: 118 of 128 values agree
        fp = Fingerprint(title_key="", title_words=0, shingles=100, hashvalues=near)
        found = [story for _, story in index.near_duplicates(fp, since=since)]
        assert found == ([] if i in (10, 3500, 5999) else [i])


def test_it_ranks_the_most_similar_story_first() -> None:
    signature = np.arange(NUM_PERM, dtype=np.uint32) * np.uint32(7919)
    farther, nearer = signature.copy(), signature.copy()
    farther[:40] += np.uint32(1)  # 88 of 128 values agree
    nearer[:10] += np.uint32(1)  # 118 of 128
    index = StoryIndex(threshold=0.5)
    index.add(1, first_seen_at=NOW, title_key="a", hashvalues=farther)
    index.add(2, first_seen_at=NOW, title_key="b", hashvalues=nearer)
    fp = Fingerprint(title_key="", title_words=0, shingles=100, hashvalues=signature)
    found = index.near_duplicates(fp, since=NOW - timedelta(hours=1))
    assert found == [(118 / 128, 2), (88 / 128, 1)]
