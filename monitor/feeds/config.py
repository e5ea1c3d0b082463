"""feeds.yaml: the list of feeds, and keeping the feeds table in step with it.

The file is the source of truth for each feed's configuration::

    feeds:
      - url: https://www.premiumtimesng.com/feed
        name: Premium Times
        tags: [nigeria, politics]
        interval: 15m          # seconds, or 90s / 15m / 2h / 1d; default MONITOR_POLL_INTERVAL
        fulltext: false        # fetch each new article's page and keep its main text
        enabled: true

:func:`sync_feeds` upserts the feeds table by URL and turns off feeds that left the file. It is
called on every scheduling tick, so it returns at once when the file's modification time and
size have not changed (and when only the time changed but not the content). A broken file
stops start-up with ``path:line: message``; a file broken later, while the service runs, is
logged and the feeds stay as they were.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.config import Settings
from monitor.errors import ConfigError
from monitor.logs import get_logger
from monitor.models import Feed
from monitor.yamltext import duplicate_keys, error_position

__all__ = [
    "REMOVED_REASON",
    "FeedSpec",
    "load_feeds_file",
    "parse_interval",
    "save_feeds_file",
    "sync_feeds",
]

log = get_logger(__name__)

REMOVED_REASON = "removed from feeds.yaml"


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

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        value = value.strip()
        if not re.match(r"^https?://[^\s/]+", value, re.IGNORECASE):
            raise ValueError("expected an http:// or https:// URL")
        return value

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
        return out


@dataclass(frozen=True, slots=True)
class LoadedFeeds:
    specs: list[FeedSpec]
    # URLs whose entry says ``enabled: true`` in so many words (see :func:`sync_feeds`).
    explicitly_enabled: frozenset[str]


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
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        line, _col, problem = error_position(exc, text)
        raise ConfigError(f"{path}:{line}: {problem}") from None
    repeated = next(duplicate_keys(root), None)
    if repeated is not None:
        raise ConfigError(f"{path}:{_line(repeated)}: duplicate key {repeated.value!r}")
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
    for index, item in enumerate(items):
        # Aliases and merge keys can give the data a shape the nodes do not have; the list's
        # own line is then the best place to point at.
        in_list = isinstance(items_node, yaml.SequenceNode) and index < len(items_node.value)
        node = items_node.value[index] if in_list else items_node
        line = _line(node)
        if isinstance(item, str):
            item = {"url": item}
        if not isinstance(item, dict):
            raise ConfigError(f"{path}:{line}: each feed must be a URL or a mapping with 'url'")
        try:
            spec = FeedSpec.model_validate(item)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = str(first["loc"][0]) if first["loc"] else ""
            message = str(first["msg"]).removeprefix("Value error, ")
            if first["type"] == "extra_forbidden":
                message = "unknown key (expected url, name, tags, interval, fulltext, enabled)"
            elif first["type"] == "missing":
                message = "missing 'url'"
            field_line = _key_line(node, field) if field else line
            label = f"{field}: " if field and first["type"] != "missing" else ""
            raise ConfigError(f"{path}:{field_line}: {label}{message}") from None
        if spec.url in seen:
            raise ConfigError(
                f"{path}:{line}: duplicate feed {spec.url} (first on line {seen[spec.url]})"
            )
        seen[spec.url] = line
        if item.get("enabled") is True:
            enabled.add(spec.url)
        specs.append(spec)
    return LoadedFeeds(specs, frozenset(enabled))


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

_state: dict[tuple[str, str], tuple[int, int, str]] = {}
_state_lock = threading.Lock()


def sync_feeds(session: Session, settings: Settings, *, force: bool = False) -> None:
    """Bring the feeds table in line with feeds.yaml (cheap when the file has not changed).

    A missing file leaves the table alone: feeds may then be managed in the database only.
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
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if not force and previous and previous[2] == digest:
        with _state_lock:
            _state[key] = (stat.st_mtime_ns, stat.st_size, digest)
        return
    try:
        loaded = parse_feeds_text(raw.decode("utf-8", "replace"), path=path)
    except ConfigError as exc:
        if previous is None:
            raise
        # A reload: keep the feeds as they were and say why in the log, once per change.
        log.error("feeds.yaml not reloaded", error=str(exc))
        with _state_lock:
            _state[key] = (stat.st_mtime_ns, stat.st_size, previous[2])
        return
    _apply(session, loaded)
    session.commit()
    with _state_lock:
        _state[key] = (stat.st_mtime_ns, stat.st_size, digest)
    log.info("feeds.yaml loaded", feeds=len(loaded.specs))


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
    for url, feed in existing.items():
        if url not in wanted and feed.in_config:
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
