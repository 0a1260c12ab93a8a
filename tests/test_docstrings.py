"""Every ``>>>`` example in ``segaug`` and ``simclr`` runs under pytest and prints what it claims.

A doctest run passes trivially when no example is collected (a module renamed, a docstring
doctest cannot see), so each module's count of examples run must equal the number of ``>>>``
lines in its source, less those marked ``+SKIP``. Skipped examples are the few that need
pretrained weights or a downloaded dataset; they stay a small share of the whole.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import pkgutil

import pytest

import segaug
import simclr


def _modules() -> list[str]:
    names = []
    for pkg in (segaug, simclr):
        names.append(pkg.__name__)
        for info in pkgutil.walk_packages(pkg.__path__, prefix=pkg.__name__ + "."):
            if not info.name.endswith("__main__"):  # importing it would run the CLI
                names.append(info.name)
    return sorted(names)


MODULES = _modules()


def _example_lines(module) -> tuple[int, int]:
    """(all ``>>>`` lines, those marked ``+SKIP``) in the module's source."""
    lines = [ln for ln in inspect.getsource(module).splitlines() if ln.lstrip().startswith(">>>")]
    return len(lines), sum("+SKIP" in ln for ln in lines)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    module = importlib.import_module(name)
    total, skipped = _example_lines(module)
    expected = total - skipped
    result = doctest.testmod(
        module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed"
    assert result.attempted == expected, (
        f"{name}: {expected} runnable '>>>' lines in the source but {result.attempted} ran"
    )


def test_the_examples_exist() -> None:
    """The walk found the packages' modules, and most of them carry examples."""
    assert {"segaug.augment.region", "simclr.losses", "simclr.evaluate.linear"} <= set(MODULES)
    counts = {m: _example_lines(importlib.import_module(m)) for m in MODULES}
    with_examples = [m for m, (total, _) in counts.items() if total > 0]
    assert len(with_examples) >= 30, with_examples
    total = sum(t for t, _ in counts.values())
    skipped = sum(s for _, s in counts.values())
    assert skipped <= 0.15 * total, f"{skipped} of {total} examples are skipped"
