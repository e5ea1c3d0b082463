"""What the dashboard, the API and the exports say about each hit's alert: the published time
beside the recorded one, whether it was alerted and why not, its score (sortable), watchlist
names, delivery kinds; and an HTML 404 for a browser. On SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from monitor.config import Settings
from monitor.dashboard.app import create_app
from monitor.models import Delivery, DeliveryHit, Destination, Hit, Watchlist
from monitor.states import DeliveryKind, NotAlerted
from tests.dashboard.conftest import NOW, seeded

HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def _rows(client: TestClient, query: str) -> list[dict[str, object]]:
    return list(client.get(f"/api/hits?limit=500&{query}").json()["items"])


def test_it_shows_the_published_time_beside_the_recorded_time(settings: Settings) -> None:
    with seeded(settings, hits=3) as made:
        newest = made["hits"][0]
        newest.article.published_at = NOW - timedelta(days=3, hours=2)
        hit_id = newest.id
    client = TestClient(create_app(settings))

    row = next(r for r in _rows(client, "") if r["id"] == hit_id)
    assert row["published_at"] == (NOW - timedelta(days=3, hours=2)).isoformat()
    assert row["created_at"] == NOW.isoformat()
    published = (NOW - timedelta(days=3, hours=2)).strftime("%Y-%m-%d %H:%M")
    recorded = NOW.strftime("%Y-%m-%d %H:%M")
    page = client.get("/").text
    assert "<th>Recorded (UTC)</th><th>Published (UTC)</th>" in page
    assert f'<td class="time published">{published}</td>' in page
    detail = client.get(f"/hits/{hit_id}").text
    assert f"<dt>Published</dt><dd>{published}</dd>" in detail
    assert f"<dt>Recorded</dt><dd>{recorded}</dd>" in detail
    [exported] = [
        r
        for r in csv.DictReader(io.StringIO(client.get("/api/hits/export?format=csv").text))
        if r["id"] == str(hit_id)
    ]
    assert exported["published_at"] == row["published_at"]
    assert exported["created_at"] == row["created_at"]


def test_it_filters_hits_by_whether_they_were_alerted(settings: Settings) -> None:
    with seeded(settings, hits=10) as made:
        for hit, reason in zip(
            made["hits"][2:5],
            (NotAlerted.TOO_OLD, NotAlerted.FIRST_POLL, NotAlerted.THROTTLED),
            strict=True,
        ):
            hit.not_alerted = reason
        silent = {hit.id: hit.not_alerted for hit in made["hits"][2:5]}
    client = TestClient(create_app(settings))

    quiet = _rows(client, "alerted=no")
    assert {r["id"]: r["not_alerted"] for r in quiet} == silent
    assert {r["not_alerted_label"] for r in quiet} == {"too old", "first poll", "throttled"}
    assert not any(r["alerted"] for r in quiet)
    loud = _rows(client, "alerted=yes")
    assert len(loud) == 7 and all(r["alerted"] and r["not_alerted"] is None for r in loud)
    assert len(_rows(client, "alerted=no&watchlist=acme")) == 2  # hits 2 and 4
    assert client.get("/api/hits?alerted=maybe").status_code == 400

    page = client.get("/?alerted=no").text
    assert page.count("not alerted: too old") == 1
    assert '<option value="no" selected>not alerted</option>' in page
    export = client.get("/api/hits/export?alerted=no&format=csv").text
    exported = {r["id"]: r for r in csv.DictReader(io.StringIO(export))}
    assert {int(i): r["not_alerted"] for i, r in exported.items()} == silent
    assert {r["alerted"] for r in exported.values()} == {"False"}


def test_it_sorts_hits_by_score_and_pages_through_them_without_gaps(
    settings: Settings,
) -> None:
    with seeded(settings, hits=12) as made:
        # Ties on purpose: the id breaks them, so no page repeats or skips a row.
        scores = [0.5, 2.0, 0.5, 1.25, 0.0, 2.0, 0.5, 3.5, 0.1, 1.25, 0.5, 0.75]
        for hit, score in zip(made["hits"], scores, strict=True):
            hit.score = score
        expected = [h.id for h in sorted(made["hits"], key=lambda h: (h.score, h.id), reverse=True)]
    client = TestClient(create_app(settings))

    seen: list[int] = []
    cursor = None
    while True:
        url = "/api/hits?sort=score&limit=5" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(url).json()
        seen += [row["id"] for row in body["items"]]
        cursor = body["next"]
        if cursor is None:
            break
    assert seen == expected
    assert client.get("/api/hits?sort=score&limit=1").json()["items"][0]["score"] == 3.5

    # A cursor of one order means nothing in the other: a 400, not a wrong page.
    time_cursor = client.get("/api/hits?limit=5").json()["next"]
    score_cursor = client.get("/api/hits?limit=5&sort=score").json()["next"]
    assert client.get(f"/api/hits?sort=score&cursor={time_cursor}").status_code == 400
    assert client.get(f"/api/hits?cursor={score_cursor}").status_code == 400
    assert client.get("/api/hits?sort=loudest").status_code == 400

    page = client.get("/?sort=score").text
    assert 'data-live=""' in page  # new hits do not belong at the top of this order
    assert '<option value="score" selected>best score first</option>' in page
    assert 'data-live="on"' in client.get("/").text
    export = client.get("/api/hits/export?sort=score&format=json").json()
    assert [row["id"] for row in export] == expected


def test_it_names_watchlists_in_the_lists_not_only_their_ids(settings: Settings) -> None:
    with seeded(settings, hits=4) as made:
        made["session"].get(Watchlist, "acme").name = "Acme merger watch"
        energy = made["session"].get(Watchlist, "energy")
        energy.name = ""  # a file that gives no name: the id stands in
    client = TestClient(create_app(settings))

    names = {r["watchlist"]: r["watchlist_name"] for r in _rows(client, "")}
    assert names == {"acme": "Acme merger watch", "energy": "energy"}
    page = client.get("/").text
    assert '<a href="/?watchlist=acme" title="acme">Acme merger watch</a>' in page
    assert '<option value="acme">Acme merger watch</option>' in page
    deliveries = client.get("/api/deliveries").json()["items"]
    assert {d["watchlist_name"] for d in deliveries} == {"Acme merger watch"}
    assert '<span title="acme">Acme merger watch</span>' in client.get("/deliveries").text
    export = list(csv.DictReader(io.StringIO(client.get("/api/hits/export").text)))
    assert {r["watchlist_name"] for r in export} == {"Acme merger watch", "energy"}


def test_it_lists_each_delivery_of_a_hit_with_its_kind(settings: Settings) -> None:
    with seeded(settings, hits=1) as made:
        session = made["session"]
        hit: Hit = made["hits"][0]
        session.add(Destination(key="email:a@x.org", channel="email"))
        session.flush()
        for n, kind in enumerate(
            (
                DeliveryKind.FOLLOWUP,
                DeliveryKind.ESCALATION,
                DeliveryKind.DIGEST,
                DeliveryKind.THROTTLE,
            )
        ):
            grouped = kind in (DeliveryKind.DIGEST, DeliveryKind.THROTTLE)
            delivery = Delivery(
                dedupe_key=f"kind-{n}",
                kind=kind,
                hit_id=None if grouped else hit.id,
                watchlist_id=None if kind == DeliveryKind.DIGEST else hit.watchlist_id,
                destination="email:a@x.org",
                channel="email",
                status="sent",
            )
            delivery.hits.append(DeliveryHit(hit_id=hit.id))
            session.add(delivery)
        hit_id = hit.id
    client = TestClient(create_app(settings))

    deliveries = client.get(f"/api/hits/{hit_id}").json()["deliveries"]
    assert [(d["kind"], d["kind_label"]) for d in deliveries] == [
        ("instant", "first alert"),
        ("followup", "thread reply"),
        ("escalation", "escalation"),
        ("digest", "digest"),
        ("throttle", "throttle summary"),
    ]
    page = client.get(f"/hits/{hit_id}").text
    labels = [
        "first alert",
        "thread reply",
        "escalation",
        "digest",
        "throttle summary",
    ]
    cells = [f'<td class="kind">{label}</td>' for label in labels]
    assert all(cell in page for cell in cells)
    assert [page.index(cell) for cell in cells] == sorted(page.index(cell) for cell in cells)


@pytest.mark.parametrize(
    "path", ["/hits/999999", "/hits/abc", "/no/such/page"], ids=["no-hit", "not-an-id", "no-page"]
)
def test_it_answers_a_browser_with_an_html_404(client: TestClient, path: str) -> None:
    response = client.get(path, headers=HTML)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>404: not found</h1>" in response.text
    assert '<a href="/">Back to recent hits</a>' in response.text
    # The page is one of ours: the same headers as every other page.
    assert "default-src 'self'" in response.headers["content-security-policy"]


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/api/hits/999999", HTML),
        ("/api/nowhere", HTML),
        ("/hits/999999", {"Accept": "application/json"}),
        ("/hits/999999", {}),
    ],
    ids=["api-from-a-browser", "api-unknown-path", "json-client", "no-accept"],
)
def test_it_keeps_json_errors_for_the_api_and_clients_that_want_json(
    client: TestClient, path: str, headers: dict[str, str]
) -> None:
    response = client.get(path, headers=headers)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert "detail" in response.json()


def test_it_shows_a_bad_filter_to_a_browser_as_a_page(client: TestClient) -> None:
    response = client.get("/?range=forever", headers=HTML)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert "range: expected 1h, 24h, 7d or custom" in response.text
    assert client.get("/api/hits?range=forever").json() == {
        "detail": "range: expected 1h, 24h, 7d or custom"
    }
