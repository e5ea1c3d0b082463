"""What the two YAML files people write by hand (watchlists, feeds.yaml) share: where a YAML
error is, in one line, and which keys are given twice.

PyYAML keeps the last of two equal keys without a word; in feeds.yaml that silently drops the
first list of feeds, so both loaders report it instead.
"""

from __future__ import annotations

from collections.abc import Iterator

import yaml

__all__ = ["duplicate_keys", "error_position"]


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
    """Every key node that repeats an earlier key of its mapping, anywhere under *node*."""
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    yield key
                seen.add(key.value)
            yield from duplicate_keys(value)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from duplicate_keys(item)
