"""The layer rule of docs/architecture.md, kept true: imports point down only
(ui > bench > eval > agent > retrieval > prompts), also between the rooms (sub-packages) inside a
layer (:data:`ROOMS`), and no module imports itself through others.

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
#: Rooms inside a layer, lowest first. A module outside every room of its layer is that layer's
#: floor (listed in :data:`FLOORS`; ``"*"``: every module outside the rooms) or its top; the floor
#: may import no room, a room may import the floor and the rooms before it, the top anything.
ROOMS: dict[str, tuple[str, ...]] = {
    "agent": ("agent.llm", "agent.understanding", "agent.ranking", "agent.reasons", "agent.sessions"),
    "eval": ("eval.train",),
}
FLOORS: dict[str, tuple[str, ...]] = {"agent": ("agent", "agent.types", "agent.settings"), "eval": ("*",)}


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


def room_rank(module: str, rooms: dict[str, tuple[str, ...]] = ROOMS,
              floors: dict[str, tuple[str, ...]] = FLOORS) -> int:
    """0 for a layer's floor, 1..n for its rooms in order, n + 1 for the layer's top."""
    layer = module.split(".")[0]
    own = rooms.get(layer, ())
    for i, room in enumerate(own, start=1):
        if module == room or module.startswith(room + "."):
            return i
    floor = floors.get(layer, ())
    return 0 if module in floor or "*" in floor else len(own) + 1


def upward_room_imports(graph: nx.DiGraph, rooms: dict[str, tuple[str, ...]] = ROOMS,
                        floors: dict[str, tuple[str, ...]] = FLOORS) -> list[str]:
    """Imports inside one layer from a room (or the floor) into a later room or the layer's top."""
    return sorted(f"{a} -> {b}" for a, b in graph.edges if a.split(".")[0] == b.split(".")[0]
                  and room_rank(b, rooms, floors) > room_rank(a, rooms, floors))


def import_cycles(graph: nx.DiGraph) -> list[list[str]]:
    return sorted(sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1)


@pytest.fixture(scope="module")
def graph() -> nx.DiGraph:
    return import_graph(ROOT)


def test_the_walk_sees_the_project(graph: nx.DiGraph) -> None:
    assert {"agent.conversation", "retrieval.store", "ui.web", "eval.runner"} <= set(graph.nodes)
    assert graph.has_edge("agent.conversation", "agent.app")  # a module-level import
    assert graph.has_edge("agent.app", "agent.llm.engines")  # a lazy import inside a function


def test_imports_point_down_only(graph: nx.DiGraph) -> None:
    assert upward_imports(graph) == []


def test_rooms_import_down_only(graph: nx.DiGraph) -> None:
    assert upward_room_imports(graph) == []
    listed = {m.rsplit(".", 1)[0] for m in graph.nodes if m.count(".") >= 2}
    assert {r for rooms in ROOMS.values() for r in rooms} <= listed  # every room exists


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


def test_the_room_check_fails_on_an_upward_room_import(tmp_path: Path) -> None:
    for pkg in ("agent", "agent/llm", "agent/ranking"):
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / "agent" / "types.py").write_text("")
    (tmp_path / "agent" / "app.py").write_text("from agent.ranking import fusion\nfrom agent.llm import engine\n")
    (tmp_path / "agent" / "llm" / "engine.py").write_text("from agent.ranking.fusion import x\nfrom agent import types\n")
    (tmp_path / "agent" / "ranking" / "fusion.py").write_text("from agent.llm.engine import y\nx = 1\n")
    graph = import_graph(tmp_path, packages=("agent",))
    rooms = {"agent": ("agent.llm", "agent.ranking")}
    assert upward_room_imports(graph, rooms, {"agent": ("agent", "agent.types")}) == [
        "agent.llm.engine -> agent.ranking.fusion"]
