"""Watchlist files: loading and validating YAML, the JSON Schema, hot reload, the DB mirror.

A watchlist is one YAML file under ``watchlists/`` (a file may also hold a list of them).
The file is the source of truth; the ``watchlists`` table mirrors what is in force so the
dashboard can show it. Every problem is reported as ``path:line:col: message``, pointing at the
key or value at fault (and, for a query, at the column inside the query), so an analyst can
fix it without reading a traceback.

Hot reload: :class:`WatchlistRegistry` stats the files on every :meth:`~WatchlistRegistry.
refresh` and re-reads only those that changed. A file that became invalid is reported and
the last valid version of its watchlists stays in force; the other files are unaffected.
"""

from __future__ import annotations

import gc
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator
from pydantic_core import PydanticCustomError
from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.alerts.spec import AlertSpec, Throttle, parse_throttle
from monitor.logs import get_logger
from monitor.matching import Document, Matcher, QuerySyntaxError, parse_query
from monitor.matching.rarity import Rarity
from monitor.models import Watchlist
from monitor.yamltext import duplicate_keys, error_position

__all__ = [
    "AlertSpec",
    "Example",
    "Examples",
    "LoadResult",
    "WatchlistError",
    "WatchlistFile",
    "WatchlistRegistry",
    "WatchlistSpec",
    "json_schema",
    "load_file",
    "load_watchlists",
    "sync_watchlists",
    "watchlist_files",
]

log = get_logger(__name__)

SCHEMA_ID = "https://github.com/monitor-news/monitor/watchlists/schema.json"
_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$")
SUFFIXES = (".yaml", ".yml")
FREEZE_AT = 2_000  # watchlists; see WatchlistRegistry._rebuild
# How often the words watchlists are filed under are chosen again from recent articles
# (see monitor.matching.rarity): news vocabulary drifts, and a rebuild of 100,000
# watchlists takes some seconds.
RESAMPLE_AFTER = timedelta(hours=24)


# -- the file format ---------------------------------------------------------------------


class Example(BaseModel):
    """An example article given as fields rather than as one text."""

    model_config = ConfigDict(extra="forbid")

    title: str = ""
    summary: str = ""
    content: str = ""
    url: str = ""
    source: str = ""


class Examples(BaseModel):
    """Texts the query must match and must not match; checked by ``watchlists validate``."""

    model_config = ConfigDict(extra="forbid")

    match: list[str | Example] = Field(default_factory=list)
    no_match: list[str | Example] = Field(default_factory=list)


class WatchlistFile(BaseModel):
    """One watchlist as written in YAML. ``watchlists/schema.json`` is generated from this."""

    model_config = ConfigDict(
        extra="forbid",
        title="Watchlist",
        json_schema_extra={"additionalProperties": False},
    )

    id: str = Field(
        max_length=100,
        description="Lower-case letters, digits and dashes. Defaults to the file name's stem.",
    )
    name: str = Field(default="", description="A human title; defaults to the id.")
    description: str | None = Field(default=None, description="What the desk wants to catch.")
    query: str = Field(
        description='Boolean query: words, AND/OR/NOT, -word, "phrases", NEAR/n, ONEAR/n, '
        "econom*, title:/summary:/content:/url:/source: scopes. See docs/watchlists.md.",
        min_length=1,
    )
    # strict: YAML has real booleans and numbers; "yes" in quotes is a mistake, not a yes.
    enabled: bool = Field(
        default=True, strict=True, description="Set to false to pause the watchlist."
    )
    feeds: list[str] = Field(
        default_factory=list,
        description="Only articles from these feeds (feed names, or tag:NAME). Empty: all feeds.",
    )
    languages: list[str] = Field(
        default_factory=list,
        description="Only articles in these languages (ISO 639 codes such as en, fr, yo); "
        "an article of unknown language passes.",
    )
    alerts: list[AlertSpec] = Field(
        default_factory=list,
        description="Where hits go. Empty: the service's default destinations.",
    )
    throttle: str | None = Field(
        default=None, description="At most this many instant alerts, e.g. '10/hour'."
    )
    escalate_at: int | None = Field(
        default=None,
        ge=2,
        strict=True,
        description="Send one follow-up alert when a matched story reaches this many sources.",
    )
    examples: Examples = Field(
        default_factory=Examples,
        description="Texts the query must match (match) and must not match (no_match).",
    )

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError(
                f"{value!r} is not a valid id: use lower-case letters, digits and dashes"
            )
        return value

    @field_validator("query")
    @classmethod
    def _query(cls, value: str) -> str:
        try:
            parse_query(value)
        except QuerySyntaxError as exc:
            raise PydanticCustomError(
                "query_syntax", "{message}", {"message": exc.message, "position": exc.position}
            ) from None
        return value

    @field_validator("languages")
    @classmethod
    def _languages(cls, value: list[str]) -> list[str]:
        for code in value:
            if not _LANGUAGE.match(code):
                raise ValueError(f"{code!r} is not a language code such as 'en' or 'pt-BR'")
        return value

    @field_validator("feeds")
    @classmethod
    def _feeds(cls, value: list[str]) -> list[str]:
        for name in value:
            if not name.strip() or name.strip() == "tag:":
                raise ValueError("a feed must be a feed name or tag:NAME")
        return [name.strip() for name in value]

    @field_validator("throttle")
    @classmethod
    def _throttle(cls, value: str | None) -> str | None:
        if value is not None:
            parse_throttle(value)
        return value


class WatchlistSpec(WatchlistFile):
    """A validated watchlist, with where it came from (set by the loader)."""

    path: str = Field(default="", exclude=True)
    content_hash: str = Field(default="", exclude=True)
    _line: int = PrivateAttr(default=1)
    _column: int = PrivateAttr(default=1)

    def model_post_init(self, context: Any, /) -> None:
        if not self.name:
            self.name = self.id

    @property
    def throttle_rule(self) -> Throttle | None:
        return parse_throttle(self.throttle) if self.throttle else None

    @property
    def location(self) -> tuple[int, int]:
        return self._line, self._column


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a watchlist file (one watchlist, or a list of them)."""
    one = WatchlistFile.model_json_schema()
    defs = one.pop("$defs", {})
    # In a file, 'id' may be left out: it defaults to the file name.
    one["required"] = [name for name in one.get("required", []) if name != "id"]
    defs["Watchlist"] = one
    # AlertSpec also takes one address as a plain string (a 'before' validator pydantic's
    # schema can't see); say so, or editors flag valid files.
    email = defs.get("AlertSpec", {}).get("properties", {}).get("email")
    if email is not None:
        email["anyOf"] = [{"type": "string"}, *email.get("anyOf", [])]
    defs["WatchlistInList"] = {"allOf": [{"$ref": "#/$defs/Watchlist"}], "required": ["id"]}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "monitor watchlist file",
        "description": "One watchlist, or a list of watchlists (each with an id). "
        "Generated from monitor.watchlists.WatchlistFile: run "
        "`python -m monitor.watchlists > watchlists/schema.json` after changing it.",
        "anyOf": [
            {"$ref": "#/$defs/Watchlist"},
            {"type": "array", "items": {"$ref": "#/$defs/WatchlistInList"}},
        ],
        "$defs": defs,
    }


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


# -- errors and results ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WatchlistError:
    path: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.message}"


@dataclass(slots=True)
class LoadResult:
    watchlists: list[WatchlistSpec] = field(default_factory=list)
    errors: list[WatchlistError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


# -- locating things in the YAML ---------------------------------------------------------


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _find(node: yaml.Node, loc: Sequence[int | str], *, key: bool = False) -> yaml.Node:
    """The node at *loc* (a pydantic error location), or the deepest one that exists."""
    for i, part in enumerate(loc):
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.value == str(part):
                    node = k if key and i == len(loc) - 1 else v
                    break
            else:
                return node
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return node
            node = node.value[part]
        else:
            return node
    return node


def _position_in_scalar(node: yaml.Node, lines: list[str], offset: int) -> tuple[int, int]:
    """File line and column of character *offset* of a scalar's value (best effort)."""
    line, column = node.start_mark.line, node.start_mark.column
    style = getattr(node, "style", None)
    if style in ("|", ">"):
        line += 1
    elif node.start_mark.line == node.end_mark.line:
        return line + 1, column + 1 + offset + (1 if style in ('"', "'") else 0)
    else:
        column += 1 if style in ('"', "'") else 0
    # Multi-line: walk the file's lines, each contributing its stripped text plus a separator.
    seen = 0
    for number in range(line, min(len(lines), node.end_mark.line + 1)):
        raw = lines[number]
        start = column if number == node.start_mark.line else len(raw) - len(raw.lstrip())
        text = raw[start:].rstrip()
        if offset <= seen + len(text):
            return number + 1, start + 1 + (offset - seen)
        seen += len(text) + 1
    return node.start_mark.line + 1, node.start_mark.column + 1


def _describe_error(error: Any) -> tuple[str, bool]:
    """A one-line message for a pydantic error, and whether it points at a key."""
    loc = [str(p) for p in error["loc"]]
    # Union members add their type names to the location; they mean nothing to a person.
    where = ".".join(
        p for p in loc if not p[:1].isupper() and p not in ("str", "int", "bool", "list[str]")
    )
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"unknown key {loc[-1]!r}" + (f" in {'.'.join(loc[:-1])}" if loc[:-1] else ""), True
    if kind == "missing":
        return f"missing required key {where!r}", False
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message, False


# -- loading -----------------------------------------------------------------------------


def _example_document(example: str | Example, number: int) -> Document:
    if isinstance(example, str):
        return Document(id=f"example-{number}", content=example)
    return Document(id=f"example-{number}", **example.model_dump())


def _check_examples(spec: WatchlistSpec, item: yaml.Node, path: str) -> list[WatchlistError]:
    errors: list[WatchlistError] = []
    matcher = Matcher([spec.model_copy(update={"enabled": True})], filters=False)
    for kind in ("match", "no_match"):
        for number, example in enumerate(getattr(spec.examples, kind)):
            results = matcher.match(_example_document(example, number))
            line, col = _mark(_find(item, ["examples", kind, number]))
            shown = example if isinstance(example, str) else (example.title or example.content)
            shown = " ".join(shown.split())
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            if kind == "match" and not results:
                message = f"example does not match the query: {shown!r}"
                errors.append(WatchlistError(path, line, col, message))
            elif kind == "no_match" and results:
                why = ", ".join(results[0].matched) or "its NOT-only query"
                message = f"no_match example matches the query (through {why}): {shown!r}"
                errors.append(WatchlistError(path, line, col, message))
    return errors


def load_file(
    path: Path, data: bytes | None = None, *, display: str | None = None
) -> tuple[list[WatchlistSpec], list[WatchlistError], list[str]]:
    """Load one file: its watchlists, its errors, and the ids it names (even when broken)."""
    try:
        return _load_file(path, data, display=display)
    except Exception as exc:
        # A bug in validation (ours or a library's: ZoneInfo once raised IsADirectoryError on
        # a time zone) must cost this file alone, as any other error in it does: the last
        # valid version of its watchlists stays in force, and the others are unaffected.
        log.exception("watchlist file could not be loaded", path=str(path))
        problem = " ".join(f"{type(exc).__name__}: {exc}".split())
        shown = display or str(path)
        return [], [WatchlistError(shown, 1, 1, f"cannot load: {problem}")], [path.stem]


def _load_file(
    path: Path, data: bytes | None, *, display: str | None
) -> tuple[list[WatchlistSpec], list[WatchlistError], list[str]]:
    shown = display or str(path)
    stem_ids = [path.stem]
    try:
        raw = path.read_bytes() if data is None else data
    except OSError as exc:
        return [], [WatchlistError(shown, 1, 1, f"cannot read: {exc.strerror}")], stem_ids
    content_hash = hashlib.sha256(raw).hexdigest()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return [], [WatchlistError(shown, 1, exc.start + 1, "the file is not UTF-8")], stem_ids
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        line, col, problem = error_position(exc, text)
        return [], [WatchlistError(shown, line, col, f"invalid YAML: {problem}")], stem_ids
    if root is None:
        return [], [WatchlistError(shown, 1, 1, "the file is empty: it needs a query")], stem_ids

    errors = [
        WatchlistError(shown, *_mark(key), f"duplicate key {key.value!r}")
        for key in duplicate_keys(root)
    ]
    if isinstance(document, list) and isinstance(root, yaml.SequenceNode):
        items = list(zip(document, root.value, strict=True))
        in_list = True
    elif isinstance(document, dict):
        items = [(document, root)]
        in_list = False
    else:
        line, col = _mark(root)
        message = "expected a watchlist (keys such as query:) or a list of them"
        return [], [WatchlistError(shown, line, col, message)], stem_ids

    ids = [str(d["id"]) for d, _ in items if isinstance(d, dict) and isinstance(d.get("id"), str)]
    lines = text.splitlines()
    specs: list[WatchlistSpec] = []
    for data_item, node in items:
        line, col = _mark(node)
        if not isinstance(data_item, dict):
            errors.append(WatchlistError(shown, line, col, "expected a watchlist (a mapping)"))
            continue
        values = dict(data_item)
        if "id" not in values:
            if in_list:
                errors.append(
                    WatchlistError(shown, line, col, "each watchlist in a list needs an id")
                )
                continue
            if not _ID.match(path.stem):
                message = (
                    f"the file name {path.stem!r} is not a valid id: add 'id:' "
                    "(lower-case letters, digits and dashes)"
                )
                errors.append(WatchlistError(shown, line, col, message))
                continue
            values["id"] = path.stem
        for reserved in ("path", "content_hash"):
            if reserved in values:
                k_line, k_col = _mark(_find(node, [reserved], key=True))
                errors.append(WatchlistError(shown, k_line, k_col, f"unknown key {reserved!r}"))
                values.pop(reserved)
        try:
            spec = WatchlistSpec.model_validate(
                {**values, "path": shown, "content_hash": content_hash}
            )
        except ValidationError as exc:
            for error in exc.errors():
                message, at_key = _describe_error(error)
                target = _find(node, error["loc"], key=at_key)
                e_line, e_col = _mark(target)
                ctx = error.get("ctx") or {}
                if error["type"] == "query_syntax" and isinstance(target, yaml.ScalarNode):
                    e_line, e_col = _position_in_scalar(target, lines, int(ctx["position"]) - 1)
                    message = str(ctx["message"])
                errors.append(WatchlistError(shown, e_line, e_col, message))
            continue
        spec._line, spec._column = line, col
        errors.extend(_check_examples(spec, node, shown))
        specs.append(spec)
    errors.sort(key=lambda e: (e.line, e.column))
    return specs, errors, ids or stem_ids


def watchlist_files(paths: Iterable[str | Path]) -> list[Path]:
    """The YAML files named by *paths* (directories are searched recursively)."""
    found: list[Path] = []
    for entry in paths:
        path = Path(entry)
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES and p.is_file()))
        else:
            found.append(path)
    return found


def _without_duplicates(
    loaded: Iterable[tuple[str, list[WatchlistSpec]]],
) -> tuple[dict[str, WatchlistSpec], list[WatchlistError]]:
    specs: dict[str, WatchlistSpec] = {}
    errors: list[WatchlistError] = []
    for shown, file_specs in loaded:
        for spec in file_specs:
            first = specs.get(spec.id)
            if first is not None:
                line, col = spec.location
                message = f"duplicate id {spec.id!r}: already defined in {first.path}"
                errors.append(WatchlistError(shown, line, col, message))
                continue
            specs[spec.id] = spec
    return specs, errors


def load_watchlists(paths: Iterable[str | Path]) -> LoadResult:
    """Load and validate files and directories; check every watchlist's examples."""
    result = LoadResult()
    loaded: list[tuple[str, list[WatchlistSpec]]] = []
    for path in watchlist_files(paths):
        if not path.exists():
            result.errors.append(WatchlistError(str(path), 1, 1, "no such file or directory"))
            continue
        specs, errors, _ = load_file(path)
        loaded.append((str(path), specs))
        result.errors.extend(errors)
    specs_by_id, duplicates = _without_duplicates(loaded)
    result.watchlists = list(specs_by_id.values())
    result.errors.extend(duplicates)
    return result


# -- hot reload --------------------------------------------------------------------------


@dataclass(slots=True)
class _FileState:
    stat: tuple[int, int]
    content_hash: str
    specs: list[WatchlistSpec]  # the last valid version
    errors: list[WatchlistError]
    ids: list[str]  # what the file names, even while it is broken


class WatchlistRegistry:
    """The watchlists of a directory, kept in step with the files by :meth:`refresh`.

    ``extra_alerts`` are destinations given on the command line; the outbox reads them from
    here (they are not merged into any watchlist's ``alerts``).
    """

    def __init__(
        self, directory: str | Path, *, extra_alerts: Iterable[AlertSpec] | None = None
    ) -> None:
        self.directory = Path(directory)
        self.extra_alerts: list[AlertSpec] = list(extra_alerts or [])
        self.specs: dict[str, WatchlistSpec] = {}
        self.errors: list[WatchlistError] = []
        self.version = 0
        self._files: dict[Path, _FileState] = {}
        self._matcher = Matcher([])
        self.rarity = Rarity()  # no sample yet: word length stands in for rarity
        self._sampled_at: datetime | None = None
        self.refresh()

    @property
    def matcher(self) -> Matcher:
        return self._matcher

    def get(self, watchlist_id: str) -> WatchlistSpec | None:
        return self.specs.get(watchlist_id)

    def file_states(self) -> dict[str, tuple[list[str], list[WatchlistError]]]:
        """For each file: the ids it names and its current errors."""
        return {str(p): (s.ids, s.errors) for p, s in self._files.items()}

    def refresh(
        self,
        *,
        sample: Callable[[], Iterable[Document]] | None = None,
        now: datetime | None = None,
    ) -> bool:
        """Re-read the files that changed; return True when the watchlists in force changed.

        Cheap when nothing changed: one ``stat`` per file. *sample* returns recent articles:
        when given, word rarity is taken from them (see :mod:`monitor.matching.rarity`) at
        every rebuild, and once every RESAMPLE_AFTER, which rebuilds the index with the
        same watchlists.
        """
        now = now or datetime.now(UTC)
        resample = sample is not None and (
            self._sampled_at is None or now - self._sampled_at >= RESAMPLE_AFTER
        )
        paths = watchlist_files([self.directory]) if self.directory.is_dir() else []
        changed = False
        for gone in set(self._files) - set(paths):
            del self._files[gone]
            log.info("watchlist file removed", path=str(gone))
            changed = True
        for path in paths:
            try:
                st = path.stat()
                stat = (st.st_mtime_ns, st.st_size)
                state = self._files.get(path)
                if state is not None and state.stat == stat:
                    continue
                raw = path.read_bytes()
            except OSError:  # removed between listing and reading: next refresh drops it
                continue
            content_hash = hashlib.sha256(raw).hexdigest()
            if state is not None and state.content_hash == content_hash:
                state.stat = stat
                continue
            specs, errors, ids = load_file(path, raw)
            previous = state.specs if state is not None else []
            if errors:
                for error in errors:
                    log.warning("watchlist file invalid", path=str(path), error=str(error))
                if previous:
                    log.warning(
                        "keeping the last valid version in force",
                        path=str(path),
                        watchlist=",".join(s.id for s in previous),
                    )
            else:
                log.info("watchlists loaded", path=str(path), watchlist=",".join(ids))
            self._files[path] = _FileState(
                stat=stat,
                content_hash=content_hash,
                specs=previous if errors else specs,
                errors=errors,
                ids=ids,
            )
            changed = True
        reanchor = False
        if sample is not None and (changed or resample):
            rarity = Rarity.from_documents(sample())
            if rarity.sampled:  # else too few articles yet: ask again next time
                self._sampled_at = now
                log.info("word rarity sampled", articles=rarity.documents)
            reanchor = rarity.sampled or self.rarity.sampled
            self.rarity = rarity
        if changed or reanchor:
            self._rebuild()
        return changed

    def _rebuild(self) -> None:
        ordered = sorted(self._files.items())
        specs, duplicates = _without_duplicates((str(p), s.specs) for p, s in ordered)
        self.specs = specs
        self.errors = [e for _, s in ordered for e in s.errors] + duplicates
        self._matcher = Matcher(specs.values(), rarity=self.rarity)
        self.version += 1
        # A compiled matcher is hundreds of thousands of long-lived objects (ASTs, closures)
        # with no reference cycles. Left to the cyclic collector, every full collection walks
        # them all: with 100,000 watchlists that halves matching throughput (see
        # docs/benchmarks.md). Freezing moves what exists now out of its reach; replaced
        # matchers are still freed by reference counting. Only for big sets: freezing is
        # process-wide, and a few hundred watchlists don't need it.
        if len(self._matcher) >= FREEZE_AT:
            gc.freeze()


# -- the database mirror -----------------------------------------------------------------


def sync_watchlists(
    session: Session, registry: WatchlistRegistry, *, now: datetime | None = None
) -> None:
    """Make the ``watchlists`` table show what is in force, and what is broken.

    The caller commits. A watchlist whose file disappeared stays (its hits refer to it) with
    ``in_files=False, enabled=False``.
    """
    now = now or datetime.now(UTC)
    rows = {row.id: row for row in session.scalars(select(Watchlist))}
    errors_by_path: dict[str, list[str]] = {}
    for error in registry.errors:
        errors_by_path.setdefault(error.path, []).append(str(error))
    seen: set[str] = set()
    for spec in registry.specs.values():
        row = rows.get(spec.id)
        if row is None:
            row = Watchlist(id=spec.id)
            session.add(row)
        if row.content_hash != spec.content_hash or row.definition != spec.model_dump(mode="json"):
            row.loaded_at = now
        row.name = spec.name
        row.description = spec.description
        row.query = spec.query
        row.path = spec.path
        row.content_hash = spec.content_hash
        row.enabled = spec.enabled
        row.definition = spec.model_dump(mode="json")
        lines = errors_by_path.get(spec.path)
        row.load_error = "\n".join(lines) if lines else None
        row.in_files = True
        seen.add(spec.id)
    # Broken files with nothing valid in force: still shown, under the ids they name.
    for path, (ids, errors) in registry.file_states().items():
        if not errors:
            continue
        for watchlist_id in ids:
            if watchlist_id in seen:
                continue
            row = rows.get(watchlist_id)
            if row is None:
                row = Watchlist(id=watchlist_id[:100], name=watchlist_id, query="", definition={})
                session.add(row)
                row.loaded_at = now
            row.path = path
            row.enabled = False
            row.in_files = True
            row.load_error = "\n".join(str(e) for e in errors)
            seen.add(watchlist_id)
    for watchlist_id, row in rows.items():
        if watchlist_id not in seen and (row.in_files or row.enabled):
            row.in_files = False
            row.enabled = False
    session.flush()


if __name__ == "__main__":  # regenerate watchlists/schema.json
    print(schema_text(), end="")
