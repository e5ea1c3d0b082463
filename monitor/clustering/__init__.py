"""Near-duplicate stories: one story, however many outlets carry it.

A wire piece republished by a dozen outlets with a new byline, a changed word or two and a
shorter ending is a dozen articles (different URLs, different identities) but one *story*.
:func:`assign_story` puts each newly stored article into a story, so that alerting can send
one alert per story and attach the other copies to it.

How two articles are judged to be the same story (the rules, in order):

1. The text compared is the title followed by the opening of the body (the content, else the
   summary): the first :data:`OPENING_WORDS` words. Markup is stripped; text is NFKC-folded,
   lower-cased, accents removed and cut into words (letters and digits). Endings are left out
   on purpose: outlets cut wire copy from the bottom and append their own boilerplate there.
2. That word sequence is cut into overlapping :data:`SHINGLE_WORDS`-word shingles and
   summarised by a MinHash of :data:`NUM_PERM` permutations (datasketch). Two articles belong
   to one story when the Jaccard similarity of their shingle sets, estimated from the MinHash,
   is at least ``settings.cluster_threshold`` (default 0.5: two copies that were each edited
   a little are often below 0.8 against each other, while different stories share almost no
   5-word shingles; docs/clustering.md has the measurements).
   Candidates come from LSH banding tuned towards recall; every candidate is then checked
   against the threshold, and the most similar one wins (ties: the oldest).
3. An item with fewer than :data:`MIN_SHINGLES` shingles (a title-only item, a one-line
   summary) is too short for a similarity estimate: a single changed word moves it past any
   threshold, and two different six-word headlines share no shingle at all, or all of them.
   Such an item joins a story only when its normalised title is *exactly* the story's title,
   the title has at least :data:`MIN_TITLE_WORDS` words (so 'Live updates' never merges
   anything), and the article comes from a host the story does not already have (the same
   outlet repeating a headline is a recurring column, not a republished story). A long item
   with no near-duplicate may join a short story by the same title rule.
4. Only stories first seen within ``settings.story_window_hours`` (default 72) are candidates.
   After that a copy starts a new story, and so a new alert.

Exact copies (same GUID or canonical URL) never get here: ingestion stores them once.

Where each part lives:

- :mod:`monitor.clustering.fingerprints`: rules 1 to 3 in code, pure: the
  :class:`Fingerprint` (normalised words, shingles, the MinHash) and the same-story rule
  that every path asks (``near_duplicate``, ``same_headline``);
- :mod:`monitor.clustering.index`: the stories of the window in memory (:class:`StoryIndex`),
  LSH banding over their signatures and a map from normalised title to story;
- :mod:`monitor.clustering.shared`: one index per process, kept in step with the ``stories``
  table (:func:`warm_story_index`, :func:`reset_story_indexes`);
- :mod:`monitor.clustering.pending`: the stories the caller's transaction created and has not
  committed, kept beside its session;
- :mod:`monitor.clustering.assign`: :func:`assign_story` itself, and the claim in
  ``story_keys`` that keeps two workers from starting the same story at once.

docs/clustering.md has the measurements behind the parameters, and the known limits.
"""

from __future__ import annotations

from monitor.clustering.assign import assign_story
from monitor.clustering.fingerprints import (
    CLAIM_VALUES,
    MIN_SHINGLES,
    MIN_TITLE_WORDS,
    NUM_PERM,
    OPENING_WORDS,
    SHINGLE_WORDS,
    TITLE_BAND,
    Fingerprint,
    article_fingerprint,
    fingerprint,
    normalise_words,
)
from monitor.clustering.index import StoryIndex, band_shape
from monitor.clustering.shared import reset_story_indexes, warm_story_index

__all__ = [
    "CLAIM_VALUES",
    "MIN_SHINGLES",
    "MIN_TITLE_WORDS",
    "NUM_PERM",
    "OPENING_WORDS",
    "SHINGLE_WORDS",
    "TITLE_BAND",
    "Fingerprint",
    "StoryIndex",
    "article_fingerprint",
    "assign_story",
    "band_shape",
    "fingerprint",
    "normalise_words",
    "reset_story_indexes",
    "warm_story_index",
]
