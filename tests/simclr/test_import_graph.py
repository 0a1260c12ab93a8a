"""The simclr package imports without cycles, and its config schema imports no registry.

Every import statement counts, function-level ones included. An import of a module
``a.b.c`` is an edge to ``a.b.c`` (not to its parent packages); a package whose
``__init__`` runs a ``pkgutil.iter_modules`` loop (``simclr.methods``) imports each of
its modules.
"""

from __future__ import annotations

import ast
from pathlib import Path

import simclr

ROOT = Path(simclr.__file__).resolve().parent


def _modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The simclr modules that module ``name`` (file ``path``) imports."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for a in node.names:  # ``from pkg import module`` imports the module
                sub = f"{base}.{a.name}"
                targets.add(sub if sub in known else base)
    if path.name == "__init__.py" and "pkgutil.iter_modules" in path.read_text():
        targets.update(m for m in known if m.rpartition(".")[0] == name)
    return {t for t in targets if t in known and t != name}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_graph_sees_the_known_edges():
    graph = _graph()
    assert "simclr.methods.base" in graph["simclr.gradcache"]  # top-level import
    assert "simclr.methods.simclr" in graph["simclr.methods"]  # the registration loop
    assert "simclr.checkpoint" in graph["simclr.train"]  # ``from simclr import checkpoint``


def test_no_import_cycle_in_simclr():
    cycle = _cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_config_schema_imports_no_registry():
    tree = ast.parse((ROOT / "config.py").read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not [m for m in imported if m.split(".")[0] in ("simclr", "segaug")], imported


def test_the_methods_import_no_optimiser_or_config():
    graph = _graph()
    for name in (m for m in graph if m.startswith("simclr.methods")):
        assert not graph[name] & {"simclr.optim", "simclr.config"}, (name, graph[name])
