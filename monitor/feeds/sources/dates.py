"""A date as a page or a sitemap writes it, read into the struct_time feedparser gives.

Listing pages write dates every way there is (``2026-03-02T10:15:00+01:00``, ``2 March 2026``,
``Mon, 02 Mar 2026 09:00 GMT``); dateutil reads them all. A date without a time zone is taken
as UTC, and one that cannot be read is None: the story then counts as published when first
seen, as a feed entry without a date does.
"""

from __future__ import annotations

import time
import warnings
from datetime import UTC

from dateutil import parser as dateutil_parser

__all__ = ["struct_time_of"]

# Longer than any date a person writes: the rest of a cell is not a date.
_MAX_CHARS = 100


def struct_time_of(text: str | None) -> time.struct_time | None:
    """*text* as a UTC struct_time, or None when it holds no date dateutil can read."""
    if not text or not text.strip():
        return None
    with warnings.catch_warnings():
        # 'WAT' and other zone names dateutil does not know: the date is still good, as UTC.
        warnings.simplefilter("ignore")
        try:
            when = dateutil_parser.parse(text.strip()[:_MAX_CHARS], fuzzy=True)
        except (ValueError, OverflowError):
            return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    try:
        stamp: time.struct_time = when.astimezone(UTC).utctimetuple()
    except (ValueError, OverflowError):
        return None
    return stamp
