"""``monitor feeds``: add, list, remove, import and export feeds, and poll them now.

feeds.yaml is the source of truth: ``add``, ``remove`` and ``import`` edit the file (the
service picks the change up on its next tick); ``list`` and ``poll`` bring the database in
line with the file first, and ``list`` says which entries of the file are not in force.

A feed's title and errors come from the feed's server, so what ``list`` prints goes through
:func:`printable`: an escape sequence in a title must not reach the terminal.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError
from sqlalchemy import select

from monitor import db as storage
from monitor.cli.context import pass_settings
from monitor.cli.terminal import printable
from monitor.config import Settings
from monitor.errors import UserError
from monitor.feeds import poll_feed, sync_feeds
from monitor.feeds.config import (
    FeedSpec,
    feeds_file_problems,
    load_feeds_file,
    parse_interval,
    save_feeds_file,
)
from monitor.feeds.fetcher import FetchError
from monitor.feeds.opml import export_opml, parse_opml
from monitor.feeds.sources.discover import discover
from monitor.models import Feed, utcnow
from monitor.redaction import scrub
from monitor.states import SourceKind

__all__ = ["commands", "feeds"]


def _shown(feed: Feed) -> str:
    """A feed's name for a person: its name or title, else its URL without credentials."""
    return feed.display_name if feed.name or feed.title else scrub(feed.url) or ""


@click.group()
def feeds() -> None:
    """Feeds: add, list, remove, import/export OPML, poll now."""


def _discovered(url: str, settings: Settings) -> str:
    """The feed to store for *url*: *url* when it is a feed (or cannot be checked now), else
    the feed its page announces or a usual path holds; every announced feed is listed."""
    try:
        found = discover(url.strip(), settings=settings)
    except FetchError as exc:
        click.echo(f"could not check {scrub(url)} ({exc.message}); adding it as given", err=True)
        return url
    if found.url is None:
        named = ", ".join(scrub(sitemap) or "" for sitemap in found.sitemaps)
        raise UserError(
            f"cannot add {scrub(url)}: it is a page, not a feed, and {found.how}; "
            "see docs/feeds.md for 'type: html' and 'type: sitemap'"
            + (f"; its robots.txt names these sitemaps: {named}" if named else "")
        )
    if len(found.announced) > 1:
        click.echo(f"{scrub(url)} offers {len(found.announced)} feeds:")
        for feed in found.announced:
            title = f"  {printable(feed.title)}" if feed.title else ""
            click.echo(f"  {scrub(feed.url)}{title}")
    if found.url != url.strip():
        click.echo(f"chose {scrub(found.url)}: {found.how}")
    return found.url


def _specs(settings: Settings) -> list[FeedSpec]:
    path = Path(settings.feeds)
    if not path.exists():
        return []
    return list(load_feeds_file(path).specs)


def _find(specs: list[FeedSpec], key: str) -> FeedSpec:
    wanted = key.strip().lower()
    for spec in specs:
        if spec.url.lower() == wanted or (spec.name or "").lower() == wanted:
            return spec
    raise UserError(f"no feed named or at {key!r} in feeds.yaml (see: monitor feeds list)")


@feeds.command()
@click.argument("url")
@click.option("--name", help="A short name shown in alerts and lists.")
@click.option("--tag", "tags", multiple=True, help="A tag (repeat for several).")
@click.option("--interval", help="Poll interval: seconds or 90s / 15m / 2h / 1d.")
@click.option("--fulltext", is_flag=True, help="Fetch each new article's page for its text.")
@click.option(
    "--no-discover", is_flag=True, help="Store URL as given, without looking for a site's feed."
)
@pass_settings
def add(
    settings: Settings,
    url: str,
    name: str | None,
    tags: tuple[str, ...],
    interval: str | None,
    fulltext: bool,
    no_discover: bool,
) -> None:
    """Add a feed to feeds.yaml; given a site's page, find the site's feed and add that."""
    specs = _specs(settings)
    try:
        seconds = parse_interval(interval) if interval is not None else None
        spec = FeedSpec(url=url, name=name, tags=tags, interval=seconds, fulltext=fulltext)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "feed"
        detail = str(first["msg"]).removeprefix("Value error, ")
        raise UserError(f"cannot add {url}: {field}: {detail}") from None
    except ValueError as exc:
        raise UserError(f"cannot add {url}: interval: {exc}") from None
    if not no_discover:
        # Only a valid entry is worth a fetch: a bad option is refused before any request.
        found = _discovered(spec.url, settings)
        if found != spec.url:
            spec = FeedSpec(
                url=found, name=name, tags=tags, interval=spec.interval, fulltext=fulltext
            )
    if any(existing.url == spec.url for existing in specs):
        raise UserError(f"{spec.url} is already in {settings.feeds}")
    if name and any((s.name or "").lower() == name.lower() for s in specs):
        raise UserError(f"a feed is already named {name!r}")
    save_feeds_file(Path(settings.feeds), [*specs, spec])
    click.echo(f"added {spec.name or spec.url} to {settings.feeds}")


@feeds.command()
@click.argument("feed")
@pass_settings
def remove(settings: Settings, feed: str) -> None:
    """Remove a feed (by name or URL) from feeds.yaml; its articles are kept."""
    specs = _specs(settings)
    spec = _find(specs, feed)
    save_feeds_file(Path(settings.feeds), [s for s in specs if s.url != spec.url])
    click.echo(f"removed {spec.name or spec.url} from {settings.feeds}")


@feeds.command("import")
@click.argument("opml_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--tag", "tags", multiple=True, help="A tag to add to every imported feed.")
@pass_settings
def import_(settings: Settings, opml_file: Path, tags: tuple[str, ...]) -> None:
    """Add the feeds of an OPML file to feeds.yaml; report what was skipped and why."""
    try:
        data = opml_file.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {opml_file}: {exc.strerror or exc}") from None
    result = parse_opml(data)
    specs = _specs(settings)
    known = {spec.url for spec in specs}
    added: list[FeedSpec] = []
    skipped = list(result.skipped)
    for item in result.feeds:
        if item.url in known:
            skipped.append((item.title or item.url, "already in feeds.yaml"))
            continue
        known.add(item.url)
        added.append(FeedSpec(url=item.url, name=item.title, tags=(*item.tags, *tags)))
    if added:
        save_feeds_file(Path(settings.feeds), [*specs, *added])
    if result.recovered:
        click.echo(f"{opml_file} is not well-formed; {result.recovered}")
    click.echo(f"imported {len(added)} feeds from {opml_file}, skipped {len(skipped)}")
    for what, why in skipped:
        click.echo(f"  skipped {what}: {why}")


@feeds.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="File.")
@pass_settings
def export(settings: Settings, output: Path | None) -> None:
    """Print feeds.yaml as OPML 2.0 (or write it to --output)."""
    specs = _specs(settings)
    # OPML readers take every outline for a feed: a listing page or a GDELT query is not one.
    feeds_only = [spec for spec in specs if spec.type == SourceKind.FEED]
    if len(feeds_only) < len(specs):
        click.echo(
            f"left out {len(specs) - len(feeds_only)} sources that are not feeds "
            "(type html, sitemap or gdelt): OPML lists feeds only",
            err=True,
        )
    document = export_opml(feeds_only)
    if output is None:
        click.echo(document, nl=False)
    else:
        output.write_text(document, encoding="utf-8")
        click.echo(f"wrote {output}")


def _status(feed: Feed) -> str:
    if not feed.enabled:
        return "disabled" + (f" ({feed.disabled_reason})" if feed.disabled_reason else "")
    if feed.last_polled_at is None:
        return "new"
    if feed.error_streak:
        return f"error: {feed.last_error or feed.last_status}"
    if feed.last_error:
        return f"ok ({feed.last_error})"
    return "ok"


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _next_poll(feed: Feed) -> str:
    if not feed.enabled:
        return "-"
    return "now" if feed.next_poll_at is None else _when(feed.next_poll_at)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _json_row(feed: Feed) -> dict[str, Any]:
    """One feed for ``--json``: URLs and errors with their credentials replaced by ***."""
    return {
        "id": feed.id,
        "name": feed.name,
        "title": feed.title,
        "url": scrub(feed.url),
        "type": feed.kind,
        "tags": list(feed.tags or []),
        "interval": feed.interval_seconds,
        "fulltext": feed.fulltext,
        "enabled": feed.enabled,
        "in_config": feed.in_config,
        "status": scrub(_status(feed)),
        "disabled_reason": feed.disabled_reason,
        "last_polled_at": _iso(feed.last_polled_at),
        "last_success_at": _iso(feed.last_success_at),
        "last_status": feed.last_status,
        "last_error": scrub(feed.last_error),
        "error_streak": feed.error_streak,
        "items_per_day": feed.items_per_day,
        "next_poll_at": _iso(feed.next_poll_at),
    }


# The table's columns: heading, width when cut, and whether numbers (right-aligned).
_COLUMNS = (
    ("NAME", 24, False),
    ("TYPE", 7, False),
    ("URL", 40, False),
    ("STATUS", 24, False),
    ("LAST POLL", 16, False),
    ("ERRORS", 6, True),
    ("ITEMS/DAY", 9, True),
    ("NEXT POLL", 16, False),
)


def _table_row(feed: Feed) -> list[str]:
    per_day = f"{feed.items_per_day:.1f}" if feed.items_per_day is not None else "-"
    cells = [
        _shown(feed),
        feed.kind,
        scrub(feed.url) or "",
        scrub(_status(feed)) or "",
        _when(feed.last_polled_at),
        str(feed.error_streak),
        per_day,
        _next_poll(feed),
    ]
    return [printable(cell) for cell in cells]


def _table(rows: list[list[str]], *, wide: bool) -> list[str]:
    """The lines of the table: cells cut to their column, or (wide) columns as wide as their
    longest cell."""
    widths = [
        max([len(heading), *(len(row[i]) for row in rows)]) if wide else width
        for i, (heading, width, _number) in enumerate(_COLUMNS)
    ]
    lines = []
    for cells in [[heading for heading, _w, _n in _COLUMNS], *rows]:
        out = []
        for cell, width, (_heading, _w, number) in zip(cells, widths, _COLUMNS, strict=True):
            cell = cell if wide else _clip(cell, width)
            out.append(cell.rjust(width) if number else cell.ljust(width))
        lines.append(" ".join(out).rstrip())
    return lines


@feeds.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include feeds removed from feeds.yaml.")
@click.option("--wide", is_flag=True, help="Cut nothing: full URLs, statuses and errors.")
@click.option(
    "--json", "as_json", is_flag=True, help="One JSON object per feed (credentials as ***)."
)
@pass_settings
def list_(settings: Settings, show_all: bool, wide: bool, as_json: bool) -> None:
    """A table of feeds: status, last poll, error streak, items per day, next poll.

    Entries of feeds.yaml that are not in force (a broken entry keeps its feed as the last
    valid file set it) are listed after it, one 'file:line: problem' line each, on stderr.
    """
    storage.upgrade(settings)
    with storage.session_scope(settings) as session:
        sync_feeds(session, settings, force=True)
        query = select(Feed).order_by(Feed.name, Feed.url)
        if not show_all:
            query = query.where(Feed.in_config.is_(True))
        rows = session.scalars(query).all()
        problems = feeds_file_problems(session)
        if as_json:
            for feed in rows:
                # ASCII JSON: every control character of a title arrives escaped.
                click.echo(json.dumps(_json_row(feed)))
        elif not rows:
            click.echo(f"no feeds (add one with: monitor feeds add URL) in {settings.feeds}")
        else:
            for line in _table([_table_row(feed) for feed in rows], wide=wide):
                click.echo(line)
        for problem in problems:
            click.echo(printable(scrub(problem) or ""), err=True)


def _label(item: tuple[int, str] | None) -> str | None:
    return item[1] if item else None


@feeds.command()
@click.argument("feed", required=False)
@click.option("--all", "poll_all", is_flag=True, help="Poll every enabled feed.")
@pass_settings
def poll(settings: Settings, feed: str | None, poll_all: bool) -> None:
    """Poll FEED (name or URL), or --all, now, in this process, and print each outcome."""
    if not feed and not poll_all:
        raise UserError("name a feed to poll, or use --all")
    storage.upgrade(settings)
    with storage.session_scope(settings) as session:
        sync_feeds(session, settings, force=True)
        query = select(Feed).where(Feed.enabled.is_(True)).order_by(Feed.id)
        rows = session.scalars(query).all()
        if feed:
            wanted = feed.strip().lower()
            rows = [f for f in rows if f.url.lower() == wanted or (f.name or "").lower() == wanted]
            if not rows:
                raise UserError(f"no enabled feed named or at {feed!r} (see: monitor feeds list)")
        targets = [(f.id, _shown(f)) for f in rows]
        lines: list[str] = []
        failed = 0
        with click.progressbar(
            targets,
            label="polling",
            file=sys.stderr,
            item_show_func=_label,
        ) as bar:
            for feed_id, name in bar:
                outcome = poll_feed(session, feed_id, settings=settings, now=utcnow())
                failed += outcome.outcome in ("error", "not_a_feed")
                lines.append(f"{name}: {scrub(str(outcome))}")
        for line in lines:
            click.echo(line)
        click.echo(f"{len(targets)} polled, {failed} failed")


commands = [feeds]
