"""The import graph of a package, for tests that keep its layers apart (docs/architecture.md).

Every ``import`` in the package's source counts, also those inside functions (a lazy import is still a
dependency).  A module's *unit* is its folder under the package (``train``, ``data``, ...) or, for a top-level
module, the module itself (``records``, ``options``, ...); the package's own ``__init__`` is the unit
``__init__``.  Only the standard library is used: nothing is imported, the source is parsed.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PLUGIN_PREFIX = "statecatcher_"  # every plugin's import name starts with it


def module_name(path: Path, root: Path) -> str:
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, root: Path) -> list[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved)."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if base != root.name:  # ``from statecatcher import x``: x itself says which unit (a module or __init__)
                found.append(base)
            found += [f"{base}.{alias.name}" for alias in node.names]  # ``from . import x`` may name a module
    return found


def unit(module: str, root_name: str, units: set[str]) -> str | None:
    """``statecatcher.train.loop`` -> ``train``; ``statecatcher.records`` -> ``records``; the package itself
    or a name of its ``__init__`` (``statecatcher.__version__``) -> ``__init__``; outside it -> None."""
    parts = module.split(".")
    if parts[0] != root_name:
        return None
    return parts[1] if len(parts) > 1 and parts[1] in units else "__init__"


def import_graph(root: Path) -> tuple[dict[str, set[str]], list[str]]:
    """(unit -> units it imports, every ``file: plugin-module`` import) for the package at ``root``."""
    units = {p.name if p.is_dir() else p.stem for p in root.iterdir()
             if (p.is_dir() and (p / "__init__.py").exists()) or p.suffix == ".py"}
    graph: dict[str, set[str]] = {u: set() for u in units}
    plugin_imports = []
    for path in sorted(root.rglob("*.py")):
        source = "__init__" if path == root / "__init__.py" else unit(module_name(path, root), root.name, units)
        for target in imports_of(path, root):
            if target.split(".")[0].startswith(PLUGIN_PREFIX):
                plugin_imports.append(f"{path.relative_to(root.parent)}: {target}")
            dest = unit(target, root.name, units)
            if source in graph and dest in units and dest != source:
                graph[source].add(dest)
    return graph, sorted(set(plugin_imports))


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one unit (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)
