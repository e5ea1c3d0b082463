"""``monitor feeds``: add, list, remove, import, export, poll."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from monitor.cli.main import cli
from tests.feeds.conftest import rss
from tests.support.feedserver import FeedServer


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "MONITOR_DATABASE_URL": f"sqlite:///{tmp_path}/monitor.db",
        "MONITOR_BROKER_URL": f"sqla+sqlite:///{tmp_path}/broker.db",
        "MONITOR_FEEDS": str(tmp_path / "feeds.yaml"),
        "MONITOR_VAR_DIR": str(tmp_path / "var"),
        "MONITOR_ALLOW_PRIVATE_FEEDS": "1",
    }


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def feeds_file(env: dict[str, str]) -> list[dict[str, object]]:
    data = yaml.safe_load(Path(env["MONITOR_FEEDS"]).read_text())
    return list(data["feeds"])


def test_it_adds_lists_and_removes_feeds(env: dict[str, str]) -> None:
    added = run(
        env,
        "feeds",
        "add",
        "https://a.example.org/rss",
        "--name",
        "Alpha",
        "--tag",
        "nigeria",
        "--tag",
        "business",
        "--interval",
        "15m",
        "--fulltext",
    )
    assert added.exit_code == 0, added.output
    assert feeds_file(env) == [
        {
            "url": "https://a.example.org/rss",
            "name": "Alpha",
            "tags": ["nigeria", "business"],
            "interval": 900,
            "fulltext": True,
        }
    ]

    listed = run(env, "feeds", "list")
    assert listed.exit_code == 0
    header, row = listed.output.strip().splitlines()[-2:]
    for column in ("NAME", "URL", "STATUS", "LAST POLL", "ERRORS", "ITEMS/DAY", "NEXT POLL"):
        assert column in header
    assert row.startswith("Alpha") and "https://a.example.org/rss" in row and "now" in row

    removed = run(env, "feeds", "remove", "alpha")
    assert removed.exit_code == 0 and feeds_file(env) == []
    assert "no feeds" in run(env, "feeds", "list").output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("add", "ftp://x.org/feed"),
            "monitor: cannot add ftp://x.org/feed: url: expected",
        ),
        (
            ("add", "https://x.org/rss", "--interval", "soon"),
            "monitor: cannot add https://x.org/rss: interval: expected",
        ),
        (("remove", "nothing"), "monitor: no feed named or at 'nothing'"),
        (("poll",), "monitor: name a feed to poll, or use --all"),
        (("import", "missing.opml"), "monitor: cannot read missing.opml"),
    ],
    ids=["bad-url", "bad-interval", "remove-unknown", "poll-nothing", "import-missing"],
)
def test_it_explains_mistakes_in_one_line(
    env: dict[str, str], args: tuple[str, ...], message: str
) -> None:
    result = run(env, "feeds", *args)
    assert result.exit_code != 0
    assert result.output.strip().startswith(message)
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_it_refuses_a_duplicate(env: dict[str, str]) -> None:
    run(env, "feeds", "add", "https://a.example.org/rss")
    result = run(env, "feeds", "add", "https://a.example.org/rss")
    assert result.exit_code == 1 and "already in" in result.output


def test_it_imports_opml_and_reports_what_it_skipped(env: dict[str, str], tmp_path: Path) -> None:
    opml = tmp_path / "list.opml"
    opml.write_text("""<opml version="1.0"><body>
      <outline text="Japan"><outline text="Kyodo & Co" xmlUrl="https://english.kyodonews.net/rss/all.xml"/></outline>
      <outline text="Just a site" type="link" url="https://example.org/"/>
    </body></opml>""")
    result = run(env, "feeds", "import", str(opml), "--tag", "asia")
    assert result.exit_code == 0, result.output
    assert "imported 1 feeds" in result.output and "skipped 1" in result.output
    assert "skipped Just a site: a web link, not a feed" in result.output
    assert "escaped bare '&'" in result.output
    assert feeds_file(env) == [
        {
            "url": "https://english.kyodonews.net/rss/all.xml",
            "name": "Kyodo & Co",
            "tags": ["Japan", "asia"],
        }
    ]
    again = run(env, "feeds", "import", str(opml))
    assert "imported 0 feeds" in again.output and "already in feeds.yaml" in again.output


def test_it_exports_opml(env: dict[str, str], tmp_path: Path) -> None:
    run(env, "feeds", "add", "https://a.example.org/rss", "--name", "Alpha", "--tag", "x")
    result = run(env, "feeds", "export")
    assert result.output.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    assert 'xmlUrl="https://a.example.org/rss"' in result.output and 'category="x"' in result.output
    out = tmp_path / "out.opml"
    assert run(env, "feeds", "export", "-o", str(out)).exit_code == 0
    assert "Alpha" in out.read_text()


def test_it_polls_now_and_prints_each_outcome(env: dict[str, str], server: FeedServer) -> None:
    server.set("/good", rss(("1", "One"), ("2", "Two")))
    server.set("/bad", b"down", status=500, content_type="text/plain")
    run(env, "feeds", "add", server.url("/good"), "--name", "Good")
    run(env, "feeds", "add", server.url("/bad"), "--name", "Bad")

    result = run(env, "feeds", "poll", "--all")
    assert result.exit_code == 0, result.output
    assert "Good: new 2" in result.output
    assert "Bad: error: HTTP 500" in result.output
    assert "2 polled, 1 failed" in result.output

    again = run(env, "feeds", "poll", "Good")
    assert "Good: unchanged" in again.output and "1 polled, 0 failed" in again.output
    listed = run(env, "feeds", "list").output
    assert "error: HTTP 500" in listed and "ok" in listed
