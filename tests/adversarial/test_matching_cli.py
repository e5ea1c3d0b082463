"""Issue #19, as an attacker would try it: matching cost, YAML alias bombs, and what the
command line prints (bad files, failed feeds, logs, terminal escapes, runpy's warning)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor import db as storage
from monitor.cli.main import cli
from monitor.cli.run import dashboard_command
from monitor.cli.terminal import printable
from monitor.config import Settings, get_settings
from monitor.errors import ConfigError
from monitor.feeds.config import load_feeds_file
from monitor.matching import Document, Matcher, parse_query
from monitor.matching.engine import MAX_MATCHED_CHARS
from monitor.matching.text import tokenise
from monitor.models import Article
from monitor.pipeline import run_once
from monitor.redaction import scrub
from monitor.watchlists import load_watchlists
from monitor.yamltext import MAX_ALIAS_NODES
from tests.feeds.conftest import rss
from tests.matching.conftest import Spec
from tests.matching.reference import reference_match
from tests.pipeline.conftest import base_env, monitor
from tests.support.feedserver import FeedServer

# -- 5. matching cost grows with the article, and stops at a stated length --------------------


def _wildcard_article(words: int) -> str:
    # Every word a different one that econom* matches: the wildcard stands for all of them,
    # and each used to cost a scan of the whole article.
    return " ".join(f"econom{i}" for i in range(words))


@pytest.mark.timeout(60)
def test_it_finds_every_word_of_a_wildcard_in_time_linear_in_the_field() -> None:
    words = _wildcard_article(20_000).split()
    tokens = tokenise(" ".join(words))
    started = time.perf_counter()
    spans = [tokens.spans(word) for word in words]  # what a wildcard under NEAR asks
    elapsed = time.perf_counter() - started
    assert spans == [[(at, at)] for at in range(len(words))]
    assert elapsed < 1.0, f"{elapsed:.2f} s"


@pytest.mark.timeout(60)
def test_it_matches_a_40000_word_article_under_a_wildcard_near_a_word_in_time() -> None:
    words = _wildcard_article(40_000).split()
    words.insert(10_000, "crisis")
    matcher = Matcher([Spec("economy", "econom* NEAR/5 crisis")])
    started = time.perf_counter()
    hits = matcher.match(Document(id="long", content=" ".join(words)))
    elapsed = time.perf_counter() - started
    assert [hit.watchlist_id for hit in hits] == ["economy"]
    assert hits[0].explanation == {"content": ["econom*", "crisis"]}
    # The snippet is where the NEAR clause holds: only occurrences within 5 words of crisis
    # count towards the hit, and only they are marked (#16).
    snippet, highlights = hits[0].snippet, hits[0].highlights
    marked = [snippet[start:end] for start, end in highlights]
    assert "crisis" in marked and any(word.startswith("econom") for word in marked)
    near = {f"econom{i}" for i in range(10_000 - 5, 10_000 + 5)}  # crisis sits at 10,000
    assert all(word == "crisis" or word in near for word in marked), marked
    assert elapsed < 2.0, f"{elapsed:.2f} s"


def test_it_matches_the_first_max_matched_chars_of_a_field_and_explains_them() -> None:
    matcher = Matcher([Spec("economy", "economy NEAR/2 crisis")])
    filler = "word " * (MAX_MATCHED_CHARS // 5)
    last = "word " * (MAX_MATCHED_CHARS // 5 - 4) + "economy crisis. "  # ends 4 before the cap
    hits = matcher.match(Document(id="in", content=last + filler))
    assert [hit.watchlist_id for hit in hits] == ["economy"]
    snippet, (first, second) = hits[0].snippet, hits[0].highlights
    assert snippet.endswith("economy crisis.")
    assert (snippet[slice(*first)], snippet[slice(*second)]) == ("economy", "crisis")
    # Past the cap the text is not read at all ...
    assert not matcher.match(Document(id="past", content=filler + "economy crisis."))
    # ... and a word the cap falls inside is left out whole, not matched as its first half.
    straddling = "x" * (MAX_MATCHED_CHARS - 4) + " economy crisis"
    assert not Matcher([Spec("econ", "econ")]).match(Document(id="cut", content=straddling))


# A vocabulary in which one wildcard stands for many words, so that matching asks for the
# positions of more of them than it scans for one by one.
_ECONOMY = [f"econom{suffix}" for suffix in ("y", "ic", "ics", "ist", "ists", "ies", "ise")]
_VOCABULARY = [*_ECONOMY, *(f"econ{n}" for n in range(8)), "crisis", "bank", "Indo-Pacific"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(_VOCABULARY), max_size=60).map(" ".join),
    st.sampled_from(
        [
            "econ* NEAR/2 crisis",
            "econ* ONEAR/1 bank",
            '"economy crisis" NEAR/3 econ*',
            "(econ* OR bank) NEAR/1 (crisis OR indo*)",
        ]
    ),
)
def test_it_matches_as_the_reference_evaluator_when_a_wildcard_stands_for_many_words(
    text: str, query: str
) -> None:
    document = Document(id="d", title=text[:40], content=text)
    expected = reference_match(parse_query(query).root, document)
    assert bool(Matcher([Spec("w", query)]).match_ids(document)) == expected


@given(
    st.lists(st.sampled_from(_VOCABULARY), max_size=60),
    st.lists(st.sampled_from([*_VOCABULARY, "absent"]), max_size=30),
)
def test_it_gives_each_word_the_positions_a_full_scan_finds(
    words: list[str], asked: list[str]
) -> None:
    tokens = tokenise(" ".join(words))
    for word in asked:
        expected = [at for at, token in enumerate(tokens.words) if token == word.lower()]
        assert tokens.word_positions(word.lower()) == expected


# -- 9. YAML alias bombs ----------------------------------------------------------------------


def _alias_bomb(depth: int = 7) -> str:
    """Each level a list of eight aliases of the level before: 8**8 values in 400 bytes."""
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, depth + 1):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 8) + "]")
    return "\n".join(lines) + "\n"


# In the bomb each level stands for 8 times the one before: 9, 73, 585, 4,681 values, and
# the first alias of level 4 (line 5, column 10) takes the total past MAX_ALIAS_NODES.
_BOMBS = pytest.mark.parametrize(
    ("bomb", "line", "col", "problem"),
    [
        (
            _alias_bomb(),
            5,
            10,
            "too many aliases: with *a3 they stand for more than 10,000 values; "
            "write the values out instead",
        ),
        (
            "recursive: &r [1, *r]\n",
            1,
            19,
            "alias *r is inside the node it names (a recursive alias)",
        ),
        (
            "deep: " + "[" * 200 + "]" * 200 + "\n",
            1,
            106,
            "lists and mappings nested more than 100 deep",
        ),
    ],
    ids=["billion-laughs", "recursive-alias", "nested-200-deep"],
)


@pytest.mark.timeout(60)
@_BOMBS
def test_it_refuses_a_watchlist_alias_bomb_in_one_line_at_once(
    tmp_path: Path, bomb: str, line: int, col: int, problem: str
) -> None:
    assert MAX_ALIAS_NODES == 10_000
    path = tmp_path / "bomb.yaml"
    path.write_text(bomb + "query: NATO\n")
    started = time.perf_counter()
    result = load_watchlists([path])
    elapsed = time.perf_counter() - started
    assert [str(error) for error in result.errors] == [
        f"{path}:{line}:{col}: invalid YAML: {problem}"
    ]
    assert result.watchlists == []
    assert elapsed < 1.0, f"{elapsed:.2f} s"


@pytest.mark.timeout(60)
@_BOMBS
def test_it_refuses_a_feeds_yaml_alias_bomb_in_one_line_at_once(
    tmp_path: Path, bomb: str, line: int, col: int, problem: str
) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text(bomb + "feeds: []\n")
    started = time.perf_counter()
    with pytest.raises(ConfigError) as refused:
        load_feeds_file(path)
    elapsed = time.perf_counter() - started
    assert str(refused.value) == f"{path}:{line}: {problem}"
    assert elapsed < 1.0, f"{elapsed:.2f} s"


def test_it_still_reads_anchors_shared_by_many_entries(tmp_path: Path) -> None:
    feeds = tmp_path / "feeds.yaml"
    first = "  - {url: 'https://n0.example.org/rss', tags: &tags [nigeria, politics]}\n"
    more = "".join(
        f"  - {{url: 'https://n{i}.example.org/rss', tags: *tags}}\n" for i in range(1, 1000)
    )
    feeds.write_text("feeds:\n" + first + more)
    loaded = load_feeds_file(feeds)
    assert len(loaded.specs) == 1000
    assert {spec.tags for spec in loaded.specs} == {("nigeria", "politics")}
    watchlists = tmp_path / "desk.yaml"
    watchlists.write_text(
        "- {id: one, query: NATO, alerts: &desk [{console: true, digest: hourly}]}\n"
        "- {id: two, query: Japan, alerts: *desk}\n"
    )
    result = load_watchlists([watchlists])
    assert result.errors == [] and [w.id for w in result.watchlists] == ["one", "two"]
    assert result.watchlists[1].alerts == result.watchlists[0].alerts


# -- the command line -------------------------------------------------------------------------


def _cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def feeds() -> Iterator[FeedServer]:
    with FeedServer() as server:
        yield server


def _watchlists(tmp_path: Path, **queries: str) -> Path:
    directory = tmp_path / "watchlists"
    directory.mkdir(exist_ok=True)
    for name, query in queries.items():
        (directory / f"{name}.yaml").write_text(yaml.safe_dump({"query": query}))
    return directory


def _run_once_env(tmp_path: Path, **more: str) -> dict[str, str]:
    return base_env(
        MONITOR_DATABASE_URL=f"sqlite:///{tmp_path}/monitor.db",
        MONITOR_FEEDS=tmp_path / "feeds.yaml",
        MONITOR_WATCHLISTS=tmp_path / "watchlists",
        MONITOR_VAR_DIR=tmp_path / "var",
        **more,
    )


def _run(argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


# -- 2. monitor match goes on past a bad file -------------------------------------------------


def test_it_matches_every_good_file_and_reports_each_bad_one_in_one_line(tmp_path: Path) -> None:
    directory = _watchlists(tmp_path, nato="NATO")
    good = tmp_path / "first.txt"
    good.write_text("NATO summit\nLeaders met.\n")
    page = tmp_path / "page.xml"
    page.write_text("<html><body><p>NATO</p></body></html>")
    lines = tmp_path / "lines.jsonl"
    lines.write_text(
        json.dumps({"id": "j1", "title": "NATO one"})
        + "\n{not json\n"
        + json.dumps({"id": "j3", "title": "NATO three"})
        + "\n"
    )
    pdf = tmp_path / "scan.pdf"
    pdf.write_bytes(b"%PDF-1.7")
    last = tmp_path / "last.txt"
    last.write_text("NATO again\nMore.\n")
    files = [good, page, tmp_path / "missing.txt", lines, pdf, last]

    code, out, err = _cli("match", "--watchlists", str(directory), *map(str, files))

    assert code == 1
    assert [json.loads(line)["article"]["id"] for line in out.splitlines()] == [
        str(good),
        "j1",
        "j3",
        str(last),
    ]
    assert err.splitlines() == [
        f"monitor: {page}: not a feed",
        f"monitor: {tmp_path / 'missing.txt'}: no such file",
        f"monitor: {lines}:2: not a JSON object: Expecting property name enclosed in double "
        "quotes: line 1 column 2 (char 1)",
        f"monitor: {pdf}: unsupported file type (use .html, .xml, .rss, .atom, .txt, .jsonl)",
    ]


# -- 3. monitor run --once names the feeds that failed, and fails when all did ----------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "https://reader:pw@wire.test/rss?api_key=k&page=2",
            "https://***@wire.test/rss?api_key=***&page=2",  # the user name too (#19, 15)
        ),
        ("https://t0ken@wire.test/rss", "https://***@wire.test/rss"),
        ("https://wire.test/rss?sig=abc#top", "https://wire.test/rss?sig=***#top"),
        ("https://wire.test/rss", "https://wire.test/rss"),
    ],
    ids=["password-and-key", "token-as-user", "signature", "nothing-secret"],
)
def test_it_shows_a_feed_url_without_its_credentials(url: str, shown: str) -> None:
    assert scrub(url) == shown
    assert scrub(f"redirected to {url} twice") == f"redirected to {shown} twice"


def _two_failing_feeds(tmp_path: Path, server: FeedServer) -> str:
    """A named feed answering 500 and an unnamed one, behind credentials, answering 404."""
    server.set("/wire", "down", status=500)
    server.set("/private", "gone", status=404)
    secret_url = server.url("/private?api_key=k3y").replace("http://", "http://reader:s3cret@")
    feeds = [{"url": server.url("/wire"), "name": "Wire"}, {"url": secret_url}]
    (tmp_path / "feeds.yaml").write_text(yaml.safe_dump({"feeds": feeds}))
    _watchlists(tmp_path, nato="NATO")
    host = server.url("/").removeprefix("http://").rstrip("/")
    return f"http://***@{host}/private?api_key=***"


def test_it_names_each_failed_feed_without_its_credentials(
    tmp_path: Path, feeds: FeedServer, settings: Settings
) -> None:
    shown = _two_failing_feeds(tmp_path, feeds)

    summary = run_once(settings)

    assert summary.errors == ["feed Wire: HTTP 500", f"feed {shown}: HTTP 404"]
    assert summary.nothing_polled

    feeds.set("/wire", rss(("a", "NATO")))
    settings.feeds.write_text(settings.feeds.read_text().replace("/wire", "/wire?again"))
    again = run_once(settings)
    assert (again.feeds_polled, again.feeds_failed) == (1, 0) and not again.nothing_polled


def test_it_exits_1_when_every_due_feed_failed_and_0_when_none_was_due(
    tmp_path: Path, feeds: FeedServer
) -> None:
    shown = _two_failing_feeds(tmp_path, feeds)
    env = _run_once_env(tmp_path)

    failed = _run(monitor("run", "--once"), env, tmp_path)

    assert failed.returncode == 1, failed.stderr
    assert "error:      feed Wire: HTTP 500" in failed.stdout.splitlines()
    assert f"error:      feed {shown}: HTTP 404" in failed.stdout.splitlines()
    assert failed.stderr.splitlines()[-1] == "monitor: none of the 2 due feeds could be polled"
    for secret in ("s3cret", "k3y"):
        assert secret not in failed.stdout + failed.stderr

    idle = _run(monitor("run", "--once"), env, tmp_path)  # both wait for their next poll
    assert idle.returncode == 0, idle.stderr
    assert "0 of 0 due polled" in idle.stdout


# -- 4. logs on stderr, at the level they deserve ---------------------------------------------

_SUMMARY = ("watchlists: ", "feeds:      ", "articles:   ", "hits:       ", "alerts:     ")


def test_it_keeps_run_once_stdout_for_the_summary_and_warns_of_a_failed_feed(
    tmp_path: Path, feeds: FeedServer
) -> None:
    feeds.set("/wire", "down", status=500)
    feeds.set("/ok", rss(("a", "NATO summit")))
    listed = [{"url": feeds.url("/wire"), "name": "Wire"}, {"url": feeds.url("/ok"), "name": "Ok"}]
    (tmp_path / "feeds.yaml").write_text(yaml.safe_dump({"feeds": listed}))
    _watchlists(tmp_path, nato="NATO")

    result = _run(
        monitor("run", "--once"), _run_once_env(tmp_path, MONITOR_LOG_FORMAT="json"), tmp_path
    )

    assert result.returncode == 0, result.stderr  # one of the two was polled
    assert all(line.startswith((*_SUMMARY, "error:      ")) for line in result.stdout.splitlines())
    logged = [json.loads(line) for line in result.stderr.splitlines()]
    polled = {line["feed"]: line["level"] for line in logged if line["event"] == "feed polled"}
    assert sorted(polled.values()) == ["info", "warning"]
    assert [line["level"] for line in logged if line.get("outcome") == "error"] == ["warning"]


def test_it_keeps_match_stdout_for_hits_when_something_is_logged(tmp_path: Path) -> None:
    # A query nested past Python's recursion limit costs its file alone, and is logged.
    directory = _watchlists(tmp_path, nato="NATO", deep="(" * 3000 + "NATO" + ")" * 3000)
    story = tmp_path / "story.txt"
    story.write_text("NATO summit\nLeaders met.\n")

    result = _run(
        monitor("match", "--watchlists", str(directory), str(story)), base_env(), tmp_path
    )

    assert result.returncode == 1
    assert [json.loads(line)["watchlist"] for line in result.stdout.splitlines()] == ["nato"]
    assert "watchlist file could not be loaded" in result.stderr
    assert "RecursionError" in result.stderr


@pytest.mark.parametrize("fmt", ["console", "json"])
def test_it_logs_a_traceback_without_local_variables(
    capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    from monitor.logs import configure_logging, get_logger

    configure_logging(level="INFO", fmt=fmt)
    # Built at run time: a traceback shows the lines of source, which must not hold them.
    password, token = "-".join(["hunter2", "local"]), "-".join(["s3cret", "url"])

    def fetch(url: str) -> None:
        secret = password
        raise ValueError(f"cannot fetch ({len(secret + url)} characters)")

    try:
        fetch(f"https://reader:{token}@wire.example/rss")
    except ValueError:
        get_logger("tests").exception("poll failed", feed=1)
    err = capsys.readouterr().err
    assert "poll failed" in err and "ValueError: cannot fetch" in err
    assert password not in err and token not in err


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
def test_it_logs_celerys_routine_lines_at_debug_and_its_failures_as_they_were(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], level: str
) -> None:
    from celery.app.trace import LOG_RECEIVED, LOG_SUCCESS

    from workers.app import BEAT_SENDING, _configure_logging

    monkeypatch.setenv("MONITOR_LOG_LEVEL", level)
    monkeypatch.setenv("MONITOR_LOG_FORMAT", "json")
    get_settings.cache_clear()  # importing workers.app read the settings already
    _configure_logging()
    task = {"name": "monitor.schedule_due_feeds", "id": "t1", "runtime": 0.01}
    # The three lines each scheduling tick made, as Celery writes them ...
    logging.getLogger("celery.beat").info(BEAT_SENDING, "schedule-due-feeds", task["name"])
    logging.getLogger("celery.worker.strategy").info(LOG_RECEIVED, task)
    logging.getLogger("celery.app.trace").info(LOG_SUCCESS, {**task, "return_value": "'0 due'"})
    # ... and a failure, which stays an error.
    logging.getLogger("celery.app.trace").error("Task %(name)s[%(id)s] raised unexpected", task)

    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    levels = [(line["logger"], line["level"]) for line in lines]
    routine = [
        ("celery.beat", "debug"),
        ("celery.worker.strategy", "debug"),
        ("celery.app.trace", "debug"),
    ]
    assert levels == (routine if level == "DEBUG" else []) + [("celery.app.trace", "error")]


def test_it_puts_what_the_children_of_monitor_run_print_on_stderr(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from monitor.cli.run import Supervisor\n"
        "s = Supervisor()\n"
        "s.start('worker', [sys.executable, '-c', 'print(\"celery banner\")'], {})\n"
        "s.children['worker'].wait()\n"
    )
    result = _run([sys.executable, "-c", script], base_env(), tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and "celery banner" in result.stderr


# -- 17. terminal escapes from feeds ----------------------------------------------------------

_ESCAPES = "\x1b]0;owned\x07\x1b[2J\x9b31m\u202e"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Blackout in Lagos", "Blackout in Lagos"),
        (f"Blackout{_ESCAPES} in Lagos", "Blackout in Lagos"),
        ("line\r\nbreak\ttab\x85next", "line  break tab next"),
        ("\x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\ text", "link text"),
        ("bell\x07 and DEL\x7f", "bell and DEL"),
        ("unterminated \x1b]0;title", "unterminated "),
        ("Yorùbá “quotes” – ok", "Yorùbá “quotes” – ok"),
    ],
    ids=["plain", "sequences", "line-breaks", "hyperlink", "controls", "unterminated", "unicode"],
)
def test_it_prints_outside_text_without_escapes_or_controls(text: str, shown: str) -> None:
    assert printable(text) == shown


def test_it_strips_escapes_from_feed_text_in_a_backtest(tmp_path: Path, settings: Settings) -> None:
    directory = _watchlists(tmp_path, blackout="blackout")
    with storage.session_scope(settings) as session:
        session.add(
            Article(
                identity="g1",
                title=f"Blackout{_ESCAPES} in Lagos",
                content=f"The blackout{_ESCAPES} lasted\nall night.",
                url=f"https://news.example/{_ESCAPES}",
                first_seen_at=datetime.now(UTC),
            )
        )
        session.commit()
    env = {"MONITOR_DATABASE_URL": settings.database_url}

    code, out, _ = _cli("watchlists", "test", "blackout", "--watchlists", str(directory), env=env)

    assert code == 0
    # (The lines before the sample are the relevance controls' trade, #16.)
    assert out.splitlines()[-4:] == [
        "- Blackout in Lagos  <https://news.example/>",
        "  score 0.56, 2 mention(s)",
        "  matched: blackout",
        "  The [blackout] lasted all night.",
    ]
    assert all(line.isprintable() for line in out.splitlines())


def test_it_strips_escapes_from_feed_names_and_server_errors_in_run_once(
    tmp_path: Path, feeds: FeedServer
) -> None:
    # A server's Content-Type header ends up in the error ("not a feed (text/html)"); C1
    # characters pass through HTTP as bytes 0x80-0xff.
    feeds.set("/page", "<html></html>", content_type="text/html\x9b2J\x9b31m")
    listed = [{"url": feeds.url("/page"), "name": "Wire\x1b]0;owned\x07"}]
    (tmp_path / "feeds.yaml").write_text(yaml.safe_dump({"feeds": listed}))
    _watchlists(tmp_path, nato="NATO")

    result = _run(monitor("run", "--once"), _run_once_env(tmp_path), tmp_path)

    assert result.returncode == 1
    assert "error:      feed Wire: not a feed (text/html)" in result.stdout.splitlines()
    assert all(line.isprintable() for line in result.stdout.splitlines())


# -- 24. no RuntimeWarning when monitor run starts its dashboard ------------------------------


def test_it_starts_the_dashboard_child_without_a_runtime_warning(tmp_path: Path) -> None:
    # Refused at once (an exposed address without a login), after everything is imported:
    # runpy's warning, when there is one, comes before.
    env = base_env(
        MONITOR_DATABASE_URL=f"sqlite:///{tmp_path}/monitor.db",
        MONITOR_DASHBOARD_HOST="0.0.0.0",
        PYTHONWARNINGS="error::RuntimeWarning",
    )
    result = _run(dashboard_command(), env, tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "monitor: refusing to serve the dashboard on 0.0.0.0 without MONITOR_DASHBOARD_TOKEN "
        "or MONITOR_DASHBOARD_USERS"
    )
