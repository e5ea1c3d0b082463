"""The watchlist file format: the pydantic models a YAML watchlist is validated against.

A watchlist is one YAML file under ``watchlists/`` (a file may also hold a list of them).
:class:`WatchlistFile` is the format as an analyst writes it; :class:`WatchlistSpec` is a
validated watchlist with the file it came from. ``watchlists/schema.json``, which editors use
to check and complete a file, is generated from :class:`WatchlistFile` by :func:`json_schema`
(``python -m monitor.watchlists > watchlists/schema.json``).
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from monitor.config import parse_duration
from monitor.destinations import AlertSpec, Throttle, parse_throttle
from monitor.matching import QuerySyntaxError, parse_query
from monitor.matching.query import leaves

__all__ = [
    "ID_PATTERN",
    "SCHEMA_ID",
    "Example",
    "Examples",
    "SpikeSpec",
    "WatchlistFile",
    "WatchlistSpec",
    "json_schema",
    "schema_text",
]

SCHEMA_ID = "https://github.com/monitor-news/monitor/watchlists/schema.json"
# A watchlist's id, and a file name's stem when the file gives none.
ID_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$")

# The models' docstrings and field descriptions are the schema's descriptions: editing one
# changes watchlists/schema.json, which must then be generated again.


class Example(BaseModel):
    """An example article given as fields rather than as one text."""

    model_config = ConfigDict(extra="forbid")

    title: str = ""
    summary: str = ""
    content: str = ""
    url: str = ""
    source: str = ""
    language: str | None = Field(
        default=None,
        description="The article's language (ISO 639 code), choosing its translation and "
        "stemmer; left out, it is detected from the text as a stored article's is.",
    )

    @field_validator("language")
    @classmethod
    def _language(cls, value: str | None) -> str | None:
        if value is not None and not _LANGUAGE.match(value):
            raise ValueError(f"{value!r} is not a language code such as 'en' or 'pt-BR'")
        return value


class Examples(BaseModel):
    """Texts the query must match and must not match; checked by ``watchlists validate``."""

    model_config = ConfigDict(extra="forbid")

    match: list[str | Example] = Field(default_factory=list)
    no_match: list[str | Example] = Field(default_factory=list)


class SpikeSpec(BaseModel):
    """Alert once when the watchlist's volume of distinct stories is improbably high for the
    hour of the week (docs/alerts.md, 'Spike alerts')."""

    model_config = ConfigDict(extra="forbid")

    baseline: str = Field(
        default="14d",
        description="How far back the watchlist's own normal is learnt, e.g. 14d or 28d.",
    )
    min_stories: int = Field(
        default=5, ge=1, strict=True, description="Never a spike with fewer stories than this."
    )
    sensitivity: Literal["low", "normal", "high"] = Field(
        default="normal",
        description="How improbable a count must be: low 1 in 10,000, normal 1 in 1,000, "
        "high 1 in 100.",
    )

    @field_validator("baseline")
    @classmethod
    def _baseline(cls, value: str) -> str:
        seconds = parse_duration(value)
        if seconds < 7 * 86_400:
            raise ValueError("a baseline needs at least 7d, to see every hour of the week")
        return value


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
        "econom*, title:/lede:/summary:/content:/url:/source: scopes. See docs/watchlists.md.",
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
    translations: dict[str, str] = Field(
        default_factory=dict,
        description="A query per language (ISO 639 code to query, e.g. ja: 'NATO AND 連絡事務所'): "
        "an article in one of these languages is matched against its query here, every other "
        "article against 'query'.",
    )
    stem: bool = Field(
        default=False,
        strict=True,
        description="Plain words also match their inflected forms in the article's language "
        "(market matches markets); quoted phrases and wildcards stay exact.",
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
    min_mentions: int | None = Field(
        default=None,
        ge=1,
        le=1000,
        strict=True,
        description="Keep a hit only when the query's matched terms occur at least this many "
        "times, counted over all fields (terms under NOT or an unmatched branch not counted).",
    )
    min_score: float | None = Field(
        default=None,
        ge=0,
        lt=1,
        description="Keep a hit only when its relevance score (0 up to 1: mentions weighted "
        "title above lede above body, saturating; see docs/watchlists.md) is at least this.",
    )
    spike: SpikeSpec | None = Field(
        default=None,
        description="Alert when distinct stories come improbably fast for the hour of the week.",
    )
    examples: Examples = Field(
        default_factory=Examples,
        description="Texts the query must match (match) and must not match (no_match).",
    )

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not ID_PATTERN.match(value):
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

    @field_validator("min_mentions", "min_score")
    @classmethod
    def _relevance_control(cls, value: float | None, info: ValidationInfo) -> float | None:
        # A query made only of NOT has no term to count: every hit would be dropped.
        query = info.data.get("query")
        if value and isinstance(query, str) and not leaves(parse_query(query).root):
            raise ValueError("needs a query with words to count; one made only of NOT has none")
        return value

    @field_validator("min_score", mode="before")
    @classmethod
    def _score_is_a_number(cls, value: Any) -> Any:
        # Not strict (0 and 1 are fine as integers), but "0.5" in quotes is a mistake.
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise PydanticCustomError("float_type", "Input should be a number such as 0.3")
        return value

    @field_validator("languages")
    @classmethod
    def _languages(cls, value: list[str]) -> list[str]:
        for code in value:
            if not _LANGUAGE.match(code):
                raise ValueError(f"{code!r} is not a language code such as 'en' or 'pt-BR'")
        return value

    @field_validator("translations")
    @classmethod
    def _translations(cls, value: dict[str, str]) -> dict[str, str]:
        for code, query in value.items():
            if not _LANGUAGE.match(code):
                raise ValueError(f"{code!r} is not a language code such as 'en' or 'pt-BR'")
            try:
                parse_query(query)
            except QuerySyntaxError as exc:
                raise ValueError(f"{code}: {exc}") from None
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
    # Where each entry of ``alerts:`` is written, for messages about one destination.
    _alert_locations: list[tuple[int, int]] = PrivateAttr(default_factory=list)

    def model_post_init(self, context: Any, /) -> None:
        if not self.name:
            self.name = self.id

    @property
    def throttle_rule(self) -> Throttle | None:
        return parse_throttle(self.throttle) if self.throttle else None

    @property
    def location(self) -> tuple[int, int]:
        return self._line, self._column

    def alert_location(self, index: int) -> tuple[int, int]:
        """Line and column of ``alerts[index]`` in the file (the watchlist's own if unknown)."""
        if index < len(self._alert_locations):
            return self._alert_locations[index]
        return self.location


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
    """``watchlists/schema.json`` as it should read: :func:`json_schema`, indented."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"
