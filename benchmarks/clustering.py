"""Benchmark story assignment: time per article with 100,000 stories already stored.

    .venv/bin/python benchmarks/clustering.py                       # SQLite in a temp folder
    .venv/bin/python benchmarks/clustering.py --database-url sqlite \
        --database-url postgresql://postgres@127.0.0.1/test   # creates and drops its own db
    .venv/bin/python benchmarks/clustering.py --write               # also update docs/benchmarks.md

It seeds ``--stories`` stories with signatures and their ``story_keys`` claims (bulk insert,
first seen over the window, so every one of them is in the index: the worst case), then times:

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
import contextlib
import gc
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from sqlalchemy import create_engine, insert, text  # noqa: E402
from sqlalchemy.dialects import postgresql, sqlite  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from benchmarks.sections import replace_section  # noqa: E402
from monitor import clustering  # noqa: E402
from monitor import db as storage  # noqa: E402
from monitor.clustering import assign as assignment  # noqa: E402
from monitor.clustering.shared import shared_index  # noqa: E402
from monitor.config import Settings, load_settings  # noqa: E402
from monitor.models import Article, Story, StoryKey  # noqa: E402
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
    """Store *stories* stories and their claims in ``story_keys``, as ``assign_story`` would
    have (a new story's claim then lands in a table of realistic size)."""
    settings = load_settings(database_url=settings_url)
    engine = storage.get_engine(settings)
    rng = random.Random(1)
    started = time.perf_counter()
    step = window_hours * 3600 * 0.95 / stories
    with engine.begin() as connection:
        for first in range(0, stories, 5000):
            batch = []
            for n in range(first, min(first + 5000, stories)):
                # Random signatures: unrelated stories hash like independent random values.
                signature = [rng.getrandbits(32) for _ in range(clustering.NUM_PERM)]
                first_seen = (
                    NOW - timedelta(hours=window_hours * 0.97) + timedelta(seconds=n * step)
                )
                batch.append(
                    {
                        "first_seen_at": first_seen,
                        "title": f"Seeded story {n}",
                        "article_count": 1,
                        "signature": signature,
                    }
                )
            ids = connection.execute(
                insert(Story).returning(Story.id, sort_by_parameter_order=True), batch
            ).scalars()
            keys = [
                {
                    "band": band,
                    "key": key,
                    "story_id": story_id,
                    "first_seen_at": row["first_seen_at"],
                }
                for story_id, row in zip(ids, batch, strict=True)
                for band, key in clustering.Fingerprint(
                    "", 0, clustering.MIN_SHINGLES, np.asarray(row["signature"], dtype=np.uint32)
                ).claim_keys()
            ]
            # Two random 32-bit values at one position meet about once per 100,000 stories
            # (birthdays): the later story simply does not hold that claim, as in production.
            dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
            connection.execute(dialect.insert(StoryKey).on_conflict_do_nothing(), keys)
    return time.perf_counter() - started


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _rss_mb() -> float:
    """The resident size now (not the peak), in MB."""
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * resource.getpagesize() / 1e6


@contextlib.contextmanager
def _database(database_url: str | None) -> Iterator[str]:
    """A database of the benchmark's own: a temp SQLite file, or a PostgreSQL database
    created next to the one named (and dropped afterwards), never the one named itself."""
    if database_url is None or database_url.startswith("sqlite"):
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{tmp}/bench.db"
        return
    name = f"monitor_bench_clustering_{os.getpid()}"
    admin = create_engine(
        load_settings(database_url=database_url).sqlalchemy_url, isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield database_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        storage.dispose_engines()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run(database_url: str | None, stories: int, articles: int) -> dict[str, object]:
    with _database(database_url) as url:
        settings = load_settings(database_url=url, cluster_threshold=0.5)
        storage.upgrade(settings)
        seed_seconds = _seed(url, stories, settings.story_window_hours)
        texts = _texts(articles)
        rng = random.Random(5)
        clustering.reset_story_indexes()
        make = storage.sessionmaker_for(settings)
        gc.collect()
        rss_before = _rss_mb()

        # The index load: the first call of a fresh process.
        with make() as session:
            article = _article(session, "warm-up item with a short title", "", 0)
            started = time.perf_counter()
            clustering.assign_story(session, article, settings=settings, now=NOW)
            load_seconds = time.perf_counter() - started
            session.commit()
        gc.collect()
        rss_after = _rss_mb()

        timings: list[float] = []
        fingerprint_timings: list[float] = []
        refresh_timings: list[float] = []
        shared = shared_index(settings)
        originals: list[tuple[str, str]] = []
        by_outcome: dict[str, list[float]] = {"new": [], "joined": []}
        stories_seen: set[int] = set()
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
                story_id = clustering.assign_story(session, article, settings=settings, now=now)
                timings.append(time.perf_counter() - started)
                by_outcome["joined" if story_id in stories_seen else "new"].append(timings[-1])
                stories_seen.add(story_id)
                refresh_timings.append(shared.last_load_seconds)
                session.commit()
            claims_cost = _claims_side_by_side(session, settings, articles)
        storage.dispose_engines()
    return {
        "database": "SQLite" if url.startswith("sqlite") else "PostgreSQL",
        "stories": stories,
        "articles": articles,
        "seed_s": seed_seconds,
        "load_s": load_seconds,
        "rss_mb": rss_after - rss_before,
        "p50_ms": _percentile(timings, 0.5) * 1000,
        "p95_ms": _percentile(timings, 0.95) * 1000,
        "p99_ms": _percentile(timings, 0.99) * 1000,
        "mean_ms": statistics.fmean(timings) * 1000,
        "new_p50_ms": _percentile(by_outcome["new"], 0.5) * 1000,
        "joined_p50_ms": _percentile(by_outcome["joined"], 0.5) * 1000,
        "claims_on_ms": _percentile(claims_cost[True], 0.5) * 1000,
        "claims_off_ms": _percentile(claims_cost[False], 0.5) * 1000,
        "fp_p50_ms": _percentile(fingerprint_timings, 0.5) * 1000,
        "refresh_p50_ms": _percentile(refresh_timings, 0.5) * 1000,
    }


def _claims_side_by_side(
    session: Session, settings: Settings, first: int, count: int = 400
) -> dict[bool, list[float]]:
    """New stories timed with and without their ``story_keys`` claims, alternately in one
    run, so the claims' cost is not hidden by the machine's load changing between runs."""
    # Patched where assign_story looks it up.
    claim = assignment._claim
    timings: dict[bool, list[float]] = {True: [], False: []}
    rng = random.Random(11)
    words = [f"z{i}" for i in range(20000)]
    try:
        for n in range(first + 1, first + count + 1):
            with_claims = n % 2 == 0
            assignment._claim = claim if with_claims else (lambda *_, **__: [])
            title, body = " ".join(rng.choices(words, k=8)), " ".join(rng.choices(words, k=150))
            article = _article(session, title, body, n)
            started = time.perf_counter()
            clustering.assign_story(
                session, article, settings=settings, now=NOW + timedelta(seconds=n)
            )
            timings[with_claims].append(time.perf_counter() - started)
            session.commit()
    finally:
        assignment._claim = claim
    return timings


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
        "| p95 (ms) | p99 (ms) | mean (ms) | new story p50 (ms) | join p50 (ms) "
        "| of which: fingerprint p50 (ms) | index refresh p50 (ms) "
        "| new story p50 with / without claims (ms) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['database']} | {r['stories']:,} | {r['load_s']:.2f} | {r['rss_mb']:.0f} "
            f"| {r['p50_ms']:.2f} | {r['p95_ms']:.2f} | {r['p99_ms']:.2f} | {r['mean_ms']:.2f} "
            f"| {r['new_p50_ms']:.2f} | {r['joined_p50_ms']:.2f} "
            f"| {r['fp_p50_ms']:.2f} | {r['refresh_p50_ms']:.2f} "
            f"| {r['claims_on_ms']:.2f} / {r['claims_off_ms']:.2f} |"
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
    replace_section(SECTION, body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url",
        action="append",
        help="'sqlite' (a temp file) or a PostgreSQL URL (a database is created beside it); "
        "repeat for several",
    )
    parser.add_argument("--stories", type=int, default=100_000)
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--quality", action="store_true", help="also the threshold sweep")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()

    if args.one is not None:
        url = None if args.one == "sqlite" else args.one
        print(json.dumps(run(url, args.stories, args.articles)))
        return
    # One process per database, so that one run's memory does not hide in the next one's.
    results = []
    for url in args.database_url or ["sqlite"]:
        command = [sys.executable, __file__, "--one", url, "--stories", str(args.stories)]
        command += ["--articles", str(args.articles)]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        results.append(json.loads(output.strip().splitlines()[-1]))
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
        load = os.getloadavg()[0]
        machine = (
            f"{os.cpu_count()} cores shared with other jobs, load average {load:.1f} at the end"
        )
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
            "and builds the LSH index; `warm_story_index` does it at worker start instead); "
            "later calls read only stories added since. Index memory is the growth of the "
            "resident size over the load. The rest of a call, beyond fingerprint and refresh, "
            "is the database work of joining or creating the story: an UPDATE to join; to "
            "create, an INSERT of the story and of its claims in `story_keys` (8 MinHash values "
            "and the headline, the compare-and-set that stops two workers from starting the "
            "same story at once; the seeded stories hold theirs too). Both set the article's "
            "`story_id`, and both grow with the machine's load more than anything else. The "
            "last column times 400 more new stories after the main run, every other one "
            "without its claims, so that the claims' cost is measured side by side.",
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
