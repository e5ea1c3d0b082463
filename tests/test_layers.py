"""The layering of monitor/: no module imports one that imports it back.

``make lint`` checks the layers with import-linter (pyproject.toml); this test checks every
module pair, so a cycle inside one layer or one package is caught too, and says which.
"""

from __future__ import annotations

import ast

import grimp

from tests.conftest import ROOT


def test_it_has_no_import_cycle_between_modules() -> None:
    graph = grimp.build_graph("monitor", cache_dir=None)
    cycles = []
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back is not None:
                cycles.append(" -> ".join((importer, *back)))
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_it_says_what_each_module_is_for_in_its_opening_sentence() -> None:
    # One idea per module: each opens with the sentence that describes it.
    missing = []
    for path in sorted((ROOT / "monitor").rglob("*.py")):
        if "versions" in path.parts:
            continue  # migrations carry Alembic's own header
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        if not doc.strip() or not doc.split("\n\n")[0].rstrip().endswith((".", ":")):
            missing.append(str(path.relative_to(ROOT)))
    assert not missing, f"modules without an opening sentence: {missing}"
