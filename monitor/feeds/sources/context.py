"""What a source's reader may use: its options, the limits of one poll, and a further fetch."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from monitor.feeds.fetcher import FetchResult
from monitor.feeds.limits import FeedLimits

__all__ = ["SourceContext"]


@dataclass(frozen=True, slots=True)
class SourceContext:
    """The source's options from feeds.yaml, the limits of one poll, and a fetch for any
    further document (it raises FetchError, or returns the response, whatever its status).
    Without *fetch_more*, a reader reads only the document it was given."""

    options: Mapping[str, Any] = field(default_factory=dict)
    limits: FeedLimits = field(default_factory=FeedLimits)
    fetch_more: Callable[[str], FetchResult] | None = None
