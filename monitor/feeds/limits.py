"""What one feed document may cost to read, so that no publisher can make a poll slow or large.

Everything in a feed is untrusted, and feedparser is pure Python that nothing can interrupt
once it runs. Each limit answers an attack that got through without it (figures from the
attacked instance, then from replaying it on one idle core; docs/feeds.md has the table):

- bytes, after any decompression: ``MONITOR_FETCH_MAX_BYTES``, 10 MB. A 777 KB gzip body sent
  without ``Content-Encoding`` inflated to 50 MB: 107,015 articles, 103 s, 714 MB.
- entity expansion: the references to the entities a DTD declares, expanded, within the same
  bytes (:mod:`monitor.feeds.dtd`). A 9 MB document of references to a 30-byte entity: 37 s
  and 663 MB on every poll (4 s and 536 MB replayed), and a 90 MB summary.
- entries read per poll: ``MONITOR_FEED_MAX_ENTRIES``, 500. 100,000 entries were stored from
  one poll (15 s and 150 MB replayed).
- elements read per poll: ``MONITOR_FEED_MAX_ELEMENTS``, 100,000. 2,250,000 empty elements
  cost 31 s in feedparser.
- parse time: ``MONITOR_FEED_PARSE_SECONDS``, 30 s, checked between feedparser's passes (the
  repairs of repair.py make more of them): a single pass cannot be stopped, which is why the
  limits above bound its input.
- characters kept of an entry's title, summary, content and author: 1,000, 20,000, 200,000
  and 300. A 5 MB title was stored whole, and sent on to every alert.

Entries past a limit are not dropped silently: the newest are kept (by published date, else
updated; entries without a date come after, in document order), the rest are counted, and the
count is shown on the feed and in the poll's outcome. A document that breaks the byte or
entity limit is refused whole, with a one-line reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from monitor.config import Settings

__all__ = [
    "AUTHOR_CHARS",
    "CONTENT_CHARS",
    "SUMMARY_CHARS",
    "TITLE_CHARS",
    "FeedLimits",
    "Refused",
    "capped",
    "newest_first",
]

TITLE_CHARS = 1_000
SUMMARY_CHARS = 20_000
# A long read is 10,000 words, about 60,000 characters; a book chapter, 200,000.
CONTENT_CHARS = 200_000
AUTHOR_CHARS = 300
# Markup is cut off past this many times a field's limit before it is cleaned: enough for the
# tags and attributes around the text, and it bounds the cost of cleaning.
MARKUP_FACTOR = 8


def _default(name: str) -> object:
    # One home for each default: the setting's.
    return Settings.model_fields[name].default


@dataclass(frozen=True, slots=True)
class FeedLimits:
    """The limits above, as the poller reads them from the settings."""

    max_bytes: int = _default("fetch_max_bytes")  # type: ignore[assignment]
    max_entries: int = _default("feed_max_entries")  # type: ignore[assignment]
    max_elements: int = _default("feed_max_elements")  # type: ignore[assignment]
    parse_seconds: float = _default("feed_parse_seconds")  # type: ignore[assignment]
    # The parse time is counted on this clock from when the limits are made, so that every
    # step spends the same budget (tests pass a clock of their own).
    clock: Callable[[], float] = field(default=time.monotonic, compare=False)
    started: float = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "started", self.clock())

    @classmethod
    def from_settings(cls, settings: Settings) -> FeedLimits:
        return cls(
            max_bytes=settings.fetch_max_bytes,
            max_entries=settings.feed_max_entries,
            max_elements=settings.feed_max_elements,
            parse_seconds=settings.feed_parse_seconds,
        )

    def out_of_time(self) -> bool:
        return self.clock() - self.started > self.parse_seconds


class Refused(ValueError):
    """A document past the byte or entity limit: refused whole, for the one-line reason."""


def capped(text: str, limit: int) -> str:
    """*text* cut to at most *limit* characters, at a word where one is near, marked '…'."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ", limit - 1 - 100)
    return (cut[:space] if space > 0 else cut).rstrip() + "…"


def newest_first(times: Sequence[float | None]) -> list[int]:
    """Indexes of *times* (seconds since the epoch, None for 'no date'): newest first, then
    the dateless in document order; equal times keep document order."""
    return sorted(
        range(len(times)),
        key=lambda i: (times[i] is None, -(times[i] or 0.0), i),
    )
