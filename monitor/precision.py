"""How precise each watchlist is, by what people said of its hits, and which exclusions would
make it more so.

Precision over a period is the share of a watchlist's labelled hits that were labelled
relevant: ``relevant / (relevant + not relevant)``. Unlabelled hits count for nothing; a
watchlist nobody has labelled has no precision (None), not a perfect one.

Candidate exclusions are the words most over-represented in the articles of its not-relevant
hits, compared with the articles of its other hits (relevant and unlabelled): each word's
share of not-relevant articles that hold it, against its share of the others, with half a
document of smoothing so a word seen twice does not beat one seen twenty times. Words of the
query itself, and words in fewer than :data:`MIN_SUPPORT` not-relevant articles, are never
offered.

An exclusion is backtested before anyone commits it (:func:`backtest_exclusion`): each hit of the
period is matched again on its stored article, through the live path
(:func:`monitor.documents.stored_document` and :class:`~monitor.matching.Matcher`), with the
query as it is and with ``(query) AND NOT (term)``. A hit the first matches and the second
does not is one the exclusion would remove; counted by label, that is how many relevant hits
it would lose and how many not-relevant ones it would remove.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.documents import WITH_FEEDS, stored_document
from monitor.matching import Matcher, parse_query
from monitor.matching.text import query_tokens, tokenise
from monitor.models import Article, Hit, Watchlist
from monitor.states import HitLabel

__all__ = [
    "Candidate",
    "ExclusionTest",
    "Precision",
    "backtest_exclusion",
    "candidate_exclusions",
    "excluding",
    "precision_by_watchlist",
]

#: A word must be in at least this many not-relevant articles to be offered.
MIN_SUPPORT = 2
#: The most hits read for candidates or a backtest, newest first.
MAX_HITS = 5000
# Shorter words are rarely worth excluding and often are function words.
MIN_WORD = 3


@dataclass(frozen=True, slots=True)
class Precision:
    """One watchlist's labelled hits over a period."""

    watchlist_id: str
    name: str
    hits: int
    relevant: int
    not_relevant: int

    @property
    def labelled(self) -> int:
        return self.relevant + self.not_relevant

    @property
    def precision(self) -> float | None:
        """relevant / labelled, or None when nothing is labelled."""
        return self.relevant / self.labelled if self.labelled else None


def precision_by_watchlist(
    session: Session, *, since: datetime, watchlist_ids: Sequence[str] | None = None
) -> list[Precision]:
    """Each watchlist's hits and labels recorded since *since* (every watchlist, or the ones
    named), by id. Counted in the database (``ix_hits_watchlist_label``)."""
    counts = select(Hit.watchlist_id, Hit.label, func.count()).where(Hit.created_at >= since)
    watchlists = select(Watchlist.id, Watchlist.name).order_by(Watchlist.id)
    if watchlist_ids is not None:
        counts = counts.where(Hit.watchlist_id.in_(list(watchlist_ids)))
        watchlists = watchlists.where(Watchlist.id.in_(list(watchlist_ids)))
    by: dict[str, Counter[str | None]] = {}
    for watchlist_id, label, count in session.execute(counts.group_by(Hit.watchlist_id, Hit.label)):
        by.setdefault(watchlist_id, Counter())[label] += int(count)
    out = []
    for watchlist_id, name in session.execute(watchlists):
        labels = by.get(watchlist_id, Counter())
        out.append(
            Precision(
                watchlist_id=watchlist_id,
                name=name or watchlist_id,
                hits=sum(labels.values()),
                relevant=labels[HitLabel.RELEVANT],
                not_relevant=labels[HitLabel.NOT_RELEVANT],
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class Candidate:
    """A word to consider excluding: in how many not-relevant and other articles it is."""

    term: str
    not_relevant: int  # not-relevant articles holding it
    not_relevant_total: int
    relevant: int  # relevant articles holding it: what excluding it would cost at most
    others: int  # relevant and unlabelled articles holding it
    others_total: int
    score: float  # log of its share of not-relevant articles over its share of the others


def _words(article: Article) -> set[str]:
    words: set[str] = set()
    for text in (article.title, article.summary, article.content):
        words |= tokenise(text or "").vocabulary
    return {w for w in words if len(w) >= MIN_WORD and not w.isdigit()}


def _query_words(query: str) -> set[str]:
    return {"".join(parts) for parts in query_tokens(query)} | {
        part for parts in query_tokens(query) for part in parts
    }


def _hits(session: Session, watchlist_id: str, since: datetime) -> Iterable[tuple[Hit, Article]]:
    rows = session.execute(
        select(Hit, Article)
        .join(Article, Article.id == Hit.article_id)
        .where(Hit.watchlist_id == watchlist_id, Hit.created_at >= since)
        .options(WITH_FEEDS)
        .order_by(Hit.created_at.desc(), Hit.id.desc())
        .limit(MAX_HITS)
    )
    return ((hit, article) for hit, article in rows)


def candidate_exclusions(
    session: Session, watchlist_id: str, *, since: datetime, limit: int = 10
) -> list[Candidate]:
    """The words most over-represented in the not-relevant hits of the period, best first."""
    watchlist = session.get(Watchlist, watchlist_id)
    own = _query_words(watchlist.query if watchlist is not None else "")
    bad: Counter[str] = Counter()
    good: Counter[str] = Counter()
    other: Counter[str] = Counter()
    bad_total = other_total = 0
    for hit, article in _hits(session, watchlist_id, since):
        words = _words(article) - own
        if hit.label == HitLabel.NOT_RELEVANT:
            bad.update(words)
            bad_total += 1
            continue
        other.update(words)
        other_total += 1
        if hit.label == HitLabel.RELEVANT:
            good.update(words)
    found = []
    for term, count in bad.items():
        if count < MIN_SUPPORT:
            continue
        share = (count + 0.5) / (bad_total + 1)
        elsewhere = (other[term] + 0.5) / (other_total + 1)
        score = math.log(share / elsewhere)
        if score <= 0:
            continue
        found.append(Candidate(term, count, bad_total, good[term], other[term], other_total, score))
    found.sort(key=lambda c: (-c.score, -c.not_relevant, c.term))
    return found[:limit]


def excluding(query: str, term: str) -> str:
    """*query* with *term* (a word, a "phrase" or any query expression) excluded; a
    :class:`~monitor.matching.QuerySyntaxError` when the result does not parse."""
    combined = f"({query}) AND NOT ({term})"
    parse_query(combined)
    return combined


@dataclass(frozen=True, slots=True)
class _Probe:
    """A watchlist as the matcher reads it, for a backtest of its query alone."""

    id: str
    query: str
    enabled: bool = True
    feeds: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ExclusionTest:
    """What excluding a term would have done to a watchlist's hits over a period."""

    term: str
    query: str  # the query with the exclusion
    hits: int
    relevant: int
    not_relevant: int
    relevant_lost: int
    not_relevant_removed: int
    unlabelled_removed: int
    # Hits the query as it is no longer matches (it changed since): not counted above.
    unmatched: int


def backtest_exclusion(
    session: Session, watchlist_id: str, query: str, term: str, *, since: datetime
) -> ExclusionTest:
    """Backtest ``(query) AND NOT (term)`` on the watchlist's hits since *since*. Raises
    :class:`~monitor.matching.QuerySyntaxError` for a term that makes no query."""
    trial = excluding(query, term)
    as_is = Matcher([_Probe("as-is", query)], filters=False)
    without = Matcher([_Probe("without", trial)], filters=False)
    hits = relevant = not_relevant = lost = removed = unlabelled = unmatched = 0
    for hit, article in _hits(session, watchlist_id, since):
        hits += 1
        relevant += hit.label == HitLabel.RELEVANT
        not_relevant += hit.label == HitLabel.NOT_RELEVANT
        document = stored_document(article)
        if not as_is.weigh(document):
            unmatched += 1
            continue
        if without.weigh(document):
            continue
        if hit.label == HitLabel.RELEVANT:
            lost += 1
        elif hit.label == HitLabel.NOT_RELEVANT:
            removed += 1
        else:
            unlabelled += 1
    return ExclusionTest(
        term, trial, hits, relevant, not_relevant, lost, removed, unlabelled, unmatched
    )
