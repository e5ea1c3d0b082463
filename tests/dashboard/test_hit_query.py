"""A hit's page shows its watchlist's query with the parts the article satisfied marked, on
SQLite and PostgreSQL."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from monitor.config import Settings
from monitor.dashboard.app import create_app
from monitor.models import Article, Feed, Hit, Watchlist

QUERY = 'election* OR (vote NEAR/3 (count* OR result*)) -"<b>naira</b>" title:vote'


def _hit(session: Session, query: str = QUERY) -> int:
    feed = Feed(url="http://wire.test/rss", name="Wire <i>news</i>")
    session.add_all([feed, Watchlist(id="elections", query=query, definition={})])
    session.flush()
    article = Article(
        identity="1" * 64,
        url="http://wire.test/1",
        title="Results",
        content="Candidates across the country won seats, and the party leads in the north. "
        "The election was close.",
        source_feed_id=feed.id,
    )
    session.add(article)
    session.flush()
    hit = Hit(
        watchlist_id="elections",
        article_id=article.id,
        matched=["election*"],
        fields=["content"],
        explanation={"content": ["election*"]},
        snippet="The election was close.",
        highlights=[[4, 12]],
    )
    session.add(hit)
    session.commit()
    return hit.id


def test_it_marks_the_satisfied_parts_of_the_query(settings: Settings, session: Session) -> None:
    hit_id = _hit(session)
    with TestClient(create_app(settings)) as client:
        page = client.get(f"/hits/{hit_id}").text
    query = page[page.index('<p class="query">') :]
    query = query[: query.index("</p>")]
    assert query == (
        '<p class="query"><code><mark>election*</mark> OR (<span class="unmet">vote</span> '
        'NEAR/3 (<span class="unmet">count*</span> OR <span class="unmet">result*</span>)) '
        '-<span class="unmet">&#34;&lt;b&gt;naira&lt;/b&gt;&#34;</span> title:'
        '<span class="unmet">vote</span></code>'
    )
    assert "<b>naira" not in page


def test_it_leaves_out_the_query_when_the_watchlist_has_none(
    settings: Settings, session: Session
) -> None:
    hit_id = _hit(session, query="")
    with TestClient(create_app(settings)) as client:
        response = client.get(f"/hits/{hit_id}")
    assert response.status_code == 200
    assert 'class="query"' not in response.text
