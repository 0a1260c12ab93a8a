"""``segaug.masks`` has no import cycle, and only ``resolve.py`` parses mask specs.

Imports are read from the source (top level and inside functions alike):

* ``ids`` is a leaf; ``base`` (segmenters) does not import ``sources``; ``sources``
  does not import ``files`` or ``gt`` (they register themselves into it);
* the modules of ``segaug.masks`` import each other without a cycle;
* no module of ``segaug``, ``simclr`` or ``benchmarks`` but ``segaug/masks/resolve.py``
  parses a spec: no prefix tests of spec strings (``startswith("files:")``), no
  comparison with a source name (``== "gt"``), no lookup of a name in the registries
  (``in SEGMENTERS``, ``MASK_SOURCES.get(...)``), no use of the spec parser itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MASKS = REPO / "segaug" / "masks"
RESOLVER = MASKS / "resolve.py"
PACKAGE = "segaug.masks"


def _module_name(path: Path) -> str:
    return PACKAGE if path.name == "__init__.py" else f"{PACKAGE}.{path.stem}"


def _imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at top level or inside functions."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            # "from segaug.masks import files" imports the submodule too
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in MASKS.glob("*.py")}
    return {name: _imported_modules(path) & set(modules) for name, path in modules.items()}


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, str] = {}  # "open" while on the path, "done" once finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_layers_of_segaug_masks() -> None:
    graph = _graph()
    assert graph[f"{PACKAGE}.ids"] == set()
    assert not {m for m in _imported_modules(MASKS / "ids.py") if m.startswith(PACKAGE)}
    assert f"{PACKAGE}.sources" not in graph[f"{PACKAGE}.base"]
    assert not graph[f"{PACKAGE}.sources"] & {f"{PACKAGE}.files", f"{PACKAGE}.gt"}
    # every source and segmenter is registered whenever the package is imported
    init = graph[PACKAGE]
    assert {f"{PACKAGE}.{m}" for m in ("files", "gt", "classical", "deeplab", "sam")} <= init


def test_no_import_cycle_in_segaug_masks() -> None:
    assert _find_cycle(_graph()) is None


def test_the_cycle_finder_finds_one() -> None:
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None


# ---------------------------------------------------------------- spec parsing

_SOURCE_NAMES = {"gt", "files"}
_REGISTRIES = {"SEGMENTERS", "MASK_SOURCES"}
_PARSER_NAMES = {"parse_source_spec", "is_source_spec", "_classify"}


def _spec_literal(node: ast.AST) -> bool:
    """A string constant that is a source name or a spec prefix ("gt", "files:", ...)."""
    if not isinstance(node, ast.Constant) or not isinstance(node.value, str):
        return False
    text = node.value.lower()
    return text in _SOURCE_NAMES or any(text.startswith(f"{n}:") or text.startswith(f"{n}?")
                                        for n in _SOURCE_NAMES)  # fmt: skip


def _spec_parsing(tree: ast.AST) -> list[tuple[int, str]]:
    """``(line, what)`` of every spec-parsing pattern in a module."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            attr = node.func.attr
            if attr in ("startswith", "endswith", "partition", "split", "removeprefix"):
                if any(_spec_literal(a) for a in node.args):
                    found.append((node.lineno, f".{attr}() with a spec literal"))
            if attr in ("get", "create") and isinstance(node.func.value, ast.Name):
                if node.func.value.id in _REGISTRIES:
                    found.append((node.lineno, f"{node.func.value.id}.{attr}()"))
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(_spec_literal(o) for o in operands):
                found.append((node.lineno, "comparison with a source name"))
            for op, right in zip(node.ops, node.comparators, strict=True):
                if isinstance(op, (ast.In, ast.NotIn)) and isinstance(right, ast.Name):
                    if right.id in _REGISTRIES:
                        found.append((node.lineno, f"name lookup in {right.id}"))
        if isinstance(node, ast.Name) and node.id in _PARSER_NAMES:
            found.append((node.lineno, f"uses {node.id}"))
        if isinstance(node, ast.alias) and node.name in _PARSER_NAMES:
            found.append((getattr(node, "lineno", 0), f"imports {node.name}"))
    return found


def test_the_pattern_finder_sees_spec_parsing() -> None:
    code = (
        'a = spec.lower().startswith("files:")\n'
        'b = source != "gt"\n'
        "c = name in SEGMENTERS\n"
        "d = MASK_SOURCES.get(name).by_path\n"
        "from segaug.masks.resolve import parse_source_spec\n"
        'e = MaskedDataset(base, masks="gt")\n'  # naming a spec is fine
        'SEGMENTERS.register("x")\n'
    )
    lines = sorted({line for line, _ in _spec_parsing(ast.parse(code))})
    assert lines == [1, 2, 3, 4, 5]


def test_only_the_resolver_parses_mask_specs() -> None:
    files = [
        p
        for folder in ("segaug", "simclr", "benchmarks")
        for p in sorted((REPO / folder).rglob("*.py"))
        if p != RESOLVER
    ]
    assert len(files) > 20
    offences = [
        f"{path.relative_to(REPO)}:{line}: {what}"
        for path in files
        for line, what in _spec_parsing(ast.parse(path.read_text()))
    ]
    assert not offences, "mask specs are parsed outside segaug/masks/resolve.py:\n" + "\n".join(
        offences
    )
