"""The hit page's actions (issue 17): writes only when enabled, by a signed-in person beyond
loopback, with a CSRF token from this dashboard; labels shown, filtered, in the API and the
exports."""

from __future__ import annotations

import base64
import csv
import io
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.config import Settings
from monitor.dashboard.app import create_app
from monitor.models import Hit, HitAction
from tests.dashboard.conftest import seed


def form_values(html: str) -> dict[str, str]:
    """The hidden fields of the page's forms (csrf, nonce)."""
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html))


@pytest.fixture
def writable(settings: Settings) -> Settings:
    return settings.model_copy(update={"dashboard_writes": True})


@pytest.fixture
def hit_id(session: Session) -> int:
    made = seed(session, hits=4)
    return int(made["hits"][0].id)


def client_for(settings: Settings) -> TestClient:
    return TestClient(create_app(settings), follow_redirects=False)


@pytest.fixture
def client(writable: Settings, hit_id: int) -> Iterator[TestClient]:
    with client_for(writable) as c:
        yield c


def act(client: TestClient, hit_id: int, action: str, **headers: str) -> tuple[int, str]:
    page = client.get(f"/hits/{hit_id}")
    fields = form_values(page.text)
    answer = client.post(
        f"/hits/{hit_id}/actions",
        data={"csrf": fields["csrf"], "nonce": fields["nonce"], "action": action},
        headers=headers,
    )
    return answer.status_code, answer.headers.get("location", answer.text)


def test_it_labels_a_hit_from_its_page(client: TestClient, hit_id: int, session: Session) -> None:
    status, location = act(client, hit_id, "not_relevant", **{"Sec-Fetch-Site": "same-origin"})
    assert status == 303 and location.startswith(f"/hits/{hit_id}?act=")

    page = client.get(location).text
    assert "Marked not relevant by local user at" in page
    assert '<span class="label l-not_relevant">not relevant</span> by local user' in page
    hit = session.get(Hit, hit_id)
    session.refresh(hit)
    assert hit is not None and hit.label == "not_relevant"

    # The label is in the API, filters with label=, and is in both exports.
    assert client.get(f"/api/hits/{hit_id}").json()["label"] == "not_relevant"
    labelled = client.get("/api/hits", params={"label": "not_relevant"}).json()["items"]
    assert [row["id"] for row in labelled] == [hit_id]
    unlabelled = client.get("/api/hits", params={"label": "none"}).json()["items"]
    assert hit_id not in [row["id"] for row in unlabelled] and len(unlabelled) == 3
    assert client.get("/api/hits", params={"label": "spam"}).status_code == 400
    exported = client.get("/api/hits/export", params={"format": "csv", "label": "not_relevant"})
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(r["id"], r["label"], r["labelled_by"]) for r in rows] == [
        (str(hit_id), "not_relevant", "local user")
    ]
    as_json = client.get("/api/hits/export", params={"format": "json"}).json()
    assert {r["id"]: r["label"] for r in as_json}[hit_id] == "not_relevant"
    assert 'name="label"' in client.get("/", params={"label": "not_relevant"}).text


def test_a_double_click_acts_once(client: TestClient, hit_id: int, session: Session) -> None:
    fields = form_values(client.get(f"/hits/{hit_id}").text)
    data = {"csrf": fields["csrf"], "nonce": fields["nonce"], "action": "mute_story"}
    first = client.post(f"/hits/{hit_id}/actions", data=data)
    second = client.post(f"/hits/{hit_id}/actions", data=data)

    assert first.headers["location"] == second.headers["location"]
    assert session.scalar(select(func.count()).select_from(HitAction)) == 1
    page = client.get(f"/hits/{hit_id}").text
    assert "Story muted for this watchlist by local user" in page


def test_it_undoes_from_the_hit_page(client: TestClient, hit_id: int, session: Session) -> None:
    act(client, hit_id, "relevant")
    page = client.get(f"/hits/{hit_id}").text
    [act_id] = re.findall(r'action="/actions/(\d+)/undo"', page)
    undone = client.post(f"/actions/{act_id}/undo", data={"csrf": form_values(page)["csrf"]})
    assert undone.status_code == 303
    page = client.get(undone.headers["location"]).text
    assert "Undone by local user at" in page and "undone by local user" in page
    hit = session.get(Hit, hit_id)
    session.refresh(hit)
    assert hit is not None and hit.label is None


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "http://evil.example"},
    ],
    ids=["cross-site", "same-site-other-port", "foreign-origin"],
)
def test_it_refuses_an_action_from_another_origin(
    client: TestClient, hit_id: int, session: Session, headers: dict[str, str]
) -> None:
    # The attacker's page posts the victim's own valid token: the origin alone refuses it.
    status, body = act(client, hit_id, "not_relevant", **headers)
    assert status == 403 and "cross-origin request refused" in body
    assert session.scalar(select(func.count()).select_from(HitAction)) == 0


def test_it_refuses_an_action_without_this_dashboards_token(
    client: TestClient, hit_id: int, session: Session
) -> None:
    client.get(f"/hits/{hit_id}")
    for token in ("", "forged.token"):
        answer = client.post(f"/hits/{hit_id}/actions", data={"csrf": token, "action": "relevant"})
        assert answer.status_code == 403 and "CSRF check failed" in answer.text
    assert session.scalar(select(func.count()).select_from(HitAction)) == 0


def test_it_offers_no_actions_and_refuses_them_when_read_only(
    settings: Settings, hit_id: int, session: Session
) -> None:
    with client_for(settings) as client:
        page = client.get(f"/hits/{hit_id}").text
        assert f'action="/hits/{hit_id}/actions"' not in page
        # A valid token (the page's cookie) does not make a read-only dashboard writable.
        token = client.cookies.get("monitor_csrf")
        answer = client.post(f"/hits/{hit_id}/actions", data={"csrf": token, "action": "relevant"})
    assert answer.status_code == 403 and "MONITOR_DASHBOARD_WRITES" in answer.text
    assert session.scalar(select(func.count()).select_from(HitAction)) == 0


def test_it_records_the_signed_in_user(writable: Settings, hit_id: int, session: Session) -> None:
    users = writable.model_copy(
        update={"dashboard_host": "0.0.0.0", "dashboard_users": SecretStr("ada:lovelace,bo:secret")}
    )
    credentials = base64.b64encode(b"ada:lovelace").decode()
    with client_for(users) as client:
        client.headers["Authorization"] = f"Basic {credentials}"
        status, _ = act(client, hit_id, "relevant")
    assert status == 303
    hit = session.get(Hit, hit_id)
    session.refresh(hit)
    assert hit is not None and (hit.label, hit.labelled_by) == ("relevant", "ada")


def test_it_refuses_an_anonymous_action_beyond_loopback(
    writable: Settings, hit_id: int, session: Session
) -> None:
    # `monitor dashboard` refuses to serve this; an app made another way still acts for nobody.
    exposed = writable.model_copy(update={"dashboard_host": "0.0.0.0"})
    with client_for(exposed) as client:
        status, body = act(client, hit_id, "relevant")
    assert status == 403 and "sign in" in body
    assert session.scalar(select(func.count()).select_from(HitAction)) == 0


def test_it_snoozes_the_destination_chosen_on_the_page(
    client: TestClient, hit_id: int, session: Session
) -> None:
    page = client.get(f"/hits/{hit_id}").text
    # The seeded hit's one alert went to slack:#desk.
    assert '<option value="slack:#desk">slack:#desk</option>' in page
    fields = form_values(page)
    data = {"csrf": fields["csrf"], "nonce": fields["nonce"], "action": "snooze_1h"}
    refused = client.post(f"/hits/{hit_id}/actions", data={**data, "destination": "email:x@y.org"})
    assert refused.status_code == 400 and "not one this hit's alerts went to" in refused.text

    done = client.post(f"/hits/{hit_id}/actions", data={**data, "destination": "slack:#desk"})
    page = client.get(done.headers["location"]).text
    assert "Snoozed at slack:#desk for 1 hour by local user" in page
    assert "Watchlist snoozed at slack:#desk until" in page
