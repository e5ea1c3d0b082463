"""Old code against new, side by side in one run: any benchmark here, on two revisions.

    .venv/bin/python benchmarks/versus.py matching.py --baseline e88130b --rounds 3 \\
        [--write] -- --sizes 1000,10000 --articles 1000

Runs the benchmark script of the base revision on that revision's code (``git archive`` into a
temporary folder; the script puts its own folder first on ``sys.path``) and this tree's script
on this tree's code, alternately and in swapped order each round, so that the drift of a
shared machine falls on both sides alike. Each run's table rows are printed under its label;
``--write`` puts them in docs/benchmarks.md, in a section of their own per script. Only the
rows a script printed are shown: nothing is averaged or recomputed here.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def checkout(revision: str, into: Path) -> None:
    archive = subprocess.run(
        [
            "git",
            "-C",
            str(ROOT),
            "archive",
            revision,
            "monitor",
            "benchmarks",
            "tests",
            "workers",
            "celeryconfig.py",
        ],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)


def run(script: Path, args: list[str], code: Path) -> list[str]:
    """The table rows (lines starting with '|') that *script* prints, run on *code*."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    done = subprocess.run(
        [sys.executable, str(script), *args],
        env=env,
        cwd=code,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        sys.exit(f"{script} failed on {code}:\n{done.stderr[-2000:]}")
    return [line for line in done.stdout.splitlines() if line.startswith("|")]


def write_section(title: str, body: list[str]) -> None:
    path = ROOT / "docs" / "benchmarks.md"
    lines = path.read_text(encoding="utf-8").splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == title), None)
    if start is None:
        lines += ["", title]
        start = len(lines) - 1
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    new = [*lines[:start], title, "", *body, "", *lines[end:]]
    path.write_text("\n".join(new).rstrip("\n") + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("script", help="a script in benchmarks/, e.g. matching.py")
    parser.add_argument("--baseline", required=True, metavar="REV")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    options = parser.parse_args(argv[:split])
    options.args = argv[split + 1 :]  # for the script, after --
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "monitor"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    new_label = f"new ({head}{' + changes' if dirty else ''})"
    old_label = f"old ({options.baseline})"
    out: list[str] = [
        f"`benchmarks/versus.py {options.script} --baseline {options.baseline} "
        f"--rounds {options.rounds} -- {' '.join(options.args)}`: the same benchmark on the "
        "old and the new code, alternately in one run.",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "code"
        base.mkdir()
        checkout(options.baseline, base)
        # The scripts look for ../shared/data beside the code, as CI lays it out.
        shared = ROOT.parent / "shared"
        if shared.exists():
            (Path(tmp) / "shared").symlink_to(shared)
        sides = {
            old_label: (base / "benchmarks" / options.script, base),
            new_label: (ROOT / "benchmarks" / options.script, ROOT),
        }
        order = [old_label, new_label]
        for number in range(1, options.rounds + 1):
            for label in order:
                script, code = sides[label]
                rows = run(script, options.args, code)
                out += ["", f"Round {number}, {label}:", "", *rows]
                print(f"\nRound {number}, {label}:", *rows, sep="\n", flush=True)
            order.reverse()
    if options.write:
        write_section(f"## Old against new: {options.script}", out)


if __name__ == "__main__":
    main()
