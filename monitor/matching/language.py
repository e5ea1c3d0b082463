"""Which language an article is written in: detected offline from its text, and settled
against what its feed declares.

Many feeds declare no language, and some declare one for everything they carry, whatever
each item is written in. The detector is py3langid (a naive Bayes model over byte n-grams,
shipped inside its wheel: nothing is downloaded at run time), which knows the languages the
example watchlists follow, Hausa, Igbo, Yorùbá and Nigerian Pidgin among them;
docs/watchlists.md has its accuracy on the MasakhaNEWS articles. The settled language is what
a watchlist's ``languages:`` filters on and what chooses its ``translations:`` and stemmer:

* a text too short to tell (fewer than :data:`MIN_LETTERS` letters) keeps what its feed
  declared, else stays unknown (and passes every ``languages:`` filter, as before);
* a detection at least :data:`CONFIDENT` sure wins over the declaration when they disagree
  (the feed declared the wrong one); one at least :data:`FILL_IN` sure fills in a missing
  one, and wins over a declaration the text all but rules out; where they agree, the
  declared tag is kept with its region (``en-GB``);
* a less sure detection changes nothing, but is stored with its confidence for people to see.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CONFIDENT",
    "FILL_IN",
    "MIN_LETTERS",
    "Settled",
    "detect",
    "load_model",
    "primary",
    "settle",
]

# Below this many letters a text is too short to tell: a headline of three words.
MIN_LETTERS = 20
# How sure a detection must be to override or fill in the declared language. On MasakhaNEWS
# (docs/watchlists.md) full articles are detected at 0.98 and more; the Pidgin articles taken
# for English were detected at 0.75 on average.
CONFIDENT = 0.9
# How sure a detection must be to fill in a language the feed did not declare: a wrong one
# would keep the article from watchlists it belongs to, where unknown lets it pass. At 0.7,
# MasakhaNEWS headlines alone were settled wrong in none of 1,600 articles in English, Hausa,
# Igbo and Yorùbá, and in 3.6% of the Pidgin ones (taken for English); a lower bar fills in
# more and errs more (benchmarks/language.py).
FILL_IN = 0.7
# Below this probability the detector all but rules out the declared language.
_RULED_OUT = 0.01
# The detector reads the start of the text only: its cost grows with the length, and a few
# hundred words tell the language as well as the whole article.
_READ = 2_000
# Languages the detector tells apart that a watchlist names by their macrolanguage (ISO
# 639-3), their scores added to its: Chinese news in Mandarin was taken for Wu (wuu) at 0.54,
# and no feed declares 'wuu'.
_MACROLANGUAGE = {"wuu": "zh", "yue": "zh", "ary": "ar", "arz": "ar", "uzs": "uz"}


@dataclass(frozen=True, slots=True)
class Settled:
    """An article's language (None: unknown), and what the detector said of its text."""

    language: str | None
    detected: str | None = None  # None: too short to tell
    confidence: float | None = None


@functools.cache
def _identifier() -> Any:
    # Loaded once per process, on first use (about half a second): importing the matcher
    # must stay cheap for the command line.
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def load_model() -> None:
    """Load the detector's model now (about half a second) rather than in the first match:
    a worker that matches calls this as it starts."""
    _identifier()


def primary(tag: str | None) -> str | None:
    """The language of a tag without its region or script: ``pt-BR`` -> ``pt``."""
    if not tag:
        return None
    return tag.strip().lower().replace("_", "-").split("-")[0] or None


def detect(text: str) -> tuple[str, float] | None:
    """The language of *text* and how sure the detector is (0 to 1); None when the text is
    too short to tell."""
    scores = _scores(text)
    if scores is None:
        return None
    best = max(scores, key=scores.__getitem__)
    return best, round(min(scores[best], 1.0), 4)


def _scores(text: str) -> dict[str, float] | None:
    """Each language's probability for *text*; None when it is too short to tell."""
    found = _score_vector(text)
    if found is None:
        return None
    merged, codes, _ = found
    return dict(zip(codes, merged.tolist(), strict=True))


def _score_vector(text: str) -> tuple[Any, list[str], dict[str, int]] | None:
    """The probabilities for *text* as an array, one per language code (macrolanguages
    merged), with the codes in order and each code's position; None when it is too short."""
    text = text[:_READ]
    # Most texts have their letters in the first few hundred characters: count there first.
    if (
        sum(map(str.isalpha, text[:200])) < MIN_LETTERS
        and sum(map(str.isalpha, text)) < MIN_LETTERS
    ):
        return None
    identifier = _identifier()
    group, codes, index = _codes()
    # The detector's probabilities in its own class order; the ranked list it offers
    # publicly costs as much again to build, for the one or two values read from it.
    decide = getattr(identifier, "_decide", None)
    if decide is not None:
        probabilities = decide(text)
    else:  # another py3langid: its public ranking, put back in class order
        ranked = dict(identifier.rank(text))
        # A label the model lists twice (sr, uz) is ranked once, its classes' scores added:
        # it goes to its first class only, as the detector's own vector has it.
        probabilities = [ranked.pop(language, 0.0) for language in identifier.nb_classes]
    import numpy as np  # with the model, on first use: importing the matcher stays cheap

    merged = np.bincount(group, weights=probabilities, minlength=len(codes))
    return merged, codes, index


@functools.cache
def _codes() -> tuple[Any, list[str], dict[str, int]]:
    """For each of the detector's classes, the position of its language code (a
    macrolanguage for those in :data:`_MACROLANGUAGE`); the codes; each code's position."""
    codes: list[str] = []
    index: dict[str, int] = {}
    group: list[int] = []
    for language in _identifier().nb_classes:
        code = _MACROLANGUAGE.get(language, language)
        if code not in index:
            index[code] = len(codes)
            codes.append(code)
        group.append(index[code])
    import numpy as np

    return np.asarray(group, dtype=np.intp), codes, index


def settle(declared: str | None, title: str, summary: str = "", content: str = "") -> Settled:
    """The article's language from what its feed *declared* and its text (see the module
    docstring)."""
    text = title
    for part in (summary, content):
        if len(text) >= _READ:
            break
        if part and part != text:
            text = f"{text}\n{part}" if text else part
    found = _score_vector(text)
    if found is None:
        return Settled(declared or None)
    scores, codes, index = found
    best = int(scores.argmax())
    language = codes[best]
    confidence = round(min(float(scores[best]), 1.0), 4)
    claimed = primary(declared)
    if claimed == language:
        return Settled(declared, language, confidence)
    # A declaration the text all but rules out is wrong: it falls to a detection that would
    # fill in a missing one (Russian declared as English, at 0.78).
    position = index.get(claimed) if claimed is not None else None
    ruled_out = position is None or float(scores[position]) < _RULED_OUT
    if confidence >= CONFIDENT or (ruled_out and confidence >= FILL_IN):
        return Settled(language, language, confidence)
    return Settled(declared or None, language, confidence)
