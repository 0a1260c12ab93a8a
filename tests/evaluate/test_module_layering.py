"""``simclr.evaluate.report`` and ``transfer`` do not import each other (issue 12 item 4)."""

from __future__ import annotations

import ast
from pathlib import Path

EVALUATE = Path(__file__).resolve().parents[2] / "simclr" / "evaluate"


def _imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at top level or inside functions."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_report_does_not_import_transfer() -> None:
    assert "simclr.evaluate.transfer" not in _imported_modules(EVALUATE / "report.py")
    protocol = _imported_modules(EVALUATE / "protocol.py")
    assert not {m for m in protocol if m.startswith("simclr")}


def test_the_dataset_groups_are_shared() -> None:
    from simclr.evaluate import TABLE4_DATASETS, protocol, report, transfer

    assert report.TABLE4_DATASETS is transfer.TABLE4_DATASETS is protocol.TABLE4_DATASETS
    assert TABLE4_DATASETS is protocol.TABLE4_DATASETS
