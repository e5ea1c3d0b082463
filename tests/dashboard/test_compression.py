"""Gzip for the overview, and for no page with a form or a token (monitor/dashboard/
compression.py: compressing a secret next to feed text leaks it, BREACH)."""

from __future__ import annotations

import gzip
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from monitor import db as storage
from monitor.config import Settings
from monitor.dashboard.app import create_app
from tests.dashboard.conftest import seed


@pytest.fixture
def seeded_client(sqlite_settings: Settings) -> Iterator[TestClient]:
    with storage.sessionmaker_for(sqlite_settings)() as session:
        seed(session)
    with TestClient(create_app(sqlite_settings)) as client:
        yield client


def test_it_gzips_the_overview_for_a_client_that_accepts_it(seeded_client: TestClient) -> None:
    plain = seeded_client.get("/overview?range=7d", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    with seeded_client.stream(
        "GET", "/overview?range=7d", headers={"Accept-Encoding": "gzip"}
    ) as packed:
        raw = b"".join(packed.iter_raw())
        assert packed.status_code == 200 and packed.headers["content-encoding"] == "gzip"
        assert packed.headers["content-security-policy"] == plain.headers["content-security-policy"]
    assert gzip.decompress(raw) == plain.content
    assert len(raw) * 4 < len(plain.content)


@pytest.mark.parametrize(
    "path",
    ["/", "/hits/1", "/watchlists", "/feeds", "/deliveries", "/api/hits"],
    ids=["hits", "hit", "watchlists", "feeds", "deliveries", "api"],
)
def test_it_never_gzips_another_page(seeded_client: TestClient, path: str) -> None:
    response = seeded_client.get(path, headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert len(response.content) > 1000  # big enough that gzip would have taken it
    assert "content-encoding" not in response.headers


def test_it_gzips_the_overview_behind_a_root_path(sqlite_settings: Settings) -> None:
    with TestClient(create_app(sqlite_settings), root_path="/monitor") as client:
        response = client.get("/monitor/overview", headers={"Accept-Encoding": "gzip"})
        assert response.status_code == 200
        assert response.headers["content-encoding"] == "gzip"
        other = client.get("/monitor/feeds", headers={"Accept-Encoding": "gzip"})
        assert other.status_code == 200 and "content-encoding" not in other.headers
