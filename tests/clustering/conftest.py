"""Helpers for clustering tests: articles with chosen text, a fresh index per test."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from itertools import count

import pytest
from sqlalchemy.orm import Session

from monitor.clustering import reset_story_indexes
from monitor.models import Article

_serial = count(1)


@pytest.fixture(autouse=True)
def _fresh_story_index() -> Iterator[None]:
    # Each test starts like a new process: no stories cached from another test's database.
    reset_story_indexes()
    yield
    reset_story_indexes()


def add_article(
    session: Session, *, title: str, body: str = "", url: str | None = None, summary: str = ""
) -> Article:
    """Store a new article as ingestion would (not yet matched, no story)."""
    n = next(_serial)
    url = url or f"https://outlet{n}.example/news/{n}"
    article = Article(
        identity=hashlib.sha256(f"{url}#{n}".encode()).hexdigest(),
        url=url,
        title=title,
        content=body,
        summary=summary,
    )
    session.add(article)
    session.flush()
    return article
