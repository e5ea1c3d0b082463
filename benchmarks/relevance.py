"""Backtest the relevance controls over labelled news: what min_mentions, min_score and the
lede: scope each remove, and how often what stays is on the watchlist's topic.

    .venv/bin/python benchmarks/relevance.py              # the table in docs/watchlists.md
    .venv/bin/python benchmarks/relevance.py --min-score 0.5 --examples 3

The articles are the English and Pidgin MasakhaNEWS sets in ../shared/data/labeled/masakhanews
(BBC News headlines and texts, each labelled with one of six topics; see LICENSE-NOTE.md
there). They have no summary, so an article's lede is its first three sentences. Each
watchlist is matched the live way (``Matcher.match`` on a ``Document``), once as written,
once with ``min_mentions: 2``, once with ``min_score``, and once with its query under
``lede:``; 'on topic' is the share of hits labelled with the topic the query is about, which
the controls are meant to raise at the cost of some hits.
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.matching import Document, Matcher  # noqa: E402
from monitor.watchlists import WatchlistSpec  # noqa: E402

MASAKHANEWS = ROOT.parent / "shared" / "data" / "labeled" / "masakhanews"
LANGUAGES = ("eng", "pcm")

# (query, the topic its hits should have)
WATCHLISTS = [
    ("election*", "politics"),
    ("vaccin* OR covid OR coronavirus", "health"),
    ("inflation OR naira OR economy", "business"),
    ("striker OR goalkeeper OR midfielder", "sports"),
    ("app OR apps OR smartphone*", "technology"),
]


@dataclass(frozen=True)
class Labelled:
    doc: Document
    topic: str


@dataclass
class Column:
    hits: list[Labelled] = field(default_factory=list)

    def cell(self, topic: str) -> str:
        if not self.hits:
            return "0"
        on = sum(1 for item in self.hits if item.topic == topic)
        return f"{len(self.hits)} ({on / len(self.hits):.0%})"


def articles(directory: Path = MASAKHANEWS) -> list[Labelled]:
    """Every labelled article of LANGUAGES, as the matcher reads it."""
    csv.field_size_limit(10**8)
    out: list[Labelled] = []
    for language in LANGUAGES:
        for split in ("test.tsv", "dev.tsv", "train.tsv"):
            path = directory / language / split
            if not path.exists():
                continue
            with path.open(encoding="utf-8", newline="") as handle:
                for row in csv.DictReader(handle, delimiter="\t"):
                    url = row.get("url") or ""
                    doc = Document(
                        id=f"{language}-{split}-{len(out)}",
                        title=row.get("headline") or "",
                        content=row.get("text") or "",
                        # eng gives paths, pcm whole addresses
                        url=url if url.startswith("http") else "https://www.bbc.com" + url,
                        source="BBC",
                        language=language,
                    )
                    out.append(Labelled(doc, row.get("category") or ""))
    return out


def variants(query: str, min_score: float) -> dict[str, WatchlistSpec]:
    """The watchlist as written, and with each control."""
    return {
        "as written": WatchlistSpec(id="w", query=query),
        "min_mentions: 2": WatchlistSpec(id="w", query=query, min_mentions=2),
        f"min_score: {min_score:g}": WatchlistSpec(id="w", query=query, min_score=min_score),
        "lede:": WatchlistSpec(id="w", query=f"lede:({query})"),
    }


Row = tuple[str, str, dict[str, "Column"]]


def backtest(
    items: list[Labelled], min_score: float, watchlists: list[tuple[str, str]] = WATCHLISTS
) -> list[Row]:
    """Each watchlist's hits among *items*, as written and with each control."""
    rows = []
    for query, topic in watchlists:
        columns: dict[str, Column] = {}
        for label, spec in variants(query, min_score).items():
            matcher = Matcher([spec])
            column = columns[label] = Column()
            column.hits = [item for item in items if matcher.match(item.doc)]
        rows.append((query, topic, columns))
    return rows


def table(rows: list[Row]) -> list[str]:
    labels = list(rows[0][2])
    lines = [
        "| query | topic | " + " | ".join(labels) + " |",
        "|---|---|" + "---:|" * len(labels),
    ]
    for query, topic, columns in rows:
        cells = " | ".join(columns[label].cell(topic) for label in labels)
        lines.append(f"| `{query}` | {topic} | {cells} |")
    return lines


def examples(rows: list[Row], count: int) -> list[str]:
    """Headlines each control removed and kept, for the first watchlists."""
    lines = []
    for query, _topic, columns in rows[:2]:
        written = columns["as written"].hits
        for label in list(columns)[1:]:
            kept = {item.doc.id for item in columns[label].hits}
            removed = [item for item in written if item.doc.id not in kept]
            stayed = [item for item in written if item.doc.id in kept]
            lines.append(f"- `{query}` with `{label}`:")
            for verb, group in (("removed", removed), ("kept", stayed)):
                for item in group[:count]:
                    lines.append(f"  - {verb}: {item.doc.title} ({item.topic})")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-score", type=float, default=0.4)
    parser.add_argument("--examples", type=int, default=2, help="headlines per group")
    options = parser.parse_args()
    if not MASAKHANEWS.exists():
        sys.exit(f"MasakhaNEWS not found at {MASAKHANEWS}")
    items = articles()
    rows = backtest(items, options.min_score)
    print(
        f"{len(items):,} labelled articles ({', '.join(LANGUAGES)}); each cell: hits "
        "(share on the query's topic)"
    )
    print()
    print("\n".join(table(rows)))
    print()
    print("\n".join(examples(rows, options.examples)))


if __name__ == "__main__":
    main()
