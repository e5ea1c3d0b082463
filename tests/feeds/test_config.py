"""feeds.yaml: validation with file and line, and sync to the feeds table."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.config import Settings
from monitor.errors import ConfigError
from monitor.feeds import sync_feeds
from monitor.feeds.config import REMOVED_REASON, load_feeds_file
from monitor.feeds.poll import GONE_REASON
from monitor.models import Feed
from tests.conftest import ROOT


def write(settings: Settings, text: str) -> None:
    path = Path(settings.feeds)
    path.write_text(text, encoding="utf-8")
    # Make sure the change is seen even within one tick of the file system's clock.
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def feeds_by_url(session: Session) -> dict[str, Feed]:
    session.expire_all()
    return {f.url: f for f in session.scalars(select(Feed))}


def test_it_upserts_feeds_and_turns_off_removed_ones(session: Session, settings: Settings) -> None:
    write(
        settings,
        """
feeds:
  - url: https://a.example.org/rss
    name: A
    tags: [nigeria, business]
    interval: 15m
    fulltext: true
  - https://b.example.org/rss
""",
    )
    sync_feeds(session, settings)
    rows = feeds_by_url(session)
    a = rows["https://a.example.org/rss"]
    assert (a.name, a.tags, a.interval_seconds, a.fulltext) == (
        "A",
        ["nigeria", "business"],
        900,
        True,
    )
    assert a.enabled and a.in_config and a.next_poll_at is None
    assert rows["https://b.example.org/rss"].name is None

    write(settings, "feeds:\n  - url: https://a.example.org/rss\n    name: A2\n")
    sync_feeds(session, settings)
    rows = feeds_by_url(session)
    assert rows["https://a.example.org/rss"].name == "A2"
    assert rows["https://a.example.org/rss"].fulltext is False
    b = rows["https://b.example.org/rss"]
    assert (b.in_config, b.enabled, b.disabled_reason) == (False, False, REMOVED_REASON)

    write(
        settings, "feeds:\n  - url: https://a.example.org/rss\n  - url: https://b.example.org/rss\n"
    )
    sync_feeds(session, settings)
    b = feeds_by_url(session)["https://b.example.org/rss"]
    assert (b.in_config, b.enabled, b.disabled_reason) == (True, True, None)


def test_it_returns_early_when_the_file_has_not_changed(
    session: Session, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(settings, "feeds:\n  - url: https://a.example.org/rss\n")
    sync_feeds(session, settings)
    calls: list[object] = []
    monkeypatch.setattr("monitor.feeds.config._apply", lambda *a: calls.append(a))
    sync_feeds(session, settings)
    # Touched but identical: the hash says nothing changed.
    path = Path(settings.feeds)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 2_000_000_000))
    sync_feeds(session, settings)
    assert calls == []


def test_it_keeps_a_feed_off_after_a_410_until_the_file_says_enabled(
    session: Session, settings: Settings
) -> None:
    write(settings, "feeds:\n  - url: https://a.example.org/rss\n")
    sync_feeds(session, settings)
    feed = feeds_by_url(session)["https://a.example.org/rss"]
    feed.enabled, feed.disabled_reason = False, GONE_REASON
    session.commit()

    write(settings, "feeds:\n  - url: https://a.example.org/rss\n    name: renamed\n")
    sync_feeds(session, settings)
    assert not feeds_by_url(session)["https://a.example.org/rss"].enabled

    write(settings, "feeds:\n  - url: https://a.example.org/rss\n    enabled: true\n")
    sync_feeds(session, settings)
    assert feeds_by_url(session)["https://a.example.org/rss"].enabled


def test_it_leaves_the_table_alone_without_a_file(session: Session, settings: Settings) -> None:
    session.add(Feed(url="https://db-only.example.org/rss"))
    session.commit()
    sync_feeds(session, settings)
    assert feeds_by_url(session)["https://db-only.example.org/rss"].enabled


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "feeds:\n  - url: https://a.example.org/rss\n    colour: red\n",
            ":3: colour: unknown key",
        ),
        ("feeds:\n  - url: ftp://a.example.org/rss\n", ":2: url: expected an http:// or https://"),
        ("feeds:\n  - name: no url\n", ":2: missing 'url'"),
        ("feeds:\n  - url: https://a.example.org/\n    interval: soon\n", ":3: interval: expected"),
        (
            "feeds:\n  - url: https://a.example.org/\n    interval: 5\n",
            ":3: interval: the interval",
        ),
        (
            "feeds:\n  - url: https://a.example.org/\n  - url: https://a.example.org/\n",
            ":3: duplicate feed",
        ),
        ("feeds: [\n", ":2: "),
        ("sources: []\n", ":1: unknown key 'sources'"),
        ("feeds: 3\n", ":1: 'feeds' must be a list"),
        # PyYAML would keep the second list alone, and the first list's feeds would go off.
        (
            "feeds:\n  - https://a.example.org/rss\nfeeds:\n  - https://b.example.org/rss\n",
            ":3: duplicate key 'feeds'",
        ),
        (
            "feeds:\n  - url: https://a.example.org/rss\n    url: https://b.example.org/rss\n",
            ":3: duplicate key 'url'",
        ),
        ("feeds:\n  - https://a.example.org/rss\x0b\n", ":2: unacceptable character #x000b"),
    ],
    ids=[
        "unknown-key",
        "bad-scheme",
        "missing-url",
        "bad-interval",
        "short-interval",
        "duplicate",
        "yaml-syntax",
        "unknown-top-key",
        "not-a-list",
        "duplicate-top-key",
        "duplicate-feed-key",
        "control-character",
    ],
)
def test_it_names_file_and_line_of_a_broken_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_feeds_file(path)
    assert str(caught.value).startswith(f"{path}:")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_it_refuses_a_broken_file_at_start_up_and_keeps_the_feeds_on_reload(
    session: Session, settings: Settings
) -> None:
    write(settings, "feeds:\n  - url: https://a.example.org/rss\n    bogus: 1\n")
    with pytest.raises(ConfigError, match=r"feeds.yaml:3: bogus: unknown key"):
        sync_feeds(session, settings)

    write(settings, "feeds:\n  - url: https://a.example.org/rss\n")
    sync_feeds(session, settings)
    write(settings, "feeds:\n  - url: [broken\n")
    sync_feeds(session, settings)  # logged, not raised
    rows = feeds_by_url(session)
    assert rows["https://a.example.org/rss"].enabled and rows["https://a.example.org/rss"].in_config


def test_it_ships_a_valid_feeds_yaml() -> None:
    loaded = load_feeds_file(ROOT / "feeds.yaml")
    assert 10 <= len(loaded.specs) <= 20
    tags = {tag for spec in loaded.specs for tag in spec.tags}
    assert {"nigeria", "japan", "world"} <= tags
    assert all(spec.name for spec in loaded.specs)
