"""Loading watchlist files: YAML in, validated watchlists and errors located in the file out.

Every problem is reported as ``path:line:col: message``, pointing at the key or value at
fault (and, for a query, at the column inside the query), so an analyst can fix it without
reading a traceback. A watchlist's examples are run through the matcher each time its file is
loaded: one that the query misses, or a ``no_match`` one it catches, is an error like any other.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from monitor.logs import get_logger
from monitor.matching import Document, Matcher
from monitor.matching.language import settle
from monitor.watchlists.spec import ID_PATTERN, Example, WatchlistSpec
from monitor.yamltext import duplicate_keys, error_position
from monitor.yamltext import load as load_yaml

__all__ = [
    "SUFFIXES",
    "LoadResult",
    "WatchlistError",
    "load_file",
    "load_watchlists",
    "watchlist_files",
    "without_duplicates",
]

# The package's name, as before it was split in modules: log lines keep their logger name.
log = get_logger("monitor.watchlists")

SUFFIXES = (".yaml", ".yml")


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


def _example_document(example: str | Example, number: int, spec: WatchlistSpec) -> Document:
    if isinstance(example, str):
        doc = Document(id=f"example-{number}", content=example)
    else:
        doc = Document(id=f"example-{number}", **example.model_dump())
    if doc.language is None and (spec.translations or spec.stem):
        # The language chooses the query and the stemmer: settled as a stored article's is.
        settled = settle(None, doc.title, doc.summary, doc.content)
        doc = dataclasses.replace(doc, language=settled.language)
    return doc


def _check_examples(spec: WatchlistSpec, item: yaml.Node, path: str) -> list[WatchlistError]:
    errors: list[WatchlistError] = []
    matcher = Matcher([spec.model_copy(update={"enabled": True})], filters=False)
    for kind in ("match", "no_match"):
        for number, example in enumerate(getattr(spec.examples, kind)):
            results = matcher.match(_example_document(example, number, spec))
            line, col = _mark(_find(item, ["examples", kind, number]))
            shown = example if isinstance(example, str) else (example.title or example.content)
            shown = " ".join(shown.split())
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            if kind == "match" and not results:
                message = f"example does not match the query: {shown!r}"
                weighed = matcher.weigh(_example_document(example, number, spec))
                if weighed:  # it does, but min_mentions or min_score drops the hit
                    _, found = weighed[0]
                    message = (
                        f"example matches the query but its relevance controls drop it "
                        f"({found.mentions} mention(s), score {found.score:.2f}): {shown!r}"
                    )
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
        root, document = load_yaml(text)
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
            if not ID_PATTERN.match(path.stem):
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
        spec._alert_locations = [_mark(_find(node, ["alerts", i])) for i in range(len(spec.alerts))]
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


def without_duplicates(
    loaded: Iterable[tuple[str, list[WatchlistSpec]]],
) -> tuple[dict[str, WatchlistSpec], list[WatchlistError]]:
    """The first watchlist of each id, in the order given; each later one is an error."""
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
    specs_by_id, duplicates = without_duplicates(loaded)
    result.watchlists = list(specs_by_id.values())
    result.errors.extend(duplicates)
    return result
