"""What the two YAML files people write by hand (watchlists, feeds.yaml) share: reading one
safely, where a YAML error is, in one line, and which keys are given twice.

PyYAML keeps the last of two equal keys without a word; in feeds.yaml that silently drops the
first list of feeds, so both loaders report it instead.

An alias (``*name``) stands for the whole node its anchor (``&name``) names, so a few hundred
bytes of nested aliases (a "billion laughs") stand for billions of values: a 425-byte file of
depth 7 took 28 s to check, eight times longer with each level. :func:`load` counts what the
aliases stand for as it reads and refuses a file past :data:`MAX_ALIAS_NODES`, and refuses
nesting deeper than :data:`MAX_DEPTH`, each with the line of the alias or value at fault.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

__all__ = [
    "MAX_ALIAS_NODES",
    "MAX_DEPTH",
    "YAMLLimitError",
    "duplicate_keys",
    "error_position",
    "load",
]

# How many values (scalars, lists and mappings, counted as if written out) all the aliases
# of one file may stand for together. An anchor for shared defaults, used once per feed or
# watchlist of a long file, stays well under it; a file past it is refused before any of
# its values is read (watchlist examples, for one, are each run through the matcher).
MAX_ALIAS_NODES = 10_000
# How deeply lists and mappings may nest. The files need 5 levels; PyYAML composes nested
# nodes recursively and hit Python's recursion limit at about 1,000.
MAX_DEPTH = 100


class YAMLLimitError(yaml.MarkedYAMLError):
    """A file past :data:`MAX_ALIAS_NODES` or :data:`MAX_DEPTH`, marked where it went past."""

    def __init__(self, problem: str, mark: yaml.Mark | None) -> None:
        super().__init__(problem=problem, problem_mark=mark)


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, counting what aliases stand for and how deep nodes nest."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        # id(node) -> how many values the node stands for, its aliases written out. Only
        # complete nodes are here: an alias to a node that is not is inside that node.
        self._sizes: dict[int, int] = {}
        self._aliased = 0
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            node = self.anchors.get(event.anchor)
            if node is not None:  # (an undefined alias is the composer's own error)
                size = self._sizes.get(id(node))
                if size is None:
                    raise YAMLLimitError(
                        f"alias *{event.anchor} is inside the node it names (a recursive alias)",
                        event.start_mark,
                    )
                self._aliased += size
                if self._aliased > MAX_ALIAS_NODES:
                    raise YAMLLimitError(
                        f"too many aliases: with *{event.anchor} they stand for more than "
                        f"{MAX_ALIAS_NODES:,} values; write the values out instead",
                        event.start_mark,
                    )
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise YAMLLimitError(
                f"lists and mappings nested more than {MAX_DEPTH} deep",
                self.peek_event().start_mark,  # type: ignore[no-untyped-call]
            )
        node = super().compose_node(parent, index)
        self._depth -= 1
        if node is None:
            return None
        if isinstance(node, yaml.SequenceNode):
            size = 1 + sum(self._sizes[id(item)] for item in node.value)
        elif isinstance(node, yaml.MappingNode):
            size = 1 + sum(self._sizes[id(k)] + self._sizes[id(v)] for k, v in node.value)
        else:
            size = 1
        self._sizes[id(node)] = size
        return node


def load(text: str) -> tuple[yaml.Node | None, Any]:
    """The node tree of one YAML document (for line numbers) and its data, read once with
    PyYAML's safe types. Raises :class:`yaml.YAMLError`, :class:`YAMLLimitError` included."""
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        data = None if root is None else loader.construct_document(root)
    finally:
        loader.dispose()
    return root, data


def error_position(error: yaml.YAMLError, text: str) -> tuple[int, int, str]:
    """(line, column, problem) of a YAML error in *text*, 1-based, the problem on one line."""
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        return line, col, error.problem or error.context or "invalid YAML"
    if isinstance(error, yaml.reader.ReaderError):
        # A character YAML does not allow (a control character): no mark, only a position.
        before = text[: error.position]
        line, col = before.count("\n") + 1, error.position - (before.rfind("\n") + 1) + 1
        code = error.character if isinstance(error.character, int) else ord(error.character)
        return line, col, f"unacceptable character #x{code:04x}: {error.reason}"
    return 1, 1, " ".join(str(error).split())


def duplicate_keys(node: yaml.Node | None) -> Iterator[yaml.ScalarNode]:
    """Every key node that repeats an earlier key of its mapping, anywhere under *node*.

    A node that aliases name more than once is looked at once: its duplicates are in the
    file once, and following every alias would cost what the aliases stand for."""
    seen: set[int] = set()

    def walk(node: yaml.Node | None) -> Iterator[yaml.ScalarNode]:
        if node is None or id(node) in seen:
            return
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            keys: set[str] = set()
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    if key.value in keys:
                        yield key
                    keys.add(key.value)
                yield from walk(value)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                yield from walk(item)

    return walk(node)
