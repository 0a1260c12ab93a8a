"""The import graph of ``segaug/`` and ``simclr/``: no cycle, and layers that point down.

The graph (``tests/helpers/import_graph.py``) counts every import, function-level ones
included.
"""

from __future__ import annotations

from pathlib import Path

from helpers.import_graph import find_cycles, import_graph


def test_cycle_finder_finds_a_planted_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert find_cycles(graph) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_reads_function_level_imports(tmp_path: Path) -> None:
    """A cycle hidden behind an import inside a function is still a cycle."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg.b import helper\n")
    (pkg / "b.py").write_text("def helper():\n    from pkg import a\n    return a\n")
    (pkg / "c.py").write_text("import pkg.a\n")
    (pkg / "d.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.c\n"
    )
    graph = import_graph(tmp_path, ("pkg",))
    assert graph["pkg.a"] == {"pkg.b"} and graph["pkg.b"] == {"pkg.a"}
    assert graph["pkg.c"] == {"pkg.a"}
    assert graph["pkg.d"] == set()  # annotations only
    assert find_cycles(graph) == [["pkg.a", "pkg.b"]]


def test_no_import_cycle() -> None:
    cycles = find_cycles(import_graph())
    assert cycles == [], "import cycles (function-level imports counted):\n" + "\n".join(
        " <-> ".join(c) for c in cycles
    )


def test_segaug_never_imports_simclr() -> None:
    graph = import_graph()
    upward = sorted(
        f"{m} -> {t}"
        for m, targets in graph.items()
        if m.startswith("segaug")
        for t in targets
        if t.startswith("simclr")
    )
    assert upward == []


def test_the_error_reporter_sits_below_every_console_script() -> None:
    """``report_error`` lives in ``segaug.errors``, not inside segaug's CLI folder."""
    graph = import_graph()
    assert not any(
        "segaug.cli" in t for m, ts in graph.items() if m.startswith("simclr") for t in ts
    )


def test_the_graph_sees_the_known_edges() -> None:
    graph = import_graph()
    assert "simclr.methods.base" in graph["simclr.gradcache"]  # top-level import
    assert "simclr.methods.simclr" in graph["simclr.methods"]  # the registration loop
    assert "simclr.checkpoint" in graph["simclr.train"]  # ``from simclr import checkpoint``


def test_config_schema_imports_no_registry() -> None:
    """``simclr/config.py`` is a pure schema: it imports nothing of the project."""
    assert import_graph()["simclr.config"] == set()


def test_the_methods_import_no_optimiser_or_config() -> None:
    graph = import_graph()
    for name in (m for m in graph if m.startswith("simclr.methods")):
        assert not graph[name] & {"simclr.optim", "simclr.config"}, (name, graph[name])
