"""The pure part: normalisation, fingerprints and the in-memory story index."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.clustering import (
    MIN_SHINGLES,
    NUM_PERM,
    OPENING_WORDS,
    StoryIndex,
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
