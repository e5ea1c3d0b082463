"""monitor.redaction: the one rule for what of a URL a person may see (issue #19, point 15)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from monitor.cli.main import cli
from monitor.redaction import redact_url, scrub
from tests.support.feedserver import FeedServer


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://reader:hunter2@x.test/rss", "https://***@x.test/rss"),
        ("https://ghp_T0KEN@x.test/rss", "https://***@x.test/rss"),
        ("https://reader:pa@ss@x.test/rss", "https://***@x.test/rss"),
        ("https://reader:pa/ss@x.test/rss?format=rss", "https://***@x.test/rss?format=rss"),
        ("https://reader:pa?ss@x.test/rss", "https://***@x.test/rss"),
        (
            "https://x.test/rss?code=C0DE&hash=H4SH&k=K3Y&api_key=A&format=rss&page=2&LANG=en",
            "https://x.test/rss?code=***&hash=***&k=***&api_key=***&format=rss&page=2&LANG=en",
        ),
        ("https://x.test/rss?a1b2c3d4", "https://x.test/rss?***"),
        ("https://x.test/rss?feed=&tag=", "https://x.test/rss?feed=&tag="),
        (
            "https://x.test/cb#access_token=T0K&state=1",
            "https://x.test/cb#access_token=***&state=***",
        ),
        ("https://x.test/a#section-2", "https://x.test/a#section-2"),
        ("https://medium.com/feed/@someone", "https://medium.com/feed/@someone"),
        ("https://[::1]:8080/rss?token=T", "https://[::1]:8080/rss?token=***"),
        (
            "postgresql://u:s3cret@h:5432/d?sslmode=require",
            "postgresql://***@h:5432/d?sslmode=require",
        ),
        ("redis://:pw@redis:6379/0", "redis://***@redis:6379/0"),
        ("sqlite:///var/x.db", "sqlite:///var/x.db"),
        ("not a url ? k=1", "not a url ? k=***"),
    ],
    ids=[
        "user-and-password",
        "token-as-user-name",
        "at-sign-in-password",
        "slash-in-password",
        "question-mark-in-password",
        "query-values-unless-harmless",
        "bare-query-name",
        "empty-values",
        "fragment-pairs",
        "fragment-anchor",
        "at-sign-in-path",
        "ipv6-host",
        "database-url",
        "redis-password-only",
        "sqlite-path",
        "not-a-url",
    ],
)
def test_it_shows_a_url_without_its_credentials(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_it_scrubs_every_url_in_an_error_message() -> None:
    error = (
        "HTTP 401 for 'https://ghp_T0KEN@x.test/rss?k=K3Y', then GET /rss?code=C0DE: "
        "(see https://docs.test/auth?lang=en). <https://x.test/?sig=S1G>"
    )
    assert scrub(error) == (
        "HTTP 401 for 'https://***@x.test/rss?k=***', then GET /rss?code=***: "
        "(see https://docs.test/auth?lang=en). <https://x.test/?sig=***>"
    )
    assert scrub(None) is None and scrub("") == ""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "MONITOR_DATABASE_URL": f"sqlite:///{tmp_path}/monitor.db",
        "MONITOR_BROKER_URL": f"sqla+sqlite:///{tmp_path}/broker.db",
        "MONITOR_FEEDS": str(tmp_path / "feeds.yaml"),
        "MONITOR_VAR_DIR": str(tmp_path / "var"),
        "MONITOR_ALLOW_PRIVATE_FEEDS": "1",
    }


def test_it_keeps_feed_credentials_out_of_the_feeds_table_and_poll_outcomes(
    env: dict[str, str],
) -> None:
    with FeedServer() as server:
        server.set("/gone", b"", status=401)
        port = server.base_url.rsplit(":", 1)[1]
        url = f"http://tok3nXYZ@127.0.0.1:{port}/gone?k=K3YXYZ"
        Path(env["MONITOR_FEEDS"]).write_text(yaml.safe_dump({"feeds": [{"url": url}]}))
        runner = CliRunner()
        listed = runner.invoke(cli, ["feeds", "list"], env=env, catch_exceptions=False)
        polled = runner.invoke(cli, ["feeds", "poll", "--all"], env=env, catch_exceptions=False)
    assert listed.exit_code == 0 and polled.exit_code == 0, listed.output + polled.output
    for output in (listed.output, polled.output):
        assert "tok3nXYZ" not in output and "K3YXYZ" not in output, output
    assert f"http://***@127.0.0.1:{port}/gone?k=***" in listed.output
    assert f"http://***@127.0.0.1:{port}/gone?k=***: " in polled.output
