"""feeds.yaml: the list of feeds, and keeping the feeds table in step with it.

The file is the source of truth for each feed's configuration::

    feeds:
      - url: https://www.premiumtimesng.com/feed
        name: Premium Times
        tags: [nigeria, politics]
        interval: 15m          # seconds, or 90s / 15m / 2h / 1d; default MONITOR_POLL_INTERVAL
        fulltext: false        # fetch each new article's page and keep its main text
        enabled: true
        alert_first_poll: false  # alert on what the first poll finds (default: record only)
      - url: https://www.cbn.gov.ng/Out/Circulars.html
        type: html             # feed (the default), html, sitemap or gdelt: docs/feeds.md
        items: "table.circulars tr"
        title: "td.title"
        link: "a"
      - type: gdelt
        query: 'naira "parallel market"'

:func:`sync_feeds` upserts the feeds table by URL and turns off feeds that left the file. It is
called on every scheduling tick, so it returns at once when the file's modification time and
size have not changed (and when only the time changed but not the content).

The feeds table holds the last set applied, so it is what stays in force when the file goes
wrong, in every process and across restarts. Each entry is decided alone: a broken entry
(``interval: 5s``) is reported and its feed's row left as it was, while the good entries are
applied. A file that does not parse at all leaves the table as it is. Only a first start, with
an empty feeds table and no valid entry to fill it, refuses (:class:`ConfigError`, one line).
What was not applied is stored in ``config_files`` (:func:`feeds_file_problems`), so the
dashboard and ``monitor feeds list`` show it, and logged once per change of the file: by the
process that stores the new version's hash, whichever process that is.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from monitor.cas import compare_and_set
from monitor.config import Settings
from monitor.errors import ConfigError
from monitor.feeds.sources import gdelt
from monitor.feeds.sources.html import REQUIRED_KEYS, SELECTOR_KEYS, compile_selector
from monitor.logs import get_logger
from monitor.models import ConfigFile, Feed, utcnow
from monitor.redaction import scrub
from monitor.states import SourceKind
from monitor.yamltext import duplicate_keys, error_position
from monitor.yamltext import load as load_yaml

__all__ = [
    "REMOVED_REASON",
    "FeedSpec",
    "LoadedFeeds",
    "feeds_file_problems",
    "load_feeds_file",
    "parse_feeds_text",
    "parse_interval",
    "read_feeds_text",
    "save_feeds_file",
    "sync_feeds",
]

log = get_logger(__name__)

REMOVED_REASON = "removed from feeds.yaml"
# The config_files row of feeds.yaml.
FEEDS_FILE = "feeds"
# What is stored and logged of one version of the file: a file with thousands of broken
# entries is reported by its first ones and a count, not by thousands of lines.
MAX_PROBLEMS = 100
MAX_PROBLEM_CHARS = 500
_URL = re.compile(r"^https?://[^\s/]+", re.IGNORECASE)


def parse_interval(value: Any) -> int:
    """Seconds from ``900``, ``"900"``, ``"90s"``, ``"15m"``, ``"2h"`` or ``"1d"``."""
    if isinstance(value, bool):
        raise ValueError("expected a number of seconds or a duration such as 15m")
    if isinstance(value, int | float):
        seconds = int(value)
    else:
        match = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", str(value).lower())
        if not match:
            raise ValueError(
                f"expected a number of seconds or a duration such as 15m, not {value!r}"
            )
        seconds = (
            int(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
        )
    if seconds < 10:
        raise ValueError("the interval must be at least 10 seconds")
    return seconds


class FeedSpec(BaseModel):
    """One feed as written in feeds.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str
    name: str | None = None
    tags: tuple[str, ...] = ()
    interval: int | None = Field(default=None)
    fulltext: bool = False
    enabled: bool = True
    # The entries already in the feed at its first successful poll are its backlog: recorded
    # and matched, but alerted only when this says so.
    alert_first_poll: bool = False
    # What the source is (monitor/feeds/sources): a feed, a listing page read with CSS
    # selectors, a news sitemap, or a GDELT query. Each key below belongs to one type.
    type: SourceKind = SourceKind.FEED
    items: str | None = None
    title: str | None = None
    link: str | None = None
    date: str | None = None
    summary: str | None = None
    query: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _gdelt_url(cls, data: Any) -> Any:
        # A GDELT source's URL is its request: the API's (or the given) address with the query.
        if isinstance(data, dict) and data.get("type") == SourceKind.GDELT:
            query = data.get("query")
            if not (isinstance(query, str) and query.strip()):
                # No query: the check of the type says so, rather than "missing 'url'".
                return {**data, "url": data.get("url") or gdelt.API_URL}
            if data.get("url") is None or _valid_url(data.get("url")):
                data = {**data, "url": gdelt.request_url(query.strip(), data.get("url"))}
        return data

    @field_validator("items", "title", "link", "date", "summary")
    @classmethod
    def _check_selector(cls, value: str | None) -> str | None:
        if value is not None:
            compile_selector(value)
        return value

    @model_validator(mode="after")
    def _check_type(self) -> FeedSpec:
        given = [key for key in (*SELECTOR_KEYS, "query") if getattr(self, key) is not None]
        if self.type == SourceKind.HTML:
            missing = [key for key in REQUIRED_KEYS if getattr(self, key) is None]
            if missing:
                raise ValueError(f"type html needs {', '.join(repr(k) for k in missing)}")
            allowed: tuple[str, ...] = SELECTOR_KEYS
        elif self.type == SourceKind.GDELT:
            if not (self.query or "").strip():
                raise ValueError("type gdelt needs 'query'")
            allowed = ("query",)
        else:
            allowed = ()
        stray = [key for key in given if key not in allowed]
        if stray:
            raise ValueError(f"{stray[0]!r} does not apply to type {self.type.value}")
        return self

    def source_options(self) -> dict[str, Any] | None:
        """The options of the source's type, as the feeds table keeps them (``feeds.source``)."""
        options = {
            key: getattr(self, key)
            for key in (*SELECTOR_KEYS, "query")
            if getattr(self, key) is not None
        }
        return options or None

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        url = _valid_url(value)
        if url is None:
            raise ValueError("expected an http:// or https:// URL")
        return url

    @field_validator("interval", mode="before")
    @classmethod
    def _check_interval(cls, value: Any) -> int | None:
        return None if value is None else parse_interval(value)

    @field_validator("tags", mode="before")
    @classmethod
    def _check_tags(cls, value: Any) -> Any:
        if isinstance(value, str):
            return (value,)
        return value

    def to_yaml(self) -> dict[str, Any]:
        out: dict[str, Any] = {"url": self.url}
        if self.type == SourceKind.GDELT:
            base = gdelt.api_base(self.url)
            out = {"type": self.type.value, **({"url": base} if base else {})}
        elif self.type != SourceKind.FEED:
            out["type"] = self.type.value
        out.update(self.source_options() or {})
        if self.name:
            out["name"] = self.name
        if self.tags:
            out["tags"] = list(self.tags)
        if self.interval:
            out["interval"] = self.interval
        if self.fulltext:
            out["fulltext"] = True
        if not self.enabled:
            out["enabled"] = False
        if self.alert_first_poll:
            out["alert_first_poll"] = True
        return out


def _valid_url(value: object) -> str | None:
    """*value* as a feed URL (stripped), or None when it is not an http(s) URL."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value if _URL.match(value) else None


@dataclass(frozen=True, slots=True)
class LoadedFeeds:
    specs: list[FeedSpec]
    # URLs whose entry says ``enabled: true`` in so many words (see :func:`sync_feeds`).
    explicitly_enabled: frozenset[str]
    # One line per broken entry, ``path:line: what is wrong``, in file order.
    problems: tuple[str, ...] = ()
    # The URLs broken entries name: their feeds' rows are left as they were.
    kept: frozenset[str] = frozenset()
    # False when a broken entry names no URL one can read: it may be any feed, so none is
    # turned off for having left the file until the file is whole again.
    every_entry_named: bool = True


def load_feeds_file(path: Path) -> LoadedFeeds:
    """Read and validate feeds.yaml, or raise :class:`ConfigError` naming the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    return parse_feeds_text(text, path=path)


def parse_feeds_text(text: str, *, path: Path) -> LoadedFeeds:
    """The whole file, valid, or :class:`ConfigError` at its first problem.

    For the commands that rewrite the file (``monitor feeds add/remove/import``): rewriting a
    file with a broken entry would drop that entry."""
    loaded = read_feeds_text(text, path=path)
    if loaded.problems:
        raise ConfigError(loaded.problems[0])
    return loaded


def read_feeds_text(text: str, *, path: Path) -> LoadedFeeds:
    """The valid entries of the file and a line for each broken one (the service's reading).

    Raises :class:`ConfigError` only when the file as a whole cannot be read as a list of
    feeds: YAML that does not parse, a key given twice or unknown at the top, no list.
    """
    try:
        root, data = load_yaml(text)
    except yaml.YAMLError as exc:
        line, _col, problem = error_position(exc, text)
        raise ConfigError(f"{path}:{line}: {problem}") from None
    if isinstance(root, yaml.MappingNode):
        # The top level's own keys; an entry's repeated key is that entry's problem.
        seen_keys: set[str] = set()
        for key_node, _value in root.value:
            key = getattr(key_node, "value", None)
            if isinstance(key, str) and key in seen_keys:
                raise ConfigError(f"{path}:{_line(key_node)}: duplicate key {key!r}")
            seen_keys.add(str(key))
    if data is None:
        return LoadedFeeds([], frozenset())
    items_node: Any = root
    if isinstance(data, dict):
        unknown = set(data) - {"feeds"}
        if unknown:
            raise ConfigError(
                f"{path}:{_key_line(root, sorted(unknown)[0])}: unknown key "
                f"{sorted(unknown)[0]!r} (expected 'feeds')"
            )
        items = data.get("feeds") or []
        items_node = _value_node(root, "feeds")
    else:
        items = data
    if not isinstance(items, list):
        raise ConfigError(f"{path}:{_line(items_node)}: 'feeds' must be a list of feeds")
    specs: list[FeedSpec] = []
    enabled: set[str] = set()
    seen: dict[str, int] = {}
    problems: list[str] = []
    kept: set[str] = set()
    every_entry_named = True
    for index, item in enumerate(items):
        # Aliases and merge keys can give the data a shape the nodes do not have; the list's
        # own line is then the best place to point at.
        in_list = isinstance(items_node, yaml.SequenceNode) and index < len(items_node.value)
        node = items_node.value[index] if in_list else items_node
        line = _line(node)
        if isinstance(item, str):
            item = {"url": item}
        named = _entry_url(item)
        broken = _entry_problem(item, node if in_list else None, line)
        spec: FeedSpec | None = None
        if broken is None:
            try:
                spec = FeedSpec.model_validate(item)
            except ValidationError as exc:
                broken = _validation_problem(exc, node, line)
        if spec is not None and spec.url in seen:
            broken = f"{line}: duplicate feed {spec.url} (first on line {seen[spec.url]})"
            spec = None
        if broken is not None:
            problems.append(f"{path}:{broken}")
            if named is None:
                every_entry_named = False
            else:
                kept.add(named)
            continue
        assert spec is not None and isinstance(item, dict)
        seen[spec.url] = line
        if item.get("enabled") is True:
            enabled.add(spec.url)
        specs.append(spec)
    return LoadedFeeds(
        specs, frozenset(enabled), tuple(problems), frozenset(kept), every_entry_named
    )


def _entry_url(item: Any) -> str | None:
    """The URL a (possibly broken) entry names, if one can be read from it."""
    if not isinstance(item, dict):
        return None
    query = item.get("query")
    if item.get("type") == SourceKind.GDELT and isinstance(query, str) and query.strip():
        base = item.get("url")
        if base is None or _valid_url(base):
            return gdelt.request_url(query.strip(), base)
    return _valid_url(item.get("url"))


def _entry_problem(item: Any, node: Any, line: int) -> str | None:
    """``line: message`` when the entry is not a mapping, or repeats a key; else None."""
    if not isinstance(item, dict):
        return f"{line}: each feed must be a URL or a mapping with 'url'"
    repeated = next(duplicate_keys(node), None) if node is not None else None
    if repeated is not None:
        return f"{_line(repeated)}: duplicate key {repeated.value!r}"
    return None


def _validation_problem(exc: ValidationError, node: Any, line: int) -> str:
    """``line: field: message`` for the entry's first validation error."""
    first = exc.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else ""
    message = str(first["msg"]).removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = (
            "unknown key (expected url, name, tags, interval, fulltext, enabled, "
            "alert_first_poll, type, items, title, link, date, summary, query)"
        )
    elif first["type"] == "missing":
        message = "missing 'url'"
    # A rule of the source's type (no loc) is pointed at the entry's 'type:'.
    field_line = _key_line(node, field or "type") if node is not None else line
    label = f"{field}: " if field and first["type"] != "missing" else ""
    return f"{field_line}: {label}{message}"


def save_feeds_file(path: Path, specs: list[FeedSpec]) -> None:
    """Write feeds.yaml (used by ``monitor feeds add/remove/import``); atomic replace."""
    header = (
        "# Feeds polled by monitor. See docs/feeds.md for every key.\n"
        "# 'monitor feeds add/remove/import' rewrite this file.\n"
    )
    body = yaml.safe_dump(
        {"feeds": [spec.to_yaml() for spec in specs]},
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=None,
        width=100,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(header + body, encoding="utf-8")
    tmp.replace(path)


# -- sync -------------------------------------------------------------------------------

# Per database and file, the file's (mtime, size, sha256) as this process last read it.
_state: dict[tuple[str, str], tuple[int, int, str]] = {}
_state_lock = threading.Lock()


def sync_feeds(session: Session, settings: Settings, *, force: bool = False) -> None:
    """Bring the feeds table in line with feeds.yaml (cheap when the file has not changed).

    Broken entries are reported and leave their feeds as they were; the rest is applied (see
    the module's docstring). Raises :class:`ConfigError` in one line only when there is no
    valid set at all: the feeds table is empty and the file gives no valid feed. A missing
    file leaves the table alone: feeds may then be managed in the database only.
    """
    path = Path(settings.feeds)
    key = (settings.database_url, str(path.resolve()))
    try:
        stat = path.stat()
    except FileNotFoundError:
        return
    with _state_lock:
        previous = _state.get(key)
    if not force and previous and previous[:2] == (stat.st_mtime_ns, stat.st_size):
        return
    try:
        raw = path.read_bytes()
    except OSError as exc:
        # Unreadable for now (permissions, a file being replaced): nothing to apply.
        log.error("feeds.yaml not reloaded", error=f"{path}: cannot read: {exc.strerror}")
        return
    digest = hashlib.sha256(raw).hexdigest()
    if not force and previous and previous[2] == digest:
        with _state_lock:
            _state[key] = (stat.st_mtime_ns, stat.st_size, digest)
        return
    loaded: LoadedFeeds | None = None
    try:
        loaded = read_feeds_text(raw.decode("utf-8", "replace"), path=path)
        problems = _capped(list(loaded.problems), path)
    except ConfigError as exc:
        refusal = scrub(str(exc)) or ""
        problems = [f"{refusal} (not applied: the feeds stay as they were)"]
    else:
        more = len(loaded.problems) - 1
        refusal = problems[0] + (f" (and {more} more)" if more > 0 else "") if problems else ""
    if refusal and not (loaded and loaded.specs) and _no_feeds(session):
        # A first start with nothing to poll: say so in one line rather than run idle. The
        # problems are stored for the dashboard; the next tick with this file is quiet.
        with contextlib.suppress(IntegrityError):
            _store(session, path, digest, problems)
            session.commit()
        session.rollback()
        with _state_lock:
            _state[key] = (stat.st_mtime_ns, stat.st_size, digest)
        raise ConfigError(refusal)
    if loaded is not None:
        _apply(session, loaded)
    try:
        first_to_read = _store(session, path, digest, problems)
        session.commit()
    except IntegrityError:
        # Another process stored this file's first version at the same moment; the next
        # tick reads the table it left.
        session.rollback()
        return
    with _state_lock:
        _state[key] = (stat.st_mtime_ns, stat.st_size, digest)
    if first_to_read:
        for problem in problems:
            if loaded is None:
                log.error("feeds.yaml not reloaded", error=problem)
            else:
                log.error("feeds.yaml entry not applied", error=problem)
    if loaded is not None:
        log.info("feeds.yaml loaded", feeds=len(loaded.specs), problems=len(problems))


def _no_feeds(session: Session) -> bool:
    return session.scalar(select(Feed.id).limit(1)) is None


def feeds_file_problems(session: Session) -> list[str]:
    """What of feeds.yaml, as last read, is not in force: one line each, in file order."""
    row = session.get(ConfigFile, FEEDS_FILE)
    return [str(problem) for problem in row.problems] if row is not None else []


def _capped(problems: list[str], path: Path) -> list[str]:
    """The lines to store and log: bounded in number and length, and without the credentials
    a feed URL may carry (a duplicate entry's message quotes its URL)."""
    lines = [scrub(p) or "" for p in problems[:MAX_PROBLEMS]]
    lines = [p if len(p) <= MAX_PROBLEM_CHARS else p[: MAX_PROBLEM_CHARS - 1] + "…" for p in lines]
    if len(problems) > MAX_PROBLEMS:
        lines.append(f"{path}: {len(problems) - MAX_PROBLEMS} more broken entries not listed")
    return lines


def _store(session: Session, path: Path, digest: str, problems: list[str]) -> bool:
    """Record the version read and its problems; True when this process is the first to
    record this version (and so the one to log its problems)."""
    row = session.get(ConfigFile, FEEDS_FILE, populate_existing=True)
    if row is None:
        session.add(
            ConfigFile(
                name=FEEDS_FILE,
                path=str(path),
                content_hash=digest,
                problems=problems,
                checked_at=utcnow(),
            )
        )
        session.flush()
        return True
    if row.content_hash == digest:
        return False
    # Compare-and-set on the hash this process saw: of several processes reading the same
    # new version at once, one changes the row and logs; the others find it done.
    return compare_and_set(
        session,
        ConfigFile,
        ConfigFile.name == FEEDS_FILE,
        ConfigFile.content_hash == row.content_hash,
        path=str(path),
        content_hash=digest,
        problems=problems,
        checked_at=utcnow(),
    )


def _apply(session: Session, loaded: LoadedFeeds) -> None:
    existing = {feed.url: feed for feed in session.execute(select(Feed)).scalars()}
    wanted = {spec.url for spec in loaded.specs}
    for spec in loaded.specs:
        feed = existing.get(spec.url)
        if feed is None:
            feed = Feed(url=spec.url)
            session.add(feed)
        feed.name = spec.name
        feed.tags = list(spec.tags)
        feed.interval_seconds = spec.interval
        feed.fulltext = spec.fulltext
        feed.alert_first_poll = spec.alert_first_poll
        feed.kind = spec.type.value
        feed.source = spec.source_options()
        feed.in_config = True
        if not spec.enabled:
            feed.enabled = False
            feed.disabled_reason = "disabled in feeds.yaml"
        elif not feed.enabled and (
            feed.disabled_reason in (None, REMOVED_REASON, "disabled in feeds.yaml")
            or spec.url in loaded.explicitly_enabled
        ):
            # A feed the service turned off (a 410) stays off until the file says
            # 'enabled: true' for it in so many words.
            feed.enabled = True
            feed.disabled_reason = None
            feed.error_streak = 0
            feed.next_poll_at = None
    if not loaded.every_entry_named:
        return
    for url, feed in existing.items():
        # A broken entry's feed is not 'removed': its row stays as the last valid file set it.
        if url not in wanted and url not in loaded.kept and feed.in_config:
            feed.in_config = False
            feed.enabled = False
            feed.disabled_reason = REMOVED_REASON


# -- YAML node helpers ------------------------------------------------------------------


def _line(node: Any) -> int:
    mark = getattr(node, "start_mark", None)
    return int(mark.line) + 1 if mark is not None else 1


def _value_node(mapping: Any, key: str) -> Any:
    if isinstance(mapping, yaml.MappingNode):
        for k, v in mapping.value:
            if getattr(k, "value", None) == key:
                return v
    return None


def _key_line(mapping: Any, key: str) -> int:
    if isinstance(mapping, yaml.MappingNode):
        for k, _v in mapping.value:
            if getattr(k, "value", None) == key:
                return _line(k)
    return _line(mapping)
