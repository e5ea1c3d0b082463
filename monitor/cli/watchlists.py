"""``monitor watchlists validate|list|test|precision`` and ``monitor match``: watchlists from
the shell.

``validate`` and ``match`` need neither a database nor a broker, so an analyst can check a
query against saved pages on a laptop; ``test`` backtests a watchlist over stored articles
(and, with ``--exclude``, an exclusion over its labelled hits); ``precision`` says how many of
each watchlist's labelled hits were relevant, and which words to consider excluding.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select

from monitor.alerts.formatting import mark_plain
from monitor.cli.context import settings_from
from monitor.cli.terminal import printable
from monitor.documents import WITH_FEEDS, parsed_document, settled_document, stored_document
from monitor.entities import unescape, whole_characters
from monitor.errors import UserError
from monitor.matching import Document, Matcher, MatchResult
from monitor.matching.language import Settled
from monitor.matching.query import QuerySyntaxError
from monitor.matching.relevance import Controls, Relevance, controls_of
from monitor.precision import (
    ExclusionTest,
    backtest_exclusion,
    candidate_exclusions,
    precision_by_watchlist,
)
from monitor.watchlists import LoadResult, load_watchlists, unsendable_alerts

__all__ = ["commands", "match", "parse_since", "watchlists"]

_SINCE = re.compile(r"^\s*(\d+)\s*(m|min|h|d|w)\s*$")
_UNITS = {"m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str) -> timedelta:
    """``30m``, ``12h``, ``7d`` or ``2w``."""
    found = _SINCE.match(text)
    if not found or int(found.group(1)) < 1:
        raise UserError(f"--since: expected a duration such as 12h, 7d or 2w, not {text!r}")
    return timedelta(seconds=int(found.group(1)) * _UNITS[found.group(2)])


def _directory(ctx: click.Context, given: Path | None) -> Path:
    return given if given is not None else settings_from(ctx).watchlists


def _load(paths: list[Path]) -> LoadResult:
    for path in paths:
        if not path.exists():
            raise UserError(f"{path}: no such file or directory")
    return load_watchlists(paths)


@click.group()
def watchlists() -> None:
    """Check, list and backtest watchlists."""


@watchlists.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--files-only",
    is_flag=True,
    help="Check the files alone, not that this machine has each destination's secret "
    "(CI, an analyst's laptop).",
)
@click.pass_context
def validate(ctx: click.Context, paths: tuple[Path, ...], files_only: bool) -> None:
    """Check files or directories: schema, query syntax, each watchlist's examples, and that
    every destination can be sent from here (its token, SMTP URL or webhook variable is set).

    Prints one 'file:line:col: message' line per problem; exits 1 if there is any.
    """
    targets = list(paths) or [_directory(ctx, None)]
    result = _load(targets)
    problems = [str(error) for error in result.errors]
    if not files_only:
        # An alert whose secret is missing would fail at the first hit; say so now.
        problems += unsendable_alerts(result.watchlists, settings_from(ctx))
    for problem in problems:
        click.echo(problem)
    count = len(result.watchlists)
    if problems:
        click.echo(f"{len(problems)} problem(s); {count} watchlist(s) valid", err=True)
        ctx.exit(1)
    click.echo(f"{count} watchlist(s) valid", err=True)


@watchlists.command("list")
@click.option("--watchlists", "directory", type=click.Path(path_type=Path), help="Directory.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per watchlist.")
@click.pass_context
def list_(ctx: click.Context, directory: Path | None, as_json: bool) -> None:
    """The watchlists in the directory, with their queries and destinations."""
    result = _load([_directory(ctx, directory)])
    for spec in result.watchlists:
        if as_json:
            click.echo(json.dumps({**spec.model_dump(mode="json"), "path": spec.path}))
            continue
        state = "on " if spec.enabled else "off"
        where = ", ".join(a.key for a in spec.alerts) or "default destinations"
        click.echo(f"{spec.id:<28} {state} {spec.query}")
        click.echo(f"{'':<28}     -> {where}   ({spec.path})")
    for error in result.errors:
        click.echo(str(error), err=True)
    if result.errors:
        ctx.exit(1)


# What `watchlists test` tries when neither the file nor an option sets a control.
TRY_MENTIONS = 2
TRY_SCORE = 0.3


@watchlists.command()
@click.argument("watchlist_id", metavar="ID")
@click.option("--since", default="7d", show_default=True, help="How far back: 12h, 7d, 2w.")
@click.option("--sample", default=5, show_default=True, type=click.IntRange(0, 100))
@click.option("--watchlists", "directory", type=click.Path(path_type=Path), help="Directory.")
@click.option(
    "--min-mentions",
    type=click.IntRange(1, 1000),
    help=f"Try this min_mentions (default: the file's, else {TRY_MENTIONS}).",
)
@click.option(
    "--min-score",
    type=click.FloatRange(0, 1, max_open=True),
    help=f"Try this min_score (default: the file's, else {TRY_SCORE}).",
)
@click.option(
    "--exclude",
    "exclusions",
    multiple=True,
    metavar="TERM",
    help="Backtest adding AND NOT (TERM) on the labelled hits of the period; repeatable.",
)
@click.pass_context
def test(
    ctx: click.Context,
    watchlist_id: str,
    since: str,
    sample: int,
    directory: Path | None,
    min_mentions: int | None,
    min_score: float | None,
    exclusions: tuple[str, ...],
) -> None:
    """Backtest ID over stored articles: how many would have matched, how many hits each
    relevance control (min_mentions, min_score, both) would remove, and a sample; with
    --exclude, how many labelled-relevant hits each exclusion would lose and how many
    not-relevant ones it would remove."""
    from monitor import db as storage
    from monitor.models import Article

    window = parse_since(since)
    result = _load([_directory(ctx, directory)])
    spec = next((s for s in result.watchlists if s.id == watchlist_id), None)
    if spec is None:
        broken = [str(e) for e in result.errors]
        hint = f" ({broken[0]})" if broken else " (see: monitor watchlists list)"
        raise UserError(f"no valid watchlist {watchlist_id!r}{hint}")
    # A backtest shows what the query catches, so a paused watchlist is tested too; weigh()
    # gives every hit with its mentions and score, whatever the controls say.
    matcher = Matcher([spec.model_copy(update={"enabled": True})])
    in_force = controls_of(spec)
    trial = Controls(
        min_mentions or in_force.min_mentions or TRY_MENTIONS,
        min_score if min_score is not None else (in_force.min_score or TRY_SCORE),
    )
    settings = settings_from(ctx)
    cutoff = datetime.now(UTC) - window
    total = 0
    hits: list[tuple[Any, MatchResult, Relevance]] = []
    weights: list[Relevance] = []
    with storage.session_scope(settings) as session:
        query = (
            select(Article)
            .where(Article.first_seen_at >= cutoff)
            .options(WITH_FEEDS)
            .order_by(Article.first_seen_at.desc(), Article.id.desc())
            .execution_options(yield_per=500)
        )
        for article in session.scalars(query):
            total += 1
            found = matcher.weigh(stored_document(article))
            if found:
                why, weight = found[0]
                weights.append(weight)
                if len(hits) < sample:
                    hits.append((article, why, weight))
    click.echo(
        f"{watchlist_id}: {len(weights)} hit(s) in {total} article(s) "
        f"since {cutoff:%Y-%m-%d %H:%M} UTC"
    )
    for line in _trade(weights, trial, in_force):
        click.echo(line)
    # Titles, URLs and snippets come from feeds: printable() keeps their escape sequences off
    # the terminal.
    for article, why, weight in hits:
        click.echo(printable(f"- {article.title or '(no title)'}  <{article.url or ''}>"))
        dropped = "" if in_force.keeps(weight) else ", dropped by the controls in force"
        click.echo(f"  score {weight.score:.2f}, {weight.mentions} mention(s){dropped}")
        click.echo(printable(f"  matched: {', '.join(why.matched) or '(NOT-only query)'}"))
        if why.snippet:
            marked = mark_plain(why.snippet, why.highlights, left="[", right="]")
            click.echo(printable(f"  {marked}"))
    for term in exclusions:
        with storage.session_scope(settings) as session:
            try:
                tried = backtest_exclusion(session, watchlist_id, spec.query, term, since=cutoff)
            except QuerySyntaxError as exc:
                raise UserError(f"--exclude {term!r}: {exc}") from None
        click.echo(printable(_exclusion_line(tried)))


def _exclusion_line(tried: ExclusionTest) -> str:
    line = (
        f"--exclude {tried.term}: loses {tried.relevant_lost} of {tried.relevant} "
        f"relevant hit(s), removes {tried.not_relevant_removed} of {tried.not_relevant} "
        f"not-relevant hit(s) and {tried.unlabelled_removed} unlabelled, of {tried.hits} hit(s)"
    )
    if tried.unmatched:
        line += f" ({tried.unmatched} no longer matched by the query as it is)"
    return line


@watchlists.command()
@click.argument("watchlist_id", metavar="[ID]", required=False)
@click.option("--since", default="30d", show_default=True, help="How far back: 7d, 30d, 8w.")
@click.option(
    "--candidates",
    default=10,
    show_default=True,
    type=click.IntRange(0, 100),
    help="With ID: how many candidate exclusions to offer.",
)
@click.pass_context
def precision(ctx: click.Context, watchlist_id: str | None, since: str, candidates: int) -> None:
    """Labelled hits and precision (relevant / labelled) per watchlist over a period; with
    ID, that watchlist's candidate exclusions: the words most over-represented in its
    not-relevant hits, each with the command that backtests it."""
    from monitor import db as storage

    cutoff = datetime.now(UTC) - parse_since(since)
    with storage.session_scope(settings_from(ctx)) as session:
        rows = precision_by_watchlist(
            session, since=cutoff, watchlist_ids=[watchlist_id] if watchlist_id else None
        )
        if watchlist_id and not rows:
            raise UserError(f"no watchlist {watchlist_id!r} in the database")
        offered = (
            candidate_exclusions(session, watchlist_id, since=cutoff, limit=candidates)
            if watchlist_id and candidates
            else []
        )
    click.echo(f"since {cutoff:%Y-%m-%d %H:%M} UTC")
    click.echo(f"{'watchlist':<28} {'hits':>6} {'relevant':>9} {'not rel.':>9} {'precision':>10}")
    for row in rows:
        shown = "-" if row.precision is None else f"{row.precision:.0%}"
        click.echo(
            printable(
                f"{row.watchlist_id:<28} {row.hits:>6} {row.relevant:>9} "
                f"{row.not_relevant:>9} {shown:>10}"
            )
        )
    if not watchlist_id or not candidates:
        return
    if not offered:
        click.echo("no candidate exclusions: label more hits not relevant (and some relevant)")
        return
    click.echo("candidate exclusions (most over-represented in not-relevant hits):")
    for found in offered:
        click.echo(
            printable(
                f"  {found.term:<20} in {found.not_relevant} of {found.not_relevant_total} "
                f"not-relevant, {found.relevant} relevant, {found.others} of "
                f"{found.others_total} other hit(s)"
            )
        )
        click.echo(
            printable(
                f"    try: monitor watchlists test {watchlist_id} --since {since} "
                f"--exclude {found.term}"
            )
        )


def _trade(weights: list[Relevance], trial: Controls, in_force: Controls) -> list[str]:
    """How many of the hits each control would remove: min_mentions, min_score, both."""
    if not weights:
        return []
    scores = sorted(w.score for w in weights)
    lines = [
        f"scores: lowest {scores[0]:.2f}, median {scores[len(scores) // 2]:.2f}, "
        f"highest {scores[-1]:.2f}"
    ]
    tried = [
        (
            f"min_mentions {trial.min_mentions}",
            Controls(min_mentions=trial.min_mentions),
            _filed(trial.min_mentions, in_force.min_mentions),
        ),
        (
            f"min_score {trial.min_score:g}",
            Controls(min_score=trial.min_score),
            _filed(trial.min_score, in_force.min_score),
        ),
        ("both", trial, "as in the file" if trial == in_force else "together"),
    ]
    for head, controls, where in tried:
        removed = sum(1 for w in weights if not controls.keeps(w))
        lines.append(f"{head}: removes {removed} hit(s), {len(weights) - removed} left ({where})")
    return lines


def _filed(tried: float, filed: float) -> str:
    if not filed:
        return "not in the file"
    return "as in the file" if tried == filed else f"the file has {filed:g}"


# -- monitor match ---------------------------------------------------------------------


def _documents(path: Path, report: Callable[[str], None]) -> Iterator[Document]:
    """The articles in a local file, by its extension. A line of a .jsonl file that is not an
    article is *report*-ed and skipped; a file that cannot be read raises UserError."""
    suffix = path.suffix.lower()
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror}") from None
    if suffix == ".txt":
        text = raw.decode("utf-8", errors="replace")
        first, _, rest = text.strip().partition("\n")
        yield Document(id=str(path), title=first.strip(), content=rest.strip())
    elif suffix == ".jsonl":
        for number, line in enumerate(raw.decode("utf-8", errors="replace").splitlines(), 1):
            if not line.strip():
                continue
            try:
                item = whole_characters(json.loads(line))
                if not isinstance(item, dict):
                    raise ValueError("not an object")
            except ValueError as exc:
                report(f"{path}:{number}: not a JSON object: {exc}")
                continue
            yield Document(
                id=str(item.get("id") or f"{path}:{number}"),
                title=str(item.get("title") or ""),
                summary=str(item.get("summary") or ""),
                content=str(item.get("content") or ""),
                url=str(item.get("url") or ""),
                source=str(item.get("source") or ""),
                language=item.get("language") or None,
            )
    elif suffix in (".html", ".htm"):
        from monitor.feeds.fulltext import extract_main_text

        page = raw.decode("utf-8", errors="replace")
        title = re.search(r"<title[^>]*>(.*?)</title>", page, re.IGNORECASE | re.DOTALL)
        yield Document(
            id=str(path),
            title=unescape(" ".join(title.group(1).split())) if title else "",
            content=extract_main_text(page),
        )
    elif suffix in (".xml", ".rss", ".atom"):
        from monitor.feeds.normalise import articles_from_parsed
        from monitor.feeds.parser import parse_feed

        parsed = parse_feed(raw)
        if not parsed.is_feed:
            raise UserError(
                f"{path}: not a feed" + (f": {parsed.problem}" if parsed.problem else "")
            )
        for item in articles_from_parsed(parsed, url=path.resolve().as_uri()):
            yield parsed_document(item)
    else:
        raise UserError(
            f"{path}: unsupported file type (use .html, .xml, .rss, .atom, .txt, .jsonl)"
        )


@click.command()
@click.option(
    "--watchlists", "directory", type=click.Path(path_type=Path), help="Watchlist directory."
)
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.pass_context
def match(ctx: click.Context, directory: Path | None, files: tuple[Path, ...]) -> None:
    """Match local files against the watchlists; print one JSON line per hit.

    Needs no database or broker. Reads .html pages (main text), .xml/.rss/.atom feeds (each
    entry), .txt (first line is the title) and .jsonl (title, summary, content, url, id).
    The feeds: and languages: restrictions are ignored: local files come from no feed. Each
    file's language is settled as a stored article's is (a .jsonl line may declare one), and
    chooses a watchlist's translations: and stemmer.
    """
    result = _load([_directory(ctx, directory)])
    for error in result.errors:
        click.echo(printable(str(error)), err=True)
    matcher = Matcher(result.watchlists, filters=False)
    problems = 0

    def report(problem: str) -> None:
        nonlocal problems
        problems += 1
        click.echo(f"monitor: {printable(problem)}", err=True)

    # A file that cannot be read is one line on stderr; the files after it are still matched,
    # and the exit status says that something was not.
    for path in files:
        try:
            if not path.is_file():
                raise UserError(f"{path}: no such file")
            for read in _documents(path, report):
                doc, settled = settled_document(read)
                for hit in matcher.match(doc):
                    line = _hit_line(hit, doc, settled)
                    click.echo(json.dumps(line, ensure_ascii=False))
        except UserError as exc:
            report(exc.message)
        except BrokenPipeError:
            raise  # the reader of our output has gone: nothing more to say to anyone
        except Exception as exc:
            # A bug in a reader (ours, or trafilatura's or lxml's on a hostile page) costs
            # this file alone.
            report(f"{path}: cannot read: {type(exc).__name__}: {exc}")
    if result.errors or problems:
        ctx.exit(1)


def _hit_line(hit: MatchResult, doc: Document, settled: Settled) -> dict[str, Any]:
    return {
        "watchlist": hit.watchlist_id,
        "article": {
            "id": doc.id,
            "title": doc.title,
            "url": doc.url,
            # The language matching used (null: unknown), and the detector's guess and
            # confidence (null: too short to tell).
            "language": doc.language,
            "detected_language": settled.detected,
            "language_confidence": settled.confidence,
        },
        "fields": list(hit.fields),
        "matched": list(hit.matched),
        "snippet": hit.snippet,
        "highlights": [list(span) for span in hit.highlights],
        "score": round(hit.score, 3),
    }


commands = [watchlists, match]
