"""``simclr.evaluate.report`` and ``suite`` do not import each other."""

from __future__ import annotations

import ast
from pathlib import Path

EVALUATE = Path(__file__).resolve().parents[3] / "simclr" / "evaluate"


def _imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at top level or inside functions."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_report_does_not_import_suite() -> None:
    assert "simclr.evaluate.suite" not in _imported_modules(EVALUATE / "report.py")
    names = _imported_modules(EVALUATE / "names.py")
    assert not {m for m in names if m.startswith("simclr")}


def test_the_dataset_groups_are_shared() -> None:
    from simclr.evaluate import TABLE4_DATASETS, names, report, suite

    assert report.TABLE4_DATASETS is suite.TABLE4_DATASETS is names.TABLE4_DATASETS
    assert TABLE4_DATASETS is names.TABLE4_DATASETS
