"""Feed ingestion: feeds.yaml, polite fetching, parsing, normalising and storing articles.

The public API used by the rest of the service:

- :func:`sync_feeds` brings the feeds table in line with feeds.yaml;
- :func:`due_feed_ids` lists the feeds whose next poll is due;
- :func:`poll_feed` polls one feed (fetch, parse, normalise, store) and returns a
  :class:`PollOutcome`.

Parsing and normalising without any I/O: :func:`monitor.feeds.normalise.articles_from_bytes`;
main-text extraction of a page: :func:`monitor.feeds.fulltext.extract_main_text`.
"""

from __future__ import annotations

from monitor.feeds.config import FeedSpec, load_feeds_file, save_feeds_file, sync_feeds
from monitor.feeds.fulltext import extract_main_text
from monitor.feeds.normalise import ArticleData, articles_from_bytes
from monitor.feeds.poll import PollOutcome, due_feed_ids, poll_feed

__all__ = [
    "ArticleData",
    "FeedSpec",
    "PollOutcome",
    "articles_from_bytes",
    "due_feed_ids",
    "extract_main_text",
    "load_feeds_file",
    "poll_feed",
    "save_feeds_file",
    "sync_feeds",
]
