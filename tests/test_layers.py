"""The layer rule of docs/architecture.md, kept true: imports point down only
(ui > bench > eval > agent > retrieval > prompts) and no module imports itself through others.

Every import statement counts, including the lazy ones inside functions and those under
``TYPE_CHECKING``: a lazy upward import is still an upward dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Layers, lowest first; a module may import its own layer and the ones before it.
LAYERS = ("prompts", "retrieval", "agent", "eval", "bench", "ui")


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(tree: ast.AST, module: str, known: set[str]) -> set[str]:
    """The project modules ``module``'s code imports (``from pkg import mod`` resolves to the
    submodule when there is one)."""
    out: set[str] = set()
    package = module.rsplit(".", 1)[0] if "." in module else module
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            names = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                out.add(name)
    return out


def import_graph(root: Path, packages: tuple[str, ...] = LAYERS) -> nx.DiGraph:
    """Module -> imported module, over every ``.py`` file of ``packages`` under ``root``."""
    files = {module_name(p, root): p for pkg in packages for p in (root / pkg).rglob("*.py")}
    graph = nx.DiGraph()
    graph.add_nodes_from(files)
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for target in imported_modules(tree, module, set(files)):
            graph.add_edge(module, target)
    return graph


def upward_imports(graph: nx.DiGraph, layers: tuple[str, ...] = LAYERS) -> list[str]:
    rank = {name: i for i, name in enumerate(layers)}
    return sorted(f"{a} -> {b}" for a, b in graph.edges if rank[b.split(".")[0]] > rank[a.split(".")[0]])


def import_cycles(graph: nx.DiGraph) -> list[list[str]]:
    return sorted(sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1)


@pytest.fixture(scope="module")
def graph() -> nx.DiGraph:
    return import_graph(ROOT)


def test_the_walk_sees_the_project(graph: nx.DiGraph) -> None:
    assert {"agent.conversation", "retrieval.store", "ui.web", "eval.runner"} <= set(graph.nodes)
    assert graph.has_edge("agent.conversation", "agent.app")  # a module-level import
    assert graph.has_edge("agent.app", "agent.engines")  # a lazy import inside a function


def test_imports_point_down_only(graph: nx.DiGraph) -> None:
    assert upward_imports(graph) == []


def test_no_import_cycles(graph: nx.DiGraph) -> None:
    assert import_cycles(graph) == []


def test_the_checks_fail_on_a_cycle_and_an_upward_import(tmp_path: Path) -> None:
    for pkg in LAYERS:
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / "agent" / "a.py").write_text("def f():\n    from agent import b\n")
    (tmp_path / "agent" / "b.py").write_text("from .a import f\nfrom ui.web import x\n")
    (tmp_path / "ui" / "web.py").write_text("import agent.a\nx = 1\n")
    graph = import_graph(tmp_path)
    assert upward_imports(graph) == ["agent.b -> ui.web"]
    assert ["agent.a", "agent.b", "ui.web"] in import_cycles(graph)
