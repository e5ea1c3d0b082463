from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from monitor.matching import Document, Matcher


@dataclass
class Spec:
    """The few fields the matcher reads, so engine tests need no YAML."""

    id: str
    query: str
    enabled: bool = True
    feeds: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    translations: dict[str, str] = field(default_factory=dict)
    stem: bool = False


def matches(query: str, doc: Document) -> bool:
    return bool(Matcher([Spec("w", query)]).match(doc))


@pytest.fixture
def spec() -> type[Spec]:
    return Spec
