"""Watchlist files: errors with file:line:col, the shipped files, the schema, hot reload, sync."""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.matching import Document
from monitor.models import Watchlist
from monitor.watchlists import (
    WatchlistRegistry,
    WatchlistSpec,
    json_schema,
    load_watchlists,
    sync_watchlists,
)
from monitor.watchlists import load as watchlist_load
from monitor.watchlists.registry import RESAMPLE_AFTER
from monitor.watchlists.spec import schema_text

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "watchlists"


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


# (id, file text, expected 'line:col: message' fragments)
BROKEN = [
    ("unknown-key", "query: naira\ncolour: red\n", ["2:1: unknown key 'colour'"]),
    (
        "wrong-type",
        "query: naira\nenabled: [1]\n",
        ["2:10: enabled: Input should be a valid boolean"],
    ),
    ("missing-query", "name: x\n", ["1:1: missing required key 'query'"]),
    ("query-syntax", "name: x\nquery: naira AND\n", ["2:14: expected a term after 'AND'"]),
    ("query-syntax-quoted", "query: 'naira (cedi'\n", ["1:20: expected ')'"]),
    (
        "query-syntax-folded",
        "query: >\n  naira\n  cedi NEAR/x rand\n",
        ["3:8: NEAR needs a distance"],
    ),
    ("bad-alert", "query: naira\nalerts:\n  - slack: 'not a channel'\n", ["3:12: alerts.0.slack:"]),
    (
        "bad-throttle",
        "query: naira\nthrottle: often\n",
        ["2:11: throttle: throttle must look like '10/hour'"],
    ),
    ("bad-id", "id: Bad_Id\nquery: naira\n", ["1:5: id: 'Bad_Id' is not a valid id"]),
    ("duplicate-key", "query: naira\nquery: cedi\n", ["2:1: duplicate key 'query'"]),
    ("yaml-syntax", "query: [naira\n", ["invalid YAML"]),
    (
        "control-character",
        "name: x\nquery: naira\x0b\n",
        ["2:13: invalid YAML: unacceptable character #x000b: special characters are not allowed"],
    ),
    ("not-a-mapping", "- - naira\n", ["1:3: expected a watchlist"]),
    ("list-without-id", "- query: naira\n", ["1:3: each watchlist in a list needs an id"]),
    ("empty", "", ["1:1: the file is empty"]),
    (
        "failing-example",
        "query: naira\nexamples:\n  match:\n    - the cedi\n  no_match:\n    - the naira\n",
        ["4:7: example does not match the query: 'the cedi'", "6:7: no_match example matches"],
    ),
]


@pytest.mark.parametrize(("text", "expected"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN])
def test_it_reports_errors_with_file_line_and_column(
    tmp_path: Path, text: str, expected: list[str]
) -> None:
    path = write(tmp_path, "broken.yaml", text)
    result = load_watchlists([path])
    lines = [str(error) for error in result.errors]
    assert len(lines) == len(expected), lines
    for line, fragment in zip(lines, expected, strict=True):
        assert line.startswith(f"{path}:"), line
        assert fragment in line, line


def test_it_defaults_the_id_to_the_file_stem_and_reads_lists(tmp_path: Path) -> None:
    write(tmp_path, "naira-watch.yaml", "query: naira\n")
    write(
        tmp_path, "many.yaml", "- id: one\n  query: a1\n- id: two\n  query: b2\n  enabled: false\n"
    )
    result = load_watchlists([tmp_path])
    assert result.ok
    assert sorted(w.id for w in result.watchlists) == ["naira-watch", "one", "two"]
    spec = next(w for w in result.watchlists if w.id == "naira-watch")
    assert spec.name == "naira-watch" and spec.path.endswith("naira-watch.yaml")
    assert len(spec.content_hash) == 64


def test_it_refuses_duplicate_ids_across_files(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "id: same\nquery: a1\n")
    write(tmp_path, "b.yaml", "id: same\nquery: b2\n")
    result = load_watchlists([tmp_path])
    assert [w.query for w in result.watchlists] == ["a1"]
    [error] = result.errors
    assert str(error).startswith(f"{tmp_path / 'b.yaml'}:1:1: duplicate id 'same'")


def test_it_exposes_what_the_outbox_reads(tmp_path: Path) -> None:
    write(
        tmp_path,
        "w.yaml",
        """
        query: naira
        alerts:
          - slack: "#desk"
          - email: desk@example.org
            digest: daily 08:00 Africa/Lagos
        throttle: 10/hour
        escalate_at: 5
        """,
    )
    [spec] = load_watchlists([tmp_path]).watchlists
    assert [a.key for a in spec.alerts] == ["slack:#desk", "email:desk@example.org"]
    assert spec.throttle_rule is not None and spec.throttle_rule.limit == 10
    assert spec.escalate_at == 5
    assert "path" not in spec.model_dump(mode="json")


@pytest.mark.parametrize("path", sorted(SHIPPED.glob("*.yaml")), ids=lambda p: p.stem)
def test_it_validates_every_shipped_watchlist_and_its_examples(path: Path) -> None:
    result = load_watchlists([path])
    assert result.errors == []
    [spec] = result.watchlists
    assert spec.examples.match and spec.examples.no_match
    # The editor's view: the shipped schema accepts the file too.
    schema = json.loads((SHIPPED / "schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(yaml.safe_load(path.read_text()))
    assert path.read_text().startswith("# yaml-language-server: $schema=./schema.json")


def test_it_ships_the_two_watchlists_the_desk_asked_for() -> None:
    result = load_watchlists([SHIPPED])
    assert result.ok
    ids = {w.id for w in result.watchlists}
    assert {"nato-japan-liaison", "naira-parallel-market"} <= ids
    assert 5 <= len(ids) <= 8


def test_it_ships_a_schema_generated_from_the_model() -> None:
    assert (SHIPPED / "schema.json").read_text() == schema_text()
    jsonschema.Draft202012Validator.check_schema(json_schema())


@pytest.mark.parametrize(
    ("document", "valid"),
    [
        ({"query": "naira"}, True),
        ([{"id": "a", "query": "naira"}], True),
        ({"query": "naira", "colour": "red"}, False),
        ({"query": "naira", "enabled": "yes"}, False),
        ([{"query": "naira"}], False),
        ({"query": "naira", "alerts": [{"email": "desk@example.org"}]}, True),
    ],
    ids=["minimal", "list", "unknown-key", "wrong-type", "list-without-id", "one-email"],
)
def test_it_schema_agrees_with_the_loader(tmp_path: Path, document: object, valid: bool) -> None:
    validator = jsonschema.Draft202012Validator(json_schema())
    assert validator.is_valid(document) is valid
    path = tmp_path / "w.yaml"
    path.write_text(yaml.safe_dump(document))
    assert load_watchlists([path]).ok is valid


# -- hot reload --------------------------------------------------------------------------


def _touch_later(path: Path, text: str) -> None:
    """Rewrite *path* and move its mtime forward, as an editor saving a second later does."""
    stat = path.stat()
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def test_it_hot_reloads_a_changed_file_and_keeps_the_last_valid_version(tmp_path: Path) -> None:
    naira = write(tmp_path, "naira.yaml", "query: naira\n")
    write(tmp_path, "cedi.yaml", "query: cedi\n")
    registry = WatchlistRegistry(tmp_path)
    doc = Document("1", content="the naira and the rand")
    assert [r.watchlist_id for r in registry.matcher.match(doc)] == ["naira"]
    assert registry.refresh() is False  # nothing changed: nothing reloaded
    first = registry.matcher

    _touch_later(naira, "query: rand -cedi\n")
    assert registry.refresh() is True
    assert registry.matcher is not first
    assert registry.get("naira") is not None and registry.get("naira").query == "rand -cedi"
    assert [r.watchlist_id for r in registry.matcher.match(doc)] == ["naira"]

    _touch_later(naira, "query: rand AND\n")  # a broken edit
    registry.refresh()
    assert [str(e).split(": ", 1)[1] for e in registry.errors] == [
        "expected a term after 'AND', found the end of the query"
    ]
    assert registry.errors[0].path == str(naira)
    assert registry.get("naira").query == "rand -cedi"  # the last valid version stays
    assert registry.get("cedi") is not None
    assert [r.watchlist_id for r in registry.matcher.match(doc)] == ["naira"]

    _touch_later(naira, "query: zloty\n")  # fixed again
    registry.refresh()
    assert registry.errors == [] and registry.get("naira").query == "zloty"


def test_a_file_that_fails_to_load_unexpectedly_costs_that_file_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    naira = write(tmp_path, "naira.yaml", "query: naira\n")
    write(tmp_path, "cedi.yaml", "query: cedi\n")
    registry = WatchlistRegistry(tmp_path)
    checked = watchlist_load._check_examples

    def with_a_bug(spec: WatchlistSpec, *args: Any) -> Any:
        if spec.id == "naira":  # a bug in validation, as ZoneInfo's IsADirectoryError was
            raise RuntimeError("validator bug\non two lines")
        return checked(spec, *args)

    monkeypatch.setattr(watchlist_load, "_check_examples", with_a_bug)
    _touch_later(naira, "query: rand\n")
    registry.refresh()
    assert [str(e) for e in registry.errors] == [
        f"{naira}:1:1: cannot load: RuntimeError: validator bug on two lines"
    ]
    assert registry.get("naira").query == "naira"  # the last valid version stays
    assert registry.get("cedi") is not None


def test_it_drops_removed_files_and_picks_up_new_ones(tmp_path: Path) -> None:
    naira = write(tmp_path, "naira.yaml", "query: naira\n")
    registry = WatchlistRegistry(tmp_path)
    naira.unlink()
    write(tmp_path, "cedi.yaml", "query: cedi\n")
    assert registry.refresh() is True
    assert list(registry.specs) == ["cedi"]


def test_it_copes_with_a_missing_directory(tmp_path: Path) -> None:
    registry = WatchlistRegistry(tmp_path / "nowhere")
    assert registry.specs == {} and registry.matcher.match(Document("1", content="x")) == []


def _articles(common: str, count: int) -> list[Document]:
    return [Document(str(i), content=f"{common} story {i}") for i in range(count)]


def test_it_files_watchlists_by_the_rarity_of_words_in_recent_articles(tmp_path: Path) -> None:
    write(tmp_path, "nato.yaml", "query: liaison japan\n")
    registry = WatchlistRegistry(tmp_path)
    assert not registry.rarity.sampled  # no articles yet: the length guess
    calls: list[int] = []

    def sample(common: str, count: int = 500) -> Callable[[], list[Document]]:
        def read() -> list[Document]:
            calls.append(count)
            return _articles(common, count)

        return read

    start = datetime(2026, 3, 1, tzinfo=UTC)
    version = registry.version
    # Too few articles to say anything: asked again at the next refresh, nothing rebuilt.
    assert registry.refresh(sample=sample("liaison", 20), now=start) is False
    assert registry.version == version and not registry.rarity.sampled
    assert registry.refresh(sample=sample("liaison"), now=start) is False  # the files didn't change
    assert registry.rarity.documents == 500 and registry.version == version + 1
    assert calls == [20, 500]
    # "liaison" is in every recent article: "japan" is the better anchor.
    assert registry.rarity.cost("t", "japan") < registry.rarity.cost("t", "liaison")

    # Not sampled again within RESAMPLE_AFTER while the files stay as they are ...
    registry.refresh(sample=sample("japan"), now=start + RESAMPLE_AFTER / 2)
    assert calls == [20, 500] and registry.version == version + 1
    # ... then sampled again (the news moved on), which rebuilds the index.
    registry.refresh(sample=sample("japan"), now=start + RESAMPLE_AFTER)
    assert calls == [20, 500, 500] and registry.version == version + 2
    assert registry.rarity.cost("t", "liaison") < registry.rarity.cost("t", "japan")
    doc = Document("1", content="Japan may host a NATO liaison office")
    assert [r.watchlist_id for r in registry.matcher.match(doc)] == ["nato"]


# -- the database mirror -----------------------------------------------------------------


def _rows(session: Session) -> dict[str, Watchlist]:
    return {row.id: row for row in session.scalars(select(Watchlist))}


def test_it_syncs_the_watchlists_table(session: Session, tmp_path: Path) -> None:
    directory = tmp_path / "wl"
    directory.mkdir()
    naira = write(
        directory, "naira.yaml", "name: Naira\nquery: naira\nalerts:\n  - console: true\n"
    )
    gone = write(directory, "gone.yaml", "query: gone\n")
    write(directory, "broken-new.yaml", "query: (\n")
    registry = WatchlistRegistry(directory)
    now = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    sync_watchlists(session, registry, now=now)
    session.commit()
    rows = _rows(session)
    assert set(rows) == {"naira", "gone", "broken-new"}
    assert rows["naira"].name == "Naira" and rows["naira"].enabled and rows["naira"].in_files
    assert rows["naira"].definition["alerts"] == [
        {"slack": None, "email": None, "console": True, "digest": None}
    ]
    assert rows["naira"].load_error is None and rows["naira"].loaded_at == now
    assert rows["broken-new"].enabled is False
    assert "broken-new.yaml:1:" in (rows["broken-new"].load_error or "")

    gone.unlink()
    _touch_later(naira, "name: Naira\nquery: naira AND\n")  # broken: old version stays
    registry.refresh()
    sync_watchlists(session, registry, now=now)
    session.commit()
    session.expire_all()
    rows = _rows(session)
    assert rows["gone"].in_files is False and rows["gone"].enabled is False
    assert rows["naira"].enabled and rows["naira"].query == "naira"
    assert "expected a term after 'AND'" in (rows["naira"].load_error or "")


def test_it_builds_specs_directly_for_tests_and_benchmarks() -> None:
    spec = WatchlistSpec(id="x", query="naira")
    assert spec.name == "x" and spec.alerts == [] and spec.throttle_rule is None
    with pytest.raises(ValueError, match="expected a term after 'AND'"):
        WatchlistSpec(id="x", query="naira AND")


def test_it_freezes_a_big_matcher_out_of_the_cyclic_collector(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc

    import monitor.watchlists.registry as module

    write(tmp_path, "naira.yaml", "query: naira\n")
    monkeypatch.setattr(module, "FREEZE_AT", 1)
    gc.unfreeze()
    try:
        WatchlistRegistry(tmp_path)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
    monkeypatch.setattr(module, "FREEZE_AT", 10)
    WatchlistRegistry(tmp_path)
    assert gc.get_freeze_count() == 0
