"""Every distribution that importing monitor.feeds loads is one that installing monitor brings.

Not through another package's extra: pip 23.2 (the pip of Python 3.11) does not match jusText's
``lxml[html_clean]`` to lxml's extra, which lxml names ``html-clean``, so ``pip install .``
left lxml_html_clean out and ``import monitor.feeds`` failed (trafilatura imports
``lxml.html.clean`` through jusText). What our own pyproject.toml asks for, extras included,
is installed; further down, only plain requirements count.
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import ROOT

# Our own code, which no requirement provides.
OURS = {"monitor", "workers", "celeryconfig"}


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [Requirement(line) for line in project["dependencies"]]


def installed_without_transitive_extras() -> set[str]:
    """The distributions pip installs for our requirements, following the extras we ask for
    and, below them, only requirements that no extra guards."""
    found: set[str] = set()
    pending: list[tuple[Requirement, frozenset[str]]] = [
        (requirement, frozenset(requirement.extras)) for requirement in declared()
    ]
    while pending:
        requirement, extras = pending.pop()
        name = canonicalize_name(requirement.name)
        if name in found:
            continue
        found.add(name)
        for line in importlib.metadata.requires(requirement.name) or []:
            inner = Requirement(line)
            wanted = any(
                inner.marker is None or inner.marker.evaluate({"extra": extra})
                for extra in ("", *extras)
            )
            if wanted:
                pending.append((inner, frozenset()))
    return found


# Import monitor.feeds in a fresh interpreter where, of the top-level modules installed in
# site-packages, only the allowed ones can be found, as if nothing else were installed.
# Optional imports (greenlet for SQLAlchemy, rich for structlog) fall back as they would; a
# module monitor.feeds needs fails the import.
ONLY_WHAT_IS_INSTALLED = """
import importlib.abc, importlib.machinery, json, sys, sysconfig

allowed = set(json.loads(sys.argv[1]))
installed = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}


class OnlyInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if path is not None or name in allowed or name in sys.modules:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name)
        where = spec and (spec.origin or next(iter(spec.submodule_search_locations or ()), ""))
        if where and any(where.startswith(folder) for folder in installed):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, OnlyInstalled())
import monitor.feeds
"""


def import_with_only(distributions: set[str]) -> subprocess.CompletedProcess[str]:
    modules = {
        top
        for top, providers in importlib.metadata.packages_distributions().items()
        if any(canonicalize_name(name) in distributions for name in providers)
    }
    return subprocess.run(
        [sys.executable, "-c", ONLY_WHAT_IS_INSTALLED, json.dumps(sorted(modules | OURS))],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_it_declares_lxml_html_clean_itself() -> None:
    names = {canonicalize_name(requirement.name) for requirement in declared()}
    assert "lxml-html-clean" in names


def test_it_imports_monitor_feeds_with_only_what_its_requirements_install() -> None:
    done = import_with_only(installed_without_transitive_extras())
    assert done.returncode == 0, done.stderr.strip().splitlines()[-1]


def test_it_would_notice_a_missing_distribution() -> None:
    # The check itself: without lxml_html_clean, trafilatura's import fails.
    done = import_with_only(installed_without_transitive_extras() - {"lxml-html-clean"})
    assert done.returncode != 0 and "lxml_html_clean" in done.stderr
