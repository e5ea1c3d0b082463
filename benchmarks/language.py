"""How well the offline detector tells the language of real news, and what it costs.

    .venv/bin/python benchmarks/language.py          # the table in docs/watchlists.md

The articles are the MasakhaNEWS test sets in ../shared/data/labeled/masakhanews (BBC News
in English, Hausa, Igbo, Nigerian Pidgin and Yorùbá; see LICENSE-NOTE.md there). Each is
detected twice: from its headline and text as stored (what :func:`settle` reads), and from
its headline alone (an item whose feed gives no text). For each, the share detected right,
the share a feed declaring nothing would get settled right, wrong, or left unknown by
:func:`monitor.matching.language.settle`, and the CPU time per detection; and, for the whole
article, the share whose right declaration the detector leaves as it is.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.matching.language import detect, settle  # noqa: E402

MASAKHANEWS = ROOT.parent / "shared" / "data" / "labeled" / "masakhanews"
# MasakhaNEWS folder -> the ISO 639 code the detector and watchlists use
CODES = {"eng": "en", "hau": "ha", "ibo": "ig", "pcm": "pcm", "yor": "yo"}


def rows(folder: str, limit: int) -> list[tuple[str, str]]:
    csv.field_size_limit(sys.maxsize)
    with (MASAKHANEWS / folder / "test.tsv").open(encoding="utf-8", newline="") as handle:
        found = [(row["headline"], row["text"]) for row in csv.DictReader(handle, delimiter="\t")]
    return found[:limit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=400, help="per language (test split)")
    args = parser.parse_args()
    if not MASAKHANEWS.exists():
        sys.exit("masakhanews not found at ../shared/data/labeled/masakhanews")
    detect("warm the model up before timing anything at all")
    print(
        "| language | articles | detected right | settled right / wrong / unknown | µs |"
        " declared right, kept |"
        " headline only: detected right | settled right / wrong / unknown |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for folder, code in CODES.items():
        items = rows(folder, args.articles)
        cells: list[str] = []
        for part in ("article", "headline"):
            detected: Counter[bool] = Counter()
            settled: Counter[str] = Counter()
            started = time.process_time()
            for headline, text in items:
                found = detect(f"{headline}\n{text}" if part == "article" else headline)
                detected[found is not None and found[0] == code] += 1
                language = settle(None, headline, "", text if part == "article" else "").language
                settled["unknown" if language is None else str(language == code)] += 1
            spent = (time.process_time() - started) / len(items) / 2 * 1e6
            cells.append(f"{detected[True] / len(items):.1%}")
            cells.append(
                " / ".join(
                    f"{settled[key] / len(items):.1%}" for key in ("True", "False", "unknown")
                )
            )
            if part == "article":
                cells.append(f"{spent:.0f}")
                kept = sum(settle(code, h, "", t).language == code for h, t in items)
                cells.append(f"{kept / len(items):.1%}")
        print(f"| {code} | {len(items)} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
