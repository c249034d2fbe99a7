"""The agent's packages import one another without cycles (docs/architecture.md,
"Layers").

Every ``import`` in ``agent/`` is read with ``ast`` (imports inside functions
too: a deferred import is still a dependency, only a hidden one) and reduced to
a graph of units: a package directly under ``agent/`` (``agent/datastore/``) or
a top-level module (``agent/runtime.py``). The schema core (``agent/schema``)
sits at the bottom: ``datastore`` and ``config`` both build on it and neither
imports the other. Cycles that exist today and lie outside this step are listed
in ``KNOWN_CYCLES`` with the reason; any other cycle fails, as does fixing a
known one without taking it off the list.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

AGENT = Path(__file__).resolve().parents[2] / "agent"

#: Units the schema core may import: it builds on nothing of the agent but the
#: lookup of the package's data files.
SCHEMA_MAY_IMPORT = frozenset({"package_data"})

#: Units that must sit in no cycle at all.
ACYCLIC = ("schema", "datastore", "config")

#: Cycles present today, each a strongly connected set of units, with why it is
#: left for a later step.
KNOWN_CYCLES: dict[frozenset[str], str] = {
    # The home agent and proxy engines hold a RADIUS resolver
    # (agent/radius/resolver.py), which builds SecurityAssociation records and
    # uses the engines' Deadlines (agent/mobileip/security.py, deadlines.py).
    # Breaking it means moving the resolver beside the engines or the records
    # below both; issue 14's role units are where that belongs.
    frozenset({"mobileip", "radius"}): "engines hold the RADIUS resolver",
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(AGENT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in AGENT.rglob("*.py")}


def _unit(module: str) -> str:
    """``agent.datastore.store`` -> ``datastore``; ``agent.runtime`` -> ``runtime``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "agent"


def _imported(module: str, path: Path, known: dict[str, Path]) -> Iterator[str]:
    """The agent modules ``module`` imports (resolved: ``from agent import x``
    names the module ``agent.x`` when there is one)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                candidate = f"{source}.{alias.name}"
                yield candidate if candidate in known else source


def unit_graph() -> dict[str, set[str]]:
    """unit -> the other units it imports."""
    known = _modules()
    graph: dict[str, set[str]] = {_unit(module): set() for module in known}
    for module, path in known.items():
        source = _unit(module)
        for target in _imported(module, path, known):
            if target == "agent" or target.startswith("agent."):
                unit = _unit(target)
                if unit not in (source, "agent"):
                    graph[source].add(unit)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected sets of more than one unit (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_is_read_from_the_code() -> None:
    # Edges the code is known to have: a reader that lost them would pass the
    # cycle tests vacuously.
    graph = unit_graph()
    assert {"schema"} <= graph["datastore"]
    assert {"schema", "mobileip"} <= graph["config"]
    assert "package_data" in graph["schema"]  # `from agent import package_data`
    assert "radius" in graph["mobileip"] and "mobileip" in graph["radius"]


def test_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [frozenset({"a", "b", "c"})]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_schema_core_imports_nothing_above_it() -> None:
    assert unit_graph()["schema"] <= SCHEMA_MAY_IMPORT


def test_datastore_and_config_do_not_import_each_other() -> None:
    graph = unit_graph()
    assert "config" not in graph["datastore"]
    assert "datastore" not in graph["config"]


def test_schema_datastore_and_config_are_in_no_cycle() -> None:
    for cycle in cycles(unit_graph()):
        assert not cycle & set(ACYCLIC), f"import cycle through {sorted(cycle)}"


def test_no_import_cycle_beyond_the_known_ones() -> None:
    found = set(cycles(unit_graph()))
    assert found - set(KNOWN_CYCLES) == set(), "a new import cycle between agent packages"
    # A known cycle that is gone comes off the list.
    assert set(KNOWN_CYCLES) - found == set(), "a known cycle is gone: take it off KNOWN_CYCLES"
