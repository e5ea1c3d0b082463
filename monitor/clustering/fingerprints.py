"""Fingerprints of article text, and the rule that says whether an article belongs to a
story (rules 1 to 3 in :mod:`monitor.clustering`), without I/O.

An article's :class:`Fingerprint` is its normalised title and a MinHash of its opening.
:func:`near_duplicate` (rule 2) and :func:`same_headline` (rule 3) are the same-story rule,
in one place: the index, the transaction's pending stories and the rivals met by a lost claim
all ask them. The MinHash parameters are pinned here: a signature stored in
``stories.signature`` is only comparable with signatures made with the same permutations,
scheme and seed.
"""

from __future__ import annotations

import hashlib
import re
import threading
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from datasketch import MinHash

from monitor.entities import unescape
from monitor.models import Article

__all__ = [
    "CLAIM_VALUES",
    "MIN_SHINGLES",
    "MIN_TITLE_WORDS",
    "NUM_PERM",
    "OPENING_WORDS",
    "SCHEME",
    "SEED",
    "SHINGLE_WORDS",
    "TITLE_BAND",
    "Fingerprint",
    "article_fingerprint",
    "by_similarity",
    "fingerprint",
    "near_duplicate",
    "normalise_words",
    "normalised_title",
    "same_headline",
    "signature_array",
]

#: Words taken from the start of the body. Long enough that a changed word or an added
#: byline moves the Jaccard similarity by a few points only, short enough that a cut ending
#: does not matter and the MinHash stays cheap. See docs/clustering.md for the measurements.
OPENING_WORDS = 100
#: Shingle length in words.
SHINGLE_WORDS = 5
#: Below this many shingles an item is 'short' and clusters by exact title only (rule 3).
MIN_SHINGLES = 20
#: A short item's title needs at least this many words to be matched at all.
MIN_TITLE_WORDS = 4
#: MinHash permutations: 128 gives a Jaccard estimate within about ±0.035 near 0.8.
NUM_PERM = 128
#: The datasketch permutation scheme, pinned: stored signatures are only comparable with
#: signatures made by the same scheme and seed.
SCHEME = "affine32"
SEED = 1
#: A new story claims this many of its MinHash values in ``story_keys`` (see
#: :func:`monitor.clustering.assign._claim`). Two texts share any one value with probability
#: equal to their Jaccard similarity, so two copies at the threshold 0.5 share at least one
#: of 8 with probability 1 - 0.5**8 = 0.996 (at 0.7: 0.99993), while unrelated stories,
#: which share almost no shingles, almost never do. Bands of several values would need many
#: more rows per story.
CLAIM_VALUES = 8
#: The band of a headline's claim in ``story_keys`` (MinHash positions are numbered from 0).
TITLE_BAND = -1

_TAG = re.compile(r"<[^>]*>")
_WORD = re.compile(r"\w+")
# Combining marks (accents, Yoruba tone marks and dots below) left separate by NFKD.
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


def normalise_words(text: str, *, limit: int | None = None) -> list[str]:
    """The words of *text*, folded so that typography and accents do not count (the first
    *limit* of them, if given)."""
    text = unescape(_TAG.sub(" ", text))
    if limit is not None:
        # Folding is per character: only fold what can hold the opening (a long article
        # is thousands of words and only the first few hundred are used).
        text = text[: limit * 16]
    text = text.casefold()
    if not text.isascii():  # most English text is: skip the per-character pass
        text = unicodedata.normalize("NFKD", text)
        text = _COMBINING.sub("", text)
    words = _WORD.findall(text)
    return words if limit is None else words[:limit]


@dataclass(frozen=True, slots=True, eq=False)
class Fingerprint:
    """What clustering knows about one article's text."""

    title_key: str  # the normalised title words joined by spaces
    title_words: int
    shingles: int  # number of distinct shingles
    hashvalues: np.ndarray[Any, np.dtype[np.uint32]] = field(repr=False)

    @property
    def is_short(self) -> bool:
        """Too short for a similarity estimate: compared by its headline only (rule 3)."""
        return self.shingles < MIN_SHINGLES

    @property
    def title_can_match(self) -> bool:
        """Whether the title has words enough for rule 3 to match it at all."""
        return self.title_words >= MIN_TITLE_WORDS

    def jaccard(self, other: np.ndarray[Any, np.dtype[np.uint32]]) -> float:
        """The Jaccard similarity estimated from two signatures."""
        return float(np.count_nonzero(self.hashvalues == other)) / len(self.hashvalues)

    def claim_keys(self) -> list[tuple[int, int]]:
        """The (band, key) pairs a new story with this fingerprint claims in ``story_keys``:
        the first :data:`CLAIM_VALUES` MinHash values, each on its own (band = position), and
        band :data:`TITLE_BAND` for a headline rule 3 may match. Sorted, so two workers claim
        in one order and cannot deadlock each other."""
        claims = []
        if not self.is_short:
            values = self.hashvalues[:CLAIM_VALUES].astype(np.int64).tolist()
            claims = list(enumerate(values))
        if self.title_can_match:
            digest = hashlib.blake2b(self.title_key.encode(), digest_size=8).digest()
            claims.append((TITLE_BAND, int.from_bytes(digest, "big", signed=True)))
        return sorted(claims)

    def signature(self) -> list[int]:
        """The MinHash as a JSON-friendly list, for ``stories.signature``."""
        return [int(v) for v in self.hashvalues]


_permutations_lock = threading.Lock()
_permutations: Any = None


def _template() -> MinHash:
    # Generating the permutations is the slow part of a MinHash; do it once per process.
    global _permutations
    with _permutations_lock:
        if _permutations is None:
            _permutations = MinHash(num_perm=NUM_PERM, seed=SEED, scheme=SCHEME).permutations
    return MinHash(num_perm=NUM_PERM, permutations=_permutations, scheme=SCHEME)


def fingerprint(title: str, body: str) -> Fingerprint:
    """Fingerprint an article from its title and body (rules 1 and 2 in
    :mod:`monitor.clustering`)."""
    title_words = normalise_words(title)
    words = title_words + normalise_words(body, limit=OPENING_WORDS)
    shingles = {
        " ".join(words[i : i + SHINGLE_WORDS]).encode()
        for i in range(len(words) - SHINGLE_WORDS + 1)
    }
    minhash = _template()
    if shingles:
        minhash.update_batch(list(shingles))
    return Fingerprint(
        title_key=" ".join(title_words),
        title_words=len(title_words),
        shingles=len(shingles),
        hashvalues=np.asarray(minhash.hashvalues, dtype=np.uint32),
    )


def article_fingerprint(article: Article) -> Fingerprint:
    body = article.content if len(article.content or "") >= len(article.summary or "") else ""
    return fingerprint(article.title or "", body or article.summary or "")


def signature_array(signature: Any) -> np.ndarray[Any, np.dtype[np.uint32]] | None:
    """A story's stored signature (``stories.signature``) as MinHash values, or None."""
    # Signatures made with other parameters (an older NUM_PERM) cannot be compared: such a
    # story is still found by its title, and ages out of the window.
    if not isinstance(signature, list) or len(signature) != NUM_PERM:
        return None
    return np.asarray(signature, dtype=np.uint32)


def by_similarity(pair: tuple[float, int]) -> tuple[float, int]:
    """Sort key of (similarity, story id): the most similar first, ties the oldest (rule 2)."""
    return (-pair[0], pair[1])


# -- the same-story rule: one home for the index, the pending stories and the rivals ------
#
# A story is described to the rule by what the table holds for it: its normalised title and
# its signature, which is its first article's MinHash, or None when that article was short
# (or was fingerprinted with other parameters, see signature_array).


def near_duplicate(
    fp: Fingerprint, signature: np.ndarray[Any, np.dtype[np.uint32]] | None, *, threshold: float
) -> float | None:
    """Rule 2: the Jaccard similarity of *fp* to the story with this *signature*, estimated
    from the MinHash, when it is at least *threshold*; otherwise None.

    None as well when *fp* or the story is short: such a pair is never compared by its text,
    only by its headline (rule 3, :func:`same_headline`).
    """
    if fp.is_short or signature is None:
        return None
    similarity = fp.jaccard(signature)
    return similarity if similarity >= threshold else None


def same_headline(
    fp: Fingerprint, title_key: str, signature: np.ndarray[Any, np.dtype[np.uint32]] | None
) -> bool:
    """Rule 3, but for its host condition: whether *fp* may join the story with this
    normalised title and *signature* by its headline.

    Only when *fp* or the story is short (two long items are compared by their text, never by
    their headline alone), and only for a title of at least :data:`MIN_TITLE_WORDS` words that
    is exactly the story's. The caller then checks that the article's host is new to the
    story, which needs the story's articles.
    """
    return (fp.is_short or signature is None) and fp.title_can_match and fp.title_key == title_key


def normalised_title(title: str | None) -> str:
    """A story's title as rule 3 compares it: what :attr:`Fingerprint.title_key` holds for
    an article with that title."""
    return " ".join(normalise_words(title or ""))
