"""Every console script's ``--help``: every option has help text and shows its default.

Each script of ``[project.scripts]`` exposes the function that builds its parser; every
option must say what it does, an option whose default is a value must show it, and one
whose default is ``None`` must say in words what that means. ``--help`` itself is run as
a subprocess, as users type it.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from segaug.cli.precompute_masks import build_parser as precompute_parser
from segaug.cli.visualize import build_parser as visualize_parser
from segaug.helptext import format_default
from simclr.compare.cli import build_parser as compare_parser
from simclr.evaluate.cli import build_compare_parser, build_eval_parser
from simclr.train import build_parser as train_parser

ROOT = Path(__file__).resolve().parents[1]

# console script -> (module run with ``python -m``, extra argv, parser builder)
SCRIPTS: dict[str, list[tuple[str, list[str], Callable[[], argparse.ArgumentParser]]]] = {
    "segaug-precompute-masks": [("segaug.cli.precompute_masks", [], precompute_parser)],
    "segaug-visualize": [("segaug.cli.visualize", [], visualize_parser)],
    "simclr-train": [("simclr.train", [], train_parser)],
    "simclr-eval": [
        ("simclr.evaluate", [], build_eval_parser),
        ("simclr.evaluate", ["compare"], build_compare_parser),
    ],
    "segaug-compare": [("simclr.compare", [], compare_parser)],
}
CASES = [
    pytest.param(module, argv, build, id=" ".join([name, *argv]))
    for name, entries in SCRIPTS.items()
    for module, argv, build in entries
]
# what a None default may be explained with
NONE_EXPLAINED = re.compile(r"default|required|and exit", re.I)


def _expanded_help(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    """The help text of ``action`` as ``--help`` prints it (one line, defaults filled in)."""
    text = parser._get_formatter()._expand_help(action)  # noqa: SLF001 - argparse's own
    return " ".join(text.split())


def test_every_console_script_is_covered() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    section = re.search(r"^\[project\.scripts\]\s*$(.*?)(?=^\[|\Z)", text, re.M | re.S)
    assert section, "pyproject.toml has no [project.scripts] section"
    scripts = re.findall(r"^([\w-]+)\s*=", section.group(1), re.M)
    assert set(scripts) == set(SCRIPTS)


@pytest.mark.parametrize(("module", "argv", "build"), CASES)
def test_every_option_has_help_and_shows_its_default(module, argv, build) -> None:
    parser = build()
    missing, hidden, unexplained = [], [], []
    for action in parser._actions:  # noqa: SLF001
        if isinstance(action, argparse._HelpAction):  # noqa: SLF001
            continue
        name = "/".join(action.option_strings) or action.dest
        if not (action.help or "").strip():
            missing.append(name)
            continue
        text = _expanded_help(parser, action)
        if action.default is None:
            if action.option_strings and not NONE_EXPLAINED.search(text):
                unexplained.append(f"{name}: {text}")
        elif action.nargs != 0:  # a value default (flags are their own default)
            shown = format_default(action.default)
            if "default" not in text.lower() or shown not in text:
                hidden.append(f"{name} (default {action.default!r}): {text}")
    assert not missing, f"options without help text: {missing}"
    assert not hidden, "options that do not show their default:\n" + "\n".join(hidden)
    assert not unexplained, "a None default not explained:\n" + "\n".join(unexplained)


@functools.cache
def _run_help(module: str, argv: tuple[str, ...]) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "100", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", module, *argv, "--help"],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=180,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.stdout


@pytest.mark.parametrize(("module", "argv", "build"), CASES)
def test_help_prints_a_text_and_the_defaults_of_every_option(module, argv, build) -> None:
    out = _run_help(module, tuple(argv))
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("options:"))
    bare = []  # option lines with no help text after them or on the next line
    for i, line in enumerate(lines[start + 1 :], start + 1):
        if not line.startswith("  -"):
            if not line.strip():
                break  # the end of the options section
            continue
        invocation, _, rest = line.strip().partition("  ")
        follows = i + 1 < len(lines) and lines[i + 1].startswith(" " * 8)
        if not rest.strip() and not follows:
            bare.append(invocation)
    assert not bare, f"options without help text in --help: {bare}"
    flat = " ".join(out.split())
    parser = build()
    for action in parser._actions:  # noqa: SLF001
        for flag in action.option_strings:
            assert flag in out
        if action.default is not None and action.nargs != 0:
            if action.default is not argparse.SUPPRESS:
                assert format_default(action.default) in flat, action.dest


def test_bare_compare_help_says_what_it_runs_how_long_and_where() -> None:
    flat = " ".join(_run_help("simclr.compare", ()).split())
    assert "A bare `segaug-compare` runs the default study" in flat
    assert "synthetic (4096 images, 32 px)" in flat
    assert "20 simclr pretraining runs of 6 epochs" in flat
    assert "objects alone, simclr, thesis, background_fill x seeds 0 1 2 3 4" in flat
    assert "about 15 minutes on 2 CPU cores" in flat
    assert "writes runs/compare-<timestamp>/" in flat
