"""A labelled near-duplicate set built from real news text (MasakhaNEWS).

Each original article gets copies edited the way outlets edit wire copy: a few words
changed, a byline and a dateline added, the last paragraphs cut, two paragraphs swapped, a
reworded headline. The original and its copies are one story; every other original (many on
the same topic, as the set is grouped by category) is a different story. Used by the tests
and by ``benchmarks/clustering.py``.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

csv.field_size_limit(1 << 26)

#: Words swapped in by the 'edited' copies: plausible sub-editor changes.
_REPLACEMENTS = ["said", "added", "reported", "officials", "on Monday", "yesterday", "also", "now"]
_BYLINES = [
    "By Amina Bello, Staff Reporter",
    "By John Okafor",
    "Reporting by Kemi Ade; Editing by Tom Reed",
]
_DATELINES = ["LAGOS, Nigeria (AFP) —", "NAIROBI (Reuters) -", "ABUJA —", "LONDON, June 3 (AP) --"]


@dataclass(frozen=True, slots=True)
class Item:
    story: int  # the true story: the index of the original
    variant: str  # 'original', 'edited', 'byline', 'cut', 'reordered', 'headline'
    category: str
    title: str
    body: str
    url: str


def read_articles(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    seen: set[str] = set()
    unique = []
    for row in rows:
        key = row["text"].strip()[:200]
        if key and key not in seen:
            seen.add(key)
            unique.append(row)
    return unique


def _paragraphs(text: str) -> list[str]:
    return [p.strip() for p in text.split("\n") if p.strip()]


def edit_words(text: str, rng: random.Random, count: int, within: int = 120) -> str:
    words = text.split(" ")
    for _ in range(count):
        i = rng.randrange(min(len(words), within))
        words[i] = rng.choice(_REPLACEMENTS)
    return " ".join(words)


def _edited(title: str, paras: list[str], rng: random.Random) -> tuple[str, str]:
    return title, edit_words("\n".join(paras), rng, 3)


def _byline(title: str, paras: list[str], rng: random.Random) -> tuple[str, str]:
    first = f"{rng.choice(_DATELINES)} {paras[0]}"
    return title, "\n".join([rng.choice(_BYLINES), first, *paras[1:]])


def _cut(title: str, paras: list[str], rng: random.Random) -> tuple[str, str]:
    keep = max(2, (len(paras) * 3) // 5)
    return title, "\n".join(paras[:keep])


def _reordered(title: str, paras: list[str], rng: random.Random) -> tuple[str, str]:
    paras = list(paras)
    i = rng.randrange(1, max(2, len(paras) - 1))
    j = min(i + 1, len(paras) - 1)
    paras[i], paras[j] = paras[j], paras[i]
    return title, "\n".join(paras)


def _headline(title: str, paras: list[str], rng: random.Random) -> tuple[str, str]:
    return edit_words(title, rng, 2, within=len(title.split())), edit_words(
        "\n".join(paras), rng, 1
    )


VARIANTS: dict[str, Callable[[str, list[str], random.Random], tuple[str, str]]] = {
    "edited": _edited,
    "byline": _byline,
    "cut": _cut,
    "reordered": _reordered,
    "headline": _headline,
}


def build(rows: list[dict[str, str]], *, originals: int, seed: int = 8) -> list[Item]:
    """The first *originals* usable rows and their copies, shuffled, deterministic."""
    rng = random.Random(seed)
    items: list[Item] = []
    usable = [r for r in rows if len(_paragraphs(r["text"])) >= 4 and r["headline"].strip()]
    for story, row in enumerate(usable[:originals]):
        paras = _paragraphs(row["text"])
        title = row["headline"].strip()
        category = row["category"]
        items.append(Item(story, "original", category, title, "\n".join(paras), _url(story, 0)))
        for n, (name, make) in enumerate(VARIANTS.items(), start=1):
            new_title, body = make(title, paras, rng)
            items.append(Item(story, name, category, new_title, body, _url(story, n)))
    rng.shuffle(items)
    return items


def _url(story: int, copy: int) -> str:
    return f"https://outlet{copy}.example/news/{story}-{copy}"


@dataclass(frozen=True, slots=True)
class Score:
    precision: float
    recall: float
    true_pairs: int
    false_pairs: int
    missed_pairs: int
    missed_by_variant: dict[str, int]


def _pairs(labels: list[int]) -> Iterator[tuple[int, int]]:
    groups: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        groups.setdefault(label, []).append(i)
    for members in groups.values():
        yield from combinations(members, 2)


def score(items: list[Item], assigned: list[int]) -> Score:
    """Pairwise precision and recall of *assigned* story ids against the true stories."""
    truth = set(_pairs([item.story for item in items]))
    predicted = set(_pairs(assigned))
    true_positive = len(truth & predicted)
    missed = truth - predicted
    by_variant: dict[str, int] = {}
    for a, b in missed:
        for item in (items[a], items[b]):
            if item.variant != "original":
                by_variant[item.variant] = by_variant.get(item.variant, 0) + 1
    return Score(
        precision=true_positive / len(predicted) if predicted else 1.0,
        recall=true_positive / len(truth) if truth else 1.0,
        true_pairs=true_positive,
        false_pairs=len(predicted - truth),
        missed_pairs=len(missed),
        missed_by_variant=by_variant,
    )
