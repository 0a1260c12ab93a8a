"""The README keeps its promises: its Python runs, its commands exist, its links resolve.

- every fenced ``python`` block of ``README.md`` runs, in order, in a temporary directory,
  on CPU;
- every console script the README names (a backticked ``segaug-*`` / ``simclr-*`` word
  that ``pyproject.toml`` declares under ``[project.scripts]``) answers ``--help`` with
  exit status 0, run as a subprocess;
- every relative link (``[text](path)`` or ``![alt](path)``) in ``README.md`` and in
  ``docs/**/*.md`` points to a file that exists, and a ``#fragment`` on a Markdown file
  names one of its headings (GitHub's anchor rules).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOC_FILES = [README, ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").rglob("*.md"))]

_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```\s*$", re.M | re.S)
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)
_SCRIPT_WORD = re.compile(r"`((?:segaug|simclr)-[a-z-]+)")


def fenced_blocks(text: str, language: str) -> list[str]:
    """The bodies of the fenced code blocks of ``text`` tagged ``language``."""
    return [body for lang, body in _FENCE.findall(text) if lang == language]


def prose(text: str) -> str:
    """``text`` without fenced blocks and inline code (links there are not links)."""
    return _INLINE_CODE.sub("", _FENCE.sub("", text))


def relative_links(text: str) -> list[str]:
    """Link targets of ``text`` that point into the repository (no scheme, no bare anchor)."""
    targets = _LINK.findall(prose(text))
    return [t for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:", t) and not t.startswith("#")]


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to ``-``.

    Emphasis markers go; underscores inside words and code spans stay, as on GitHub.
    """
    parts = re.sub(r"<[^>]+>", "", heading).split("`")
    text = "".join(
        part if i % 2 else re.sub(r"(?<!\w)[*_]+|[*_]+(?!\w)|\*", "", part)
        for i, part in enumerate(parts)
    )
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[^\w\- ]", "", text.lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every anchor of a Markdown file (repeated headings get ``-1``, ``-2``, ...)."""
    seen: dict[str, int] = {}
    out = set()
    for heading in _HEADING.findall(_FENCE.sub("", path.read_text(encoding="utf-8"))):
        slug = github_anchor(heading)
        n = seen.get(slug, 0)
        out.add(slug if n == 0 else f"{slug}-{n}")
        seen[slug] = n + 1
    return out


def declared_scripts() -> dict[str, str]:
    """``[project.scripts]`` of pyproject.toml: script name -> ``module:function``."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    section = re.search(r"^\[project\.scripts\]\s*$(.*?)(?=^\[|\Z)", text, re.M | re.S)
    assert section, "pyproject.toml has no [project.scripts] section"
    return dict(re.findall(r'^\s*([\w.-]+)\s*=\s*"([^"]+)"', section.group(1), re.M))


def readme_scripts() -> list[str]:
    """Console scripts named in the README (backticked words that pyproject declares)."""
    words = set(_SCRIPT_WORD.findall(README.read_text(encoding="utf-8")))
    return sorted(words & set(declared_scripts()))


def help_command(script: str) -> list[str]:
    """How to run ``script --help`` with this interpreter.

    The installed script next to ``sys.executable`` when there is one; otherwise its
    entry point from pyproject.toml, called with the same interpreter.
    """
    installed = Path(sys.executable).with_name(script)
    if installed.is_file() and os.access(installed, os.X_OK):
        return [str(installed), "--help"]
    module, function = declared_scripts()[script].split(":")
    code = f"import sys; from {module} import {function}; sys.exit({function}())"
    return [sys.executable, "-c", code, "--help"]


def test_readme_python_blocks_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = fenced_blocks(README.read_text(encoding="utf-8"), "python")
    assert blocks, "README.md has no python block"
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "__readme__"}
    for i, block in enumerate(blocks):
        try:
            exec(compile(block, f"README.md python block {i + 1}", "exec"), namespace)
        except Exception as err:  # pragma: no cover - the message is the point
            pytest.fail(f"README.md python block {i + 1} failed: {type(err).__name__}: {err}")


def test_readme_names_every_console_script() -> None:
    assert readme_scripts() == sorted(declared_scripts()), (
        "README.md should name every console script of pyproject.toml"
    )


def test_readme_console_scripts_answer_help() -> None:
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    procs = {
        script: subprocess.Popen(
            help_command(script), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        for script in readme_scripts()
    }
    failures = []
    for script, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        if proc.returncode != 0 or "usage:" not in out:
            failures.append(f"{script} --help: exit {proc.returncode}\n{err[-2000:]}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("doc", DOC_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(doc: Path) -> None:
    broken = []
    for target in relative_links(doc.read_text(encoding="utf-8")):
        path_part, _, fragment = target.partition("#")
        path = (doc.parent / path_part).resolve() if path_part else doc
        if not path.exists():
            broken.append(f"{target}: no such file")
        elif fragment and path.suffix == ".md" and fragment not in anchors(path):
            broken.append(f"{target}: no heading #{fragment} in {path.relative_to(ROOT)}")
    assert not broken, f"{doc.relative_to(ROOT)}: " + "; ".join(broken)


def test_link_helpers() -> None:
    text = "see [a](docs/a.md#x), ![b](img.png), [c](https://x.org), [d](#top), `[e](f.md)`"
    assert relative_links(text) == ["docs/a.md#x", "img.png"]
    assert github_anchor("Gradient accumulation (`--accumulate K`)") == (
        "gradient-accumulation---accumulate-k"
    )
    assert (
        github_anchor("The methods × transform-sets study") == "the-methods--transform-sets-study"
    )
    assert github_anchor("On photos: `independent_swap`, **bold** and _it_") == (
        "on-photos-independent_swap-bold-and-it"
    )
