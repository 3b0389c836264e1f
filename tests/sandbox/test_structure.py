"""The sandbox's shape, checked on its import graph (grimp, as import-linter uses): no
module of it imports another that imports it back, however indirectly, and it imports
nothing of the product, so it stays the outside world reached only over HTTP."""

from __future__ import annotations

import textwrap
from pathlib import Path

import grimp
import pytest

import sandbox

# Everything of ours the sandbox must not import.
PRODUCT = ("connectors", "pipelines", "transforms", "warehouse", "portal", "bench", "tests")


def _graph(package: str) -> grimp.ImportGraph:
    # No cache: a graph is built in well under a second, and the cache would litter the tree.
    return grimp.build_graph(package, include_external_packages=True, cache_dir=None)


def cycles(package: str) -> list[str]:
    """Each import inside `package` that closes a loop, as the loop it closes."""
    graph = _graph(package)
    ours = {m for m in graph.modules if m == package or m.startswith(package + ".")}
    found = []
    for module in sorted(ours):
        for imported in sorted(graph.find_modules_directly_imported_by(module) & ours):
            back = graph.find_shortest_chain(importer=imported, imported=module)
            if back:
                found.append(" -> ".join((module, *back)))
    return found


def product_imports(package: str) -> list[str]:
    """`module -> product module` for every import of ours made inside `package`."""
    graph = _graph(package)
    found = []
    ours = {m for m in graph.modules if m == package or m.startswith(package + ".")}
    for module in sorted(ours):
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported.split(".")[0] in PRODUCT:
                found.append(f"{module} -> {imported}")
    return found


def test_no_import_cycles_in_the_sandbox():
    assert cycles("sandbox") == []


def test_the_sandbox_imports_nothing_of_ours():
    assert product_imports("sandbox") == []


def test_the_checks_catch_a_cycle_and_a_product_import(tmp_path: Path, monkeypatch):
    """Both checks fail on a package that breaks them (so a pass above means something)."""
    root = tmp_path / "broken_sandbox"
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "shapes.py").write_text("from broken_sandbox.state import STATE\n")
    (root / "state.py").write_text(
        textwrap.dedent(
            """
            def lazy():
                from broken_sandbox.shapes import lazy  # a lazy import is an import too
            import warehouse.connection
            STATE = 1
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert cycles("broken_sandbox") == [
        "broken_sandbox.shapes -> broken_sandbox.state -> broken_sandbox.shapes",
        "broken_sandbox.state -> broken_sandbox.shapes -> broken_sandbox.state",
    ]
    assert product_imports("broken_sandbox") == ["broken_sandbox.state -> warehouse"]


@pytest.mark.parametrize("package", ["sandbox.mailchimp", "sandbox.action_network"])
def test_each_simulator_is_split_by_concern(package: str):
    """Shapes, state, shared guards, route groups and the server are separate modules, and
    none of them is a grab-bag again (about 400 lines at most)."""
    folder = Path(sandbox.__file__ or "").parent / package.split(".")[1]
    names = {p.stem for p in folder.glob("*.py")}
    assert {"shapes", "state", "guards", "server"} <= names
    long = {p.name: n for p in folder.glob("*.py") if (n := len(p.read_text().splitlines())) > 400}
    assert long == {}
