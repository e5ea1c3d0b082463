"""One section of docs/benchmarks.md replaced by a benchmark's new figures, the rest kept."""

from __future__ import annotations

from pathlib import Path

PATH = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def replace_section(heading: str, body: str, *, path: Path = PATH) -> None:
    """Put *body* (which opens with *heading*, a '## ' line) in place of that section, or at
    the end when the file has none."""
    existing = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    lines = existing.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == heading), None)
    if start is None:
        new = existing.rstrip("\n") + "\n\n" + body.rstrip("\n") + "\n"
    else:
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines)
        )
        new = "\n".join([*lines[:start], *body.rstrip("\n").splitlines(), "", *lines[end:]])
        new = new.rstrip("\n") + "\n"
    path.write_text(new, encoding="utf-8")
