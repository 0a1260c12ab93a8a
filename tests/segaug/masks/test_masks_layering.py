"""``segaug.masks`` has no import cycle, and only ``resolve.py`` parses mask specs.

Imports are read from the source (top level and inside functions alike):

* ``ids`` is a leaf; ``base`` (segmenters) does not import ``sources``; ``sources``
  does not import ``files`` or ``gt`` (they register themselves into it);
* (no cycle anywhere: ``tests/test_import_graph.py``);
* no module of ``segaug``, ``simclr`` or ``benchmarks`` but ``segaug/masks/resolve.py``
  parses a spec: no prefix tests of spec strings (``startswith("files:")``), no
  comparison with a source name (``== "gt"``), no lookup of a name in the registries
  (``in SEGMENTERS``, ``MASK_SOURCES.get(...)``), no use of the spec parser itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

from helpers.import_graph import import_graph

REPO = Path(__file__).resolve().parents[3]
MASKS = REPO / "segaug" / "masks"
RESOLVER = MASKS / "resolve.py"
PACKAGE = "segaug.masks"


def test_layers_of_segaug_masks() -> None:
    graph = import_graph()
    assert not {m for m in graph[f"{PACKAGE}.ids"] if m.startswith(PACKAGE)}
    assert f"{PACKAGE}.sources" not in graph[f"{PACKAGE}.base"]
    assert not graph[f"{PACKAGE}.sources"] & {f"{PACKAGE}.files", f"{PACKAGE}.gt"}
    # every source and segmenter is registered whenever the package is imported
    init = graph[PACKAGE]
    modules = ("files", "gt", "classical", "deeplab", "felzenszwalb", "sam")
    assert {f"{PACKAGE}.{m}" for m in modules} <= init


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
