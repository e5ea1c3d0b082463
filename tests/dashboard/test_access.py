"""Who may read, who may write, and the headers every response carries."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from pydantic import SecretStr

from monitor import db as storage
from monitor.alerts.formatting import safe_url
from monitor.cli.main import cli
from monitor.config import Settings
from monitor.dashboard import check_exposure
from monitor.dashboard.app import create_app
from monitor.models import Article, Delivery, Story
from tests.conftest import make_settings
from tests.dashboard.conftest import seeded

TOKEN = "t0ken-Secret-123"


@pytest.fixture
def three(sqlite_settings: Settings) -> Settings:
    """Settings of a database seeded with three hits."""
    with seeded(sqlite_settings, hits=3):
        pass
    return sqlite_settings


def _with(settings: Settings, **update: object) -> TestClient:
    return TestClient(create_app(settings.model_copy(update=update)))


def _basic(user: str, password: str) -> dict[str, str]:
    raw = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer wrong"}, 401),
        ({"Authorization": f"Bearer {TOKEN}"}, 200),
        (_basic("ann", "pw1"), 200),
        (_basic("ann", "nope"), 401),
        (_basic("bob", "pw1"), 401),
    ],
    ids=["missing", "wrong-token", "right-token", "basic-ok", "basic-wrong-pw", "basic-unknown"],
)
def test_it_requires_a_token_or_user(three: Settings, headers: dict[str, str], status: int) -> None:
    client = _with(
        three, dashboard_token=SecretStr(TOKEN), dashboard_users=SecretStr("ann:pw1,cy:pw2")
    )
    for path in ("/", "/api/hits", "/metrics", "/openapi.json"):
        response = client.get(path, headers=headers)
        assert response.status_code == status, path
        assert TOKEN not in response.text
    # Health checks stay open to load balancers and say nothing secret.
    assert client.get("/healthz").status_code == 200


def test_it_logs_in_with_a_token_link_and_keeps_it_out_of_pages(three: Settings) -> None:
    client = _with(three, dashboard_token=SecretStr(TOKEN))
    assert client.get("/?token=wrong", follow_redirects=False).status_code == 401
    login = client.get(f"/?watchlist=acme&token={TOKEN}", follow_redirects=False)
    assert login.status_code == 303 and login.headers["location"] == "/?watchlist=acme"
    assert "httponly" in login.headers["set-cookie"].lower()
    page = client.get("/?watchlist=acme")
    assert page.status_code == 200 and TOKEN not in page.text


def test_it_sets_security_headers(three: Settings) -> None:
    response = _with(three).get("/")
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"
    # No inline script and no CDN: every script and stylesheet is served by the app itself.
    assert "<script>" not in response.text
    assert re.findall(r'<(?:script src|link rel="stylesheet" href)="([^"]+)"', response.text) == [
        "/static/style.css",
        "/static/app.js",
    ]
    assert _with(three).get("/static/app.js").status_code == 200


def test_it_binds_to_loopback_by_default(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    assert settings.dashboard_host == "127.0.0.1" and not settings.dashboard_writes
    check_exposure(settings, settings.dashboard_host)


def _failed_id(settings: Settings) -> int:
    with storage.sessionmaker_for(settings)() as s:
        return next(d.id for d in s.query(Delivery) if d.status == "failed")


def test_it_is_read_only_unless_writes_are_enabled(three: Settings) -> None:
    client = _with(three)
    page = client.get("/deliveries")
    assert "Retry</button>" not in page.text
    csrf = client.cookies.get("monitor_csrf")
    response = client.post(f"/deliveries/{_failed_id(three)}/retry", data={"csrf": csrf})
    assert response.status_code == 403


def test_it_retries_a_delivery_with_a_valid_csrf_token_only(three: Settings) -> None:
    client = _with(three, dashboard_writes=True)
    delivery = _failed_id(three)
    assert "Retry</button>" in client.get("/deliveries").text
    csrf = client.cookies.get("monitor_csrf")
    bad = client.post(f"/deliveries/{delivery}/retry", data={"csrf": "forged"})
    assert bad.status_code == 403
    good = client.post(f"/deliveries/{delivery}/retry", data={"csrf": csrf}, follow_redirects=False)
    assert good.status_code == 303 and good.headers["location"] == "/deliveries?done=1"
    with storage.sessionmaker_for(three)() as s:
        assert s.get(Delivery, delivery).status != "failed"  # type: ignore[union-attr]


def test_it_escapes_feed_text_on_the_server(sqlite_settings: Settings) -> None:
    with seeded(sqlite_settings, hits=2) as made:
        made["hits"][0].article.title = "<script>alert(1)</script>"
        made["hits"][0].article.url = "javascript:alert(1)"
        made["hits"][1].snippet = "<img src=x onerror=alert(1)>"
        made["hits"][1].highlights = [[1, 4]]
    first = made["hits"][0].id
    client = TestClient(create_app(sqlite_settings))
    page = client.get("/").text
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page and "&lt;<mark>img</mark> src=x" in page
    assert "javascript:" not in page
    assert "<script>alert" not in client.get(f"/hits/{first}").text


def test_it_marks_matches_without_trusting_tags_in_the_snippet(sqlite_settings: Settings) -> None:
    """The marks are added after escaping: tags in the feed's text, even the ones the marking
    writes, stay text."""
    snippet = "<strong>x</strong> acme </mark><mark>"
    with seeded(sqlite_settings, hits=1) as made:
        made["hits"][0].snippet = snippet
        made["hits"][0].highlights = [[snippet.index("acme"), snippet.index("acme") + 4]]
    page = TestClient(create_app(sqlite_settings)).get(f"/hits/{made['hits'][0].id}").text
    assert (
        '<p class="snippet big">&lt;strong&gt;x&lt;/strong&gt; <mark>acme</mark> '
        "&lt;/mark&gt;&lt;mark&gt;</p>"
    ) in page


@pytest.mark.parametrize(
    ("url", "link"),
    [
        ("https://ex.org/a b", None),
        ("https://ex.org/\x01", None),
        ("https://ex.org/a\tb", None),
        ("https://ex.org/a\x7fb", None),
        ("javascript:alert(1)", None),
        (" JavaScript:alert(1)", None),
        ("javascript://ex.org/%0Aalert(1)", None),
        ("https:ex.org/no-host", None),
        ("https://ex.org/a", "https://ex.org/a"),
        ("https://ex.org/café", "https://ex.org/caf%C3%A9"),
    ],
    ids=[
        "space",
        "control-character",
        "tab",
        "delete",
        "javascript",
        "javascript-spaced",
        "javascript-with-host",
        "no-host",
        "plain",
        "non-ascii-encoded",
    ],
)
def test_it_links_feed_urls_as_alerts_do(
    sqlite_settings: Settings, url: str, link: str | None
) -> None:
    """One rule for links, the alerts' (monitor.alerts.formatting.safe_url): a URL with a
    space or a control character in it, or not plain http(s), is shown without a link."""
    assert safe_url(url) == link
    with seeded(sqlite_settings, hits=1) as made:
        session = made["session"]
        hit = made["hits"][0]
        hit.article.url = url
        story = Story(title="Acme merger")
        session.add(story)
        session.flush()
        hit.article.story_id = story.id
        session.add(Article(identity="e" * 64, url=url, title="Elsewhere", story_id=story.id))
    client = TestClient(create_app(sqlite_settings))
    assert client.get("/api/hits").json()["items"][0]["url"] == link
    detail = client.get(f"/api/hits/{hit.id}").json()
    assert detail["url"] == link and detail["also_reported_by"][0]["url"] == link
    home = client.get("/").text
    page = client.get(f"/hits/{hit.id}").text
    if link is None:
        assert '<td class="headline">Headline 0 acme merger</td>' in home
        assert "<dt>URL</dt><dd>—</dd>" in page and ": Elsewhere</li>" in page
        assert 'href="http' not in home.split("<tbody>")[1] and 'href="http' not in page
    else:
        assert f'<td class="headline"><a href="{link}" rel=' in home
        assert page.count(f'<a href="{link}" rel=') == 2  # the article, and the other source


@pytest.mark.parametrize(
    ("env", "code"),
    [
        ({}, 2),
        ({"MONITOR_DASHBOARD_TOKEN": ""}, 2),
    ],
    ids=["no-auth", "empty-token"],
)
def test_it_refuses_to_serve_other_addresses_without_auth(
    tmp_path: Path, env: dict[str, str], code: int
) -> None:
    env = {"MONITOR_DATABASE_URL": f"sqlite:///{tmp_path}/m.db", **env}
    result = CliRunner().invoke(cli, ["dashboard", "--host", "0.0.0.0"], env=env)
    assert result.exit_code == code
    assert "MONITOR_DASHBOARD_TOKEN" in result.output
    assert "Traceback" not in result.output


HOSTILE = "<script>alert(1)</script>"


def test_it_escapes_feed_names_and_errors_on_every_page(sqlite_settings: Settings) -> None:
    """Feed names, feed and delivery errors and YAML errors are text from outside too."""
    with seeded(sqlite_settings, hits=2) as made:
        wire, blog = made["feeds"]
        wire.name = HOSTILE
        blog.last_error = HOSTILE
        made["hits"][0].deliveries[0].delivery.last_error = HOSTILE  # the failed one
        made["hits"][0].watchlist.load_error = HOSTILE
    client = TestClient(create_app(sqlite_settings))
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    for path in ("/", "/feeds", "/deliveries", "/watchlists", f"/hits/{made['hits'][0].id}"):
        text = client.get(path).text
        assert HOSTILE not in text and escaped in text, path
    # The JSON API carries the text as it is, as JSON that a browser will not sniff into HTML.
    api = client.get("/api/feeds")
    assert api.headers["content-type"] == "application/json"
    assert api.headers["x-content-type-options"] == "nosniff"
    assert HOSTILE in {row["last_error"] for row in api.json()["items"]}


def test_it_keeps_feed_credentials_off_pages_and_the_api(sqlite_settings: Settings) -> None:
    with seeded(sqlite_settings, hits=2) as made:
        wire, blog = made["feeds"]
        wire.name = None
        wire.url = "https://reader:hunter2@wire.test/rss?api_key=k3y&page=2"
        blog.last_error = "HTTP 401 for 'https://reader:hunter2@blog.test/atom?token=k3y'"
    client = TestClient(create_app(sqlite_settings))
    for path in ("/", "/feeds", "/api/feeds", "/api/hits"):
        text = client.get(path).text
        assert "hunter2" not in text and "k3y" not in text, path
    feeds = {f["id"]: f for f in client.get("/api/feeds").json()["items"]}
    # The user name goes too: it is the secret when a token is used as one (issue #19).
    assert feeds[wire.id]["url"] == "https://***@wire.test/rss?api_key=***&page=2"
    assert "blog.test/atom?token=***" in feeds[blog.id]["last_error"]


def test_it_refuses_to_serve_other_addresses_without_auth_from_monitor_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The dashboard child of ``monitor run`` (and the docker-compose service) checks too,
    and says so in one line."""
    from monitor.cli.run import _serve_dashboard

    monkeypatch.setenv("MONITOR_DATABASE_URL", f"sqlite:///{tmp_path}/m.db")
    monkeypatch.setenv("MONITOR_DASHBOARD_HOST", "0.0.0.0")
    with pytest.raises(SystemExit) as stopped:
        _serve_dashboard(["dashboard"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "MONITOR_DASHBOARD_TOKEN" in err and "0.0.0.0" in err


@pytest.mark.parametrize(
    ("host", "update"),
    [
        ("127.0.0.1", {}),
        ("::1", {}),
        ("localhost", {}),
        ("0.0.0.0", {"dashboard_token": SecretStr(TOKEN)}),
        ("10.1.2.3", {"dashboard_users": SecretStr("ann:pw1")}),
    ],
    ids=["loopback", "loopback-v6", "localhost", "any-with-token", "lan-with-users"],
)
def test_it_allows_loopback_or_authenticated_addresses(
    sqlite_settings: Settings, host: str, update: dict[str, object]
) -> None:
    check_exposure(sqlite_settings.model_copy(update=update), host)
