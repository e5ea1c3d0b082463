"""Benchmark story assignment: time per article with 100,000 stories already stored.

    .venv/bin/python benchmarks/clustering.py                       # SQLite in a temp folder
    .venv/bin/python benchmarks/clustering.py --database-url postgresql://postgres@127.0.0.1/test
    .venv/bin/python benchmarks/clustering.py --write               # also update docs/benchmarks.md

It seeds ``--stories`` stories with signatures (bulk insert, first seen over the window, so
every one of them is in the index: the worst case), then times:

- the index load: the first ``assign_story`` of a fresh process, which reads every story in
  the window and builds the LSH index;
- ``--articles`` calls of ``assign_story``, each in its own transaction as the pipeline does,
  half of them new stories and half near-duplicate copies of earlier ones, with real text
  from ``../shared/data/labeled/masakhanews`` when present (synthetic text otherwise).

With ``--quality`` it also prints precision and recall per threshold on the labelled
near-duplicate set (in memory, the same rules as ``assign_story``).
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, text  # noqa: E402

from monitor import clustering  # noqa: E402
from monitor import db as storage  # noqa: E402
from monitor.config import load_settings  # noqa: E402
from monitor.models import Article, Base, Story  # noqa: E402
from tests.clustering import corpus  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "labeled" / "masakhanews"
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
SECTION = "## Clustering"


def _texts(count: int) -> list[tuple[str, str]]:
    """(title, body) pairs: real articles when the shared data is there."""
    pairs: list[tuple[str, str]] = []
    for language, name in [("eng", "test.tsv"), ("eng", "dev.tsv"), ("pcm", "train.tsv")]:
        path = DATA / language / name
        if path.exists():
            pairs += [(r["headline"], r["text"]) for r in corpus.read_articles(path)]
    rng = random.Random(3)
    words = [f"w{i}" for i in range(5000)]
    while len(pairs) < count:
        pairs.append((" ".join(rng.choices(words, k=8)), " ".join(rng.choices(words, k=400))))
    return pairs[:count]


def _seed(settings_url: str, stories: int, window_hours: float) -> float:
    settings = load_settings(database_url=settings_url)
    engine = storage.get_engine(settings)
    rng = random.Random(1)
    started = time.perf_counter()
    batch = []
    step = window_hours * 3600 * 0.95 / stories
    with engine.begin() as connection:
        for n in range(stories):
            # Random signatures: unrelated stories hash like independent random values.
            signature = [rng.getrandbits(32) for _ in range(clustering.NUM_PERM)]
            first_seen = NOW - timedelta(hours=window_hours * 0.97) + timedelta(seconds=n * step)
            batch.append(
                {
                    "first_seen_at": first_seen,
                    "title": f"Seeded story {n}",
                    "article_count": 1,
                    "signature": signature,
                }
            )
            if len(batch) == 5000:
                connection.execute(insert(Story), batch)
                batch.clear()
        if batch:
            connection.execute(insert(Story), batch)
    return time.perf_counter() - started


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(database_url: str | None, stories: int, articles: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        url = database_url or f"sqlite:///{tmp}/bench.db"
        settings = load_settings(database_url=url, cluster_threshold=0.5)
        storage.upgrade(settings)
        engine = storage.get_engine(settings)
        if not settings.is_sqlite:
            tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
            with engine.begin() as connection:
                connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        seed_seconds = _seed(url, stories, settings.story_window_hours)
        texts = _texts(articles)
        rng = random.Random(5)
        clustering.reset_story_indexes()
        make = storage.sessionmaker_for(settings)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

        # The index load: the first call of a fresh process.
        with make() as session:
            article = _article(session, "warm-up item with a short title", "", 0)
            started = time.perf_counter()
            clustering.assign_story(session, article, settings=settings, now=NOW)
            load_seconds = time.perf_counter() - started
            session.commit()
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

        timings: list[float] = []
        fingerprint_timings: list[float] = []
        refresh_timings: list[float] = []
        shared = clustering._shared_index(settings)
        originals: list[tuple[str, str]] = []
        with make() as session:
            for n in range(1, articles + 1):
                if originals and rng.random() < 0.5:
                    title, body = rng.choice(originals)
                    body = "By A. Reporter (AFP) - " + body
                else:
                    title, body = texts[n % len(texts)]
                    originals.append((title, body))
                article = _article(session, title, body, n)
                now = NOW + timedelta(seconds=n)
                started = time.perf_counter()
                clustering.fingerprint(title, body)
                fingerprint_timings.append(time.perf_counter() - started)
                started = time.perf_counter()
                clustering.assign_story(session, article, settings=settings, now=now)
                timings.append(time.perf_counter() - started)
                refresh_timings.append(shared.last_load_seconds)
                session.commit()
        storage.dispose_engines()
    return {
        "database": "SQLite" if url.startswith("sqlite") else "PostgreSQL",
        "stories": stories,
        "articles": articles,
        "seed_s": seed_seconds,
        "load_s": load_seconds,
        "rss_mb": (rss_after - rss_before) / 1024,
        "p50_ms": _percentile(timings, 0.5) * 1000,
        "p95_ms": _percentile(timings, 0.95) * 1000,
        "p99_ms": _percentile(timings, 0.99) * 1000,
        "mean_ms": statistics.fmean(timings) * 1000,
        "fp_p50_ms": _percentile(fingerprint_timings, 0.5) * 1000,
        "refresh_p50_ms": _percentile(refresh_timings, 0.5) * 1000,
    }


def _article(session: object, title: str, body: str, n: int) -> Article:
    from sqlalchemy.orm import Session

    assert isinstance(session, Session)
    article = Article(
        identity=f"{n:064d}", url=f"https://outlet{n % 7}.example/{n}", title=title, content=body
    )
    session.add(article)
    session.flush()
    return article


def quality(thresholds: list[float]) -> list[tuple[float, corpus.Score, int]]:
    """Precision and recall per threshold on the labelled set, with the in-memory index."""
    rows: list[dict[str, str]] = []
    for language, name in [("eng", "dev.tsv"), ("pcm", "test.tsv"), ("hau", "dev.tsv")]:
        rows += corpus.read_articles(DATA / language / name)
    items = corpus.build(rows, originals=400)
    fps = [clustering.fingerprint(item.title, item.body) for item in items]
    results = []
    for threshold in thresholds:
        index = clustering.StoryIndex(threshold=threshold)
        assigned: list[int] = []
        for n, fp in enumerate(fps):
            found = [s for _, s in index.near_duplicates(fp, since=NOW)]
            found = found or index.same_title(fp, since=NOW)
            if found:
                assigned.append(found[0])
                continue
            index.add(
                n,
                first_seen_at=NOW,
                title_key=fp.title_key,
                hashvalues=None if fp.is_short else fp.hashvalues,
            )
            assigned.append(n)
        results.append((threshold, corpus.score(items, assigned), len(items)))
    return results


def _timing_table(results: list[dict[str, object]]) -> str:
    lines = [
        "| database | stories stored | index load (s) | index memory (MB) | assign p50 (ms) "
        "| p95 (ms) | p99 (ms) | mean (ms) | of which: fingerprint p50 (ms) "
        "| index refresh p50 (ms) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['database']} | {r['stories']:,} | {r['load_s']:.2f} | {r['rss_mb']:.0f} "
            f"| {r['p50_ms']:.2f} | {r['p95_ms']:.2f} | {r['p99_ms']:.2f} | {r['mean_ms']:.2f} "
            f"| {r['fp_p50_ms']:.2f} | {r['refresh_p50_ms']:.2f} |"
        )
    return "\n".join(lines)


def _quality_table(results: list[tuple[float, corpus.Score, int]]) -> str:
    lines = [
        "| threshold | articles | precision | recall | false pairs | missed pairs |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for threshold, s, count in results:
        lines.append(
            f"| {threshold} | {count} | {s.precision:.4f} | {s.recall:.4f} "
            f"| {s.false_pairs} | {s.missed_pairs} |"
        )
    return "\n".join(lines)


def write_section(body: str) -> None:
    """Replace the '## Clustering' section of docs/benchmarks.md, leaving the others alone."""
    path = ROOT / "docs" / "benchmarks.md"
    existing = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    lines = existing.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == SECTION), None)
    if start is None:
        new = existing.rstrip("\n") + "\n\n" + body.rstrip("\n") + "\n"
    else:
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines)
        )
        new_lines = [*lines[:start], *body.rstrip("\n").splitlines(), "", *lines[end:]]
        new = "\n".join(new_lines).rstrip("\n") + "\n"
    path.write_text(new, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", action="append", help="repeat for several databases")
    parser.add_argument("--stories", type=int, default=100_000)
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--quality", action="store_true", help="also the threshold sweep")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()

    results = [run(url, args.stories, args.articles) for url in (args.database_url or [None])]
    timing = _timing_table(results)
    print(timing)
    sweep = None
    if args.quality:
        sweep = _quality_table(quality([0.4, 0.5, 0.6, 0.7, 0.8, 0.9]))
        print()
        print(sweep)
    if args.write:
        command = "python benchmarks/clustering.py " + " ".join(
            a for a in sys.argv[1:] if a != "--write"
        )
        machine = f"{os.cpu_count()} cores, shared with other jobs"
        body = [
            SECTION,
            "",
            f"Command: `{command.strip()} --write` ({machine}; {args.articles:,} articles timed "
            "one by one, each in its own transaction, half new stories and half near-duplicate "
            "copies; the stored stories all lie inside the 72 h window, so all are in the index).",
            "",
            timing,
            "",
            "Index load is the first call of a fresh process (reads every story in the window "
            "and builds the LSH index); later calls read only stories committed since.",
        ]
        if sweep:
            body += [
                "",
                "Precision and recall per threshold on the MasakhaNEWS near-duplicate set "
                "(5-word shingles, first 100 words of the body; see docs/clustering.md):",
                "",
                sweep,
            ]
        write_section("\n".join(body) + "\n")
        print("\nwrote docs/benchmarks.md")


if __name__ == "__main__":
    main()
