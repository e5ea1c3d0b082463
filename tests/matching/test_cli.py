"""monitor watchlists validate|list|test and monitor match, as a person runs them."""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor import db as storage
from monitor.cli.main import cli
from monitor.config import Settings
from monitor.models import Article

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def watchlist_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "wl"
    directory.mkdir()
    (directory / "naira.yaml").write_text(
        'query: naira ("parallel market" OR "black market")\n', encoding="utf-8"
    )
    (directory / "nato.yaml").write_text('query: NATO "liaison office" Japan\n', encoding="utf-8")
    return directory


def test_it_validates_the_shipped_watchlists() -> None:
    # validate also checks that each destination's secret is set (issue #19): give them.
    secrets = {
        "MONITOR_SLACK_BOT_TOKEN": "xoxb-test",
        "MONITOR_SMTP_URL": "smtp://mail.example.org:587",
        "SLACK_WEBHOOK_SECURITY": "https://hooks.slack.example.org/T/B/x",
    }
    code, out, err = run("watchlists", "validate", str(ROOT / "watchlists"), env=secrets)
    assert code == 0, out
    assert out == "" and "watchlist(s) valid" in err


def test_it_prints_file_line_col_and_exits_1_on_errors(tmp_path: Path) -> None:
    bad = tmp_path / "x.yaml"
    bad.write_text("name: X\nquery: naira  AND\ncolour: red\n", encoding="utf-8")
    code, out, err = run("watchlists", "validate", str(bad))
    assert code == 1
    assert out.splitlines() == [
        f"{bad}:2:15: expected a term after 'AND', found the end of the query",
        f"{bad}:3:1: unknown key 'colour'",
    ]
    assert "2 problem(s)" in err


def test_it_reports_a_missing_path_in_one_line(tmp_path: Path) -> None:
    code, _, err = run("watchlists", "validate", str(tmp_path / "nope"))
    assert code == 1 and err.strip() == f"monitor: {tmp_path / 'nope'}: no such file or directory"


def test_it_validates_the_configured_directory_by_default(watchlist_dir: Path) -> None:
    code, _, err = run("watchlists", "validate", env={"MONITOR_WATCHLISTS": str(watchlist_dir)})
    assert code == 0 and "2 watchlist(s) valid" in err


def test_it_lists_watchlists(watchlist_dir: Path) -> None:
    code, out, _ = run("watchlists", "list", "--watchlists", str(watchlist_dir), "--json")
    assert code == 0
    assert [json.loads(line)["id"] for line in out.splitlines()] == ["naira", "nato"]


def test_it_matches_text_and_jsonl_files_as_json_lines(watchlist_dir: Path, tmp_path: Path) -> None:
    txt = tmp_path / "story.txt"
    txt.write_text(
        "France blocks NATO plan\n\nA plan to open NATO’s first liaison office in Japan "
        "was blocked by France.\n",
        encoding="utf-8",
    )
    jsonl = tmp_path / "articles.jsonl"
    jsonl.write_text(
        json.dumps(
            {
                "id": "a1",
                "title": "Naira slides",
                "content": "The naira depreciated in the parallel market on Monday.",
                "url": "https://example.org/naira",
            }
        )
        + "\n"
        + json.dumps({"title": "Weather", "content": "Rain in Lagos."})
        + "\n",
        encoding="utf-8",
    )
    code, out, _ = run("match", "--watchlists", str(watchlist_dir), str(txt), str(jsonl))
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(h["watchlist"], h["article"]["id"]) for h in lines] == [
        ("nato", str(txt)),
        ("naira", "a1"),
    ]
    naira = lines[1]
    assert naira["article"] == {
        "id": "a1",
        "title": "Naira slides",
        "url": "https://example.org/naira",
        # settled from the text: the line declares none
        "language": "en",
        "detected_language": "en",
        "language_confidence": pytest.approx(0.89, abs=0.1),
    }
    assert naira["fields"] == ["title", "content"]
    assert naira["matched"] == ["naira", '"parallel market"']
    assert naira["snippet"] == "The naira depreciated in the parallel market on Monday."
    assert set(lines[0]) >= {"watchlist", "article", "fields", "matched", "snippet"}


def test_it_exits_0_when_nothing_matches_and_1_on_a_bad_file(
    watchlist_dir: Path, tmp_path: Path
) -> None:
    quiet = tmp_path / "quiet.txt"
    quiet.write_text("Nothing to see\n", encoding="utf-8")
    assert run("match", "--watchlists", str(watchlist_dir), str(quiet))[:2] == (0, "")
    broken = tmp_path / "broken.jsonl"
    broken.write_text("{not json\n", encoding="utf-8")
    code, _, err = run("match", "--watchlists", str(watchlist_dir), str(broken))
    assert code == 1 and err.startswith(f"monitor: {broken}:1: not a JSON object")
    code, _, err = run("match", "--watchlists", str(watchlist_dir), str(tmp_path / "x.pdf"))
    assert code == 1 and "no such file" in err
    # Half a character in a JSON string is printed as U+FFFD, not a crash on output.
    half = tmp_path / "half.jsonl"
    half.write_text('{"id": "h1", "title": "naira \\ud800", "content": "black market"}\n')
    code, out, err = run("match", "--watchlists", str(watchlist_dir), str(half))
    assert code == 0, err
    assert json.loads(out)["article"]["title"] == "naira \ufffd"
    # A .xml file that is no feed (or one nothing can read) is an error, not zero articles.
    page = tmp_path / "page.xml"
    page.write_text("<html><body><p>Naira</p></body></html>", encoding="utf-8")
    code, _, err = run("match", "--watchlists", str(watchlist_dir), str(page))
    assert code == 1 and err.strip() == f"monitor: {page}: not a feed"
    unreadable = tmp_path / "unreadable.rss"
    unreadable.write_bytes(b"stray <title>T</title><image><url>u</url><heiht>1</height></image>")
    code, _, err = run("match", "--watchlists", str(watchlist_dir), str(unreadable))
    assert code == 1 and err.startswith(f"monitor: {unreadable}: not a feed: feedparser raised")


def test_it_matches_html_pages_and_feeds(watchlist_dir: Path, tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    paragraph = "A plan to open NATO's first liaison office in Japan was blocked by France. " * 3
    page.write_text(
        "<html><head><title>NATO &amp; Japan</title></head><body><nav>Home | World</nav>"
        f"<article><h1>NATO and Japan</h1><p>{paragraph}</p><p>{paragraph}</p></article>"
        "<footer>Copyright</footer></body></html>",
        encoding="utf-8",
    )
    feed = tmp_path / "feed.rss"
    feed.write_text(
        textwrap.dedent(
            """\
            <?xml version="1.0" encoding="utf-8"?>
            <rss version="2.0"><channel><title>Markets</title><link>https://example.org/</link>
            <item><title>Naira slides</title><link>https://example.org/naira</link>
            <guid>naira-1</guid>
            <description>The naira weakened on the black market.</description></item>
            <item><title>Rain</title><link>https://example.org/rain</link><guid>rain-1</guid>
            <description>Rain in Lagos.</description></item>
            </channel></rss>
            """
        ),
        encoding="utf-8",
    )
    code, out, err = run("match", "--watchlists", str(watchlist_dir), str(page), str(feed))
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [h["watchlist"] for h in lines] == ["nato", "naira"]
    assert lines[0]["article"]["title"] == "NATO & Japan"
    assert lines[1]["article"]["url"] == "https://example.org/naira"


def test_it_backtests_a_watchlist_over_stored_articles(
    sqlite_settings: Settings, watchlist_dir: Path
) -> None:
    now = datetime.now(UTC)
    with storage.session_scope(sqlite_settings) as session:
        for number, (title, content, age) in enumerate(
            [
                ("Naira slides", "The naira fell in the parallel market.", 1),
                ("Naira again", "Naira weak on the black market.", 2),
                ("Old naira story", "The naira in the parallel market, long ago.", 30),
                ("Weather", "Rain in Lagos.", 1),
            ]
        ):
            session.add(
                Article(
                    identity=f"{number:064d}",
                    url=f"https://example.org/{number}",
                    title=title,
                    content=content,
                    first_seen_at=now - timedelta(days=age),
                )
            )
    env = {
        "MONITOR_DATABASE_URL": sqlite_settings.database_url,
        "MONITOR_WATCHLISTS": str(watchlist_dir),
    }
    code, out, _ = run("watchlists", "test", "naira", "--since", "7d", env=env)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("naira: 2 hit(s) in 3 article(s) since ")
    assert "- Naira slides  <https://example.org/0>" in lines
    assert "  The [naira] fell in the [parallel market]." in lines

    code, _, err = run("watchlists", "test", "nope", env=env)
    assert code == 1 and err.startswith("monitor: no valid watchlist 'nope'")
    code, _, err = run("watchlists", "test", "naira", "--since", "soon", env=env)
    assert code == 1 and "--since" in err


def test_monitor_match_runs_the_cases_of_issue_18(tmp_path: Path) -> None:
    # The table a new user tried: each line missed before; the language is detected (the
    # lines declare none) and printed with the hit.
    directory = tmp_path / "wl"
    directory.mkdir()
    for name, query in [
        ("nato-ja", "NATO AND 東京 AND 連絡事務所"),
        ("dprk-ko", "북한 AND 러시아"),
        ("nato-ru", "НАТО AND Япония"),
        ("naira", "naira AND market"),
    ]:
        (directory / f"{name}.yaml").write_text(
            f"query: {json.dumps(query, ensure_ascii=False)}\nstem: true\n", encoding="utf-8"
        )
    lines = [
        "NATO東京連絡事務所の開設について、フランスのマクロン大統領が反対を表明した",
        "북한이 러시아에 병력을 파견했다고 국가정보원이 밝혔다",
        # A Russian headline alone is too short to tell from Bulgarian (ru 0.60, bg 0.35):
        # it would stay unknown and be matched exactly. With its lede it is Russian.
        "НАТО откроет офис в Японии, несмотря на возражения Франции. Об этом сообщили "
        "источники в Токио.",
        "Traders said the naira weakened in the parallel markets of Lagos on Monday",
    ]
    articles = tmp_path / "articles.jsonl"
    articles.write_text(
        "".join(json.dumps({"id": str(n), "title": t}) + "\n" for n, t in enumerate(lines)),
        encoding="utf-8",
    )
    code, out, err = run("match", "--watchlists", str(directory), str(articles))
    assert (code, err) == (0, "")
    hits = [json.loads(line) for line in out.splitlines()]
    assert [(h["watchlist"], h["article"]["id"], h["article"]["language"]) for h in hits] == [
        ("nato-ja", "0", "ja"),
        ("dprk-ko", "1", "ko"),
        ("nato-ru", "2", "ru"),
        ("naira", "3", "en"),
    ]
    short = tmp_path / "short.jsonl"
    short.write_text(
        json.dumps({"title": "НАТО откроет офис в Японии"}, ensure_ascii=False)
        + "\n"
        + json.dumps({"title": "НАТО откроет офис в Японии", "language": "ru"}, ensure_ascii=False)
        + "\n",
        encoding="utf-8",
    )
    code, out, _ = run("match", "--watchlists", str(directory), str(short))
    found = [json.loads(line)["article"] for line in out.splitlines()]
    # Only the line that declares Russian: the other stays unknown, and is matched exactly.
    assert [(a["language"], a["detected_language"]) for a in found] == [("ru", "ru")]
    short = tmp_path / "short.jsonl"
    short.write_text(
        json.dumps({"title": "НАТО откроет офис в Японии"}, ensure_ascii=False)
        + "\n"
        + json.dumps({"title": "НАТО откроет офис в Японии", "language": "ru"}, ensure_ascii=False)
        + "\n",
        encoding="utf-8",
    )
    code, out, _ = run("match", "--watchlists", str(directory), str(short))
    hits = [json.loads(line) for line in out.splitlines()]
    assert [(h["article"]["language"], h["article"]["detected_language"]) for h in hits] == [
        ("ru", "ru")  # only the line that declares Russian: the other stays unknown
    ]


def test_the_backtest_takes_each_article_through_the_query_of_its_language(
    sqlite_settings: Settings, tmp_path: Path
) -> None:
    directory = tmp_path / "wl"
    directory.mkdir()
    (directory / "nato.yaml").write_text(
        'query: NATO "liaison office"\nstem: true\n'
        "translations: {ja: NATO AND 連絡事務所, ru: НАТО AND Япония}\n",
        encoding="utf-8",
    )
    now = datetime.now(UTC)
    with storage.session_scope(sqlite_settings) as session:
        for number, (title, language) in enumerate(
            [
                ("NATO東京連絡事務所の開設にフランスが反対", "ja"),
                ("НАТО откроет офис в Японии", "ru"),
                ("NATO liaison office in Tokyo blocked", "en"),
                ("NATO liaison office 東京", "ja"),  # Japanese: the English query is not asked
            ]
        ):
            session.add(
                Article(
                    identity=f"{number:064d}",
                    url=f"https://example.org/{number}",
                    title=title,
                    language=language,
                    first_seen_at=now - timedelta(hours=1),
                )
            )
    env = {
        "MONITOR_DATABASE_URL": sqlite_settings.database_url,
        "MONITOR_WATCHLISTS": str(directory),
    }
    code, out, _ = run("watchlists", "test", "nato", "--since", "7d", env=env)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("nato: 3 hit(s) in 4 article(s) since ")
    assert "  [НАТО] откроет офис в [Японии]" in lines
    assert "  [NATO]東京[連絡事務所]の開設にフランスが反対" in lines
