"""The same-story rule on its own: rule 2 (near-duplicates by text) and rule 3 (short items by
exact headline), as the index, the transaction's pending stories and the rivals met by a lost
claim all ask it. The host condition of rule 3 needs the database: test_assign_story.py."""

from __future__ import annotations

import numpy as np
import pytest

from monitor.clustering.fingerprints import (
    Fingerprint,
    fingerprint,
    near_duplicate,
    normalised_title,
    same_headline,
    signature_array,
)
from tests.clustering.texts import FLOOD, FLOOD_OTHER, cut, with_byline, with_edits

TITLE = "Floods hit Abeokuta after Ogun river bursts its banks"
OTHER_TITLE = "Kebbi farmers count the cost of floods in rice fields"


def _signature(fp: Fingerprint) -> np.ndarray | None:
    """The story's signature as stories.signature stores it for its first article."""
    return signature_array(None if fp.is_short else fp.signature())


@pytest.mark.parametrize(
    ("article", "story", "threshold", "joins"),
    [
        ((TITLE, with_byline(FLOOD)), (TITLE, FLOOD), 0.5, True),
        ((TITLE, with_edits(FLOOD)), (TITLE, FLOOD), 0.5, True),
        ((TITLE, cut(FLOOD)), (TITLE, FLOOD), 0.5, True),
        ((TITLE, cut(FLOOD)), (TITLE, FLOOD), 0.8, False),
        ((TITLE, FLOOD_OTHER), (TITLE, FLOOD), 0.5, False),
        ((TITLE, ""), (TITLE, FLOOD), 0.5, False),
        ((TITLE, FLOOD), (TITLE, ""), 0.5, False),
        ((TITLE, ""), (TITLE, ""), 0.5, False),
    ],
    ids=[
        "byline-and-dateline",
        "edited-words",
        "cut-ending",
        "cut-ending-below-0.8",
        "same-topic-other-story",
        "short-item-never-by-text",
        "short-story-never-by-text",
        "two-short-items-never-by-text",
    ],
)
def test_it_joins_near_duplicates_by_their_text(
    article: tuple[str, str], story: tuple[str, str], threshold: float, joins: bool
) -> None:
    fp = fingerprint(*article)
    signature = _signature(fingerprint(*story))
    similarity = near_duplicate(fp, signature, threshold=threshold)
    assert (similarity is not None) is joins
    if signature is not None and not fp.is_short:
        assert similarity == (fp.jaccard(signature) if joins else None)


@pytest.mark.parametrize(
    ("article", "story", "joins"),
    [
        ((TITLE, ""), (TITLE, FLOOD), True),
        ((TITLE, FLOOD), (TITLE, ""), True),
        ((TITLE, ""), (TITLE, "One line of summary."), True),
        ((TITLE, FLOOD), (TITLE, with_byline(FLOOD)), False),
        ((TITLE, FLOOD_OTHER), (TITLE, FLOOD), False),
        (("Floods hit Abeokuta", ""), ("Floods hit Abeokuta", ""), False),
        (("Floods hit Abeokuta today", ""), ("Floods hit Abeokuta today", ""), True),
        ((TITLE + " again", ""), (TITLE, FLOOD), False),
        ((OTHER_TITLE, ""), (TITLE, ""), False),
        (("FLOODS hit Abéokuta after Ogun river “bursts” its banks", ""), (TITLE, ""), True),
    ],
    ids=[
        "short-item-long-story",
        "long-item-short-story",
        "short-item-short-story",
        "two-long-items-by-text-only",
        "two-long-items-other-text",
        "three-words-match-nothing",
        "four-words-are-enough",
        "one-word-more-is-another-headline",
        "another-headline",
        "typography-and-accents-do-not-count",
    ],
)
def test_it_joins_short_items_by_their_exact_headline(
    article: tuple[str, str], story: tuple[str, str], joins: bool
) -> None:
    story_fp = fingerprint(*story)
    fp = fingerprint(*article)
    assert same_headline(fp, normalised_title(story[0]), _signature(story_fp)) is joins


def test_it_compares_a_story_with_a_signature_of_other_parameters_by_headline() -> None:
    # A signature made with another NUM_PERM cannot be compared: the story is found by title.
    fp = fingerprint(TITLE, with_byline(FLOOD))
    signature = signature_array([1, 2, 3])
    assert signature is None
    assert near_duplicate(fp, signature, threshold=0.5) is None
    assert same_headline(fp, normalised_title(TITLE), signature)


@pytest.mark.parametrize(
    "title", [TITLE, "", "Ọbasanjọ́ pàdé àwọn <b>olórí</b> ẹ̀sìn"], ids=["plain", "none", "marked-up"]
)
def test_it_keys_a_story_title_as_an_article_title(title: str) -> None:
    # The index and the rivals read stories.title back; the pending stories keep the fp's key.
    assert normalised_title(title) == fingerprint(title, FLOOD).title_key
    assert normalised_title(None) == fingerprint("", FLOOD).title_key
