"""How every console script's ``--help`` shows defaults: one formatter, used by all.

:class:`DefaultsHelpFormatter` appends ``(default: VALUE)`` to the help of every option
whose default is a value (lists are shown space-separated, as they are typed; an empty
list is ``none``). It leaves alone the help of flags (``store_true``), of options whose
default is ``None`` (their help says what ``None`` means, in words) and of help texts
that already say their default. Descriptions and epilogs are wrapped paragraph by
paragraph (blank lines between paragraphs are kept); indented lines (examples of
commands) are kept as written.

Example:
    >>> import argparse
    >>> p = argparse.ArgumentParser(prog="demo", formatter_class=DefaultsHelpFormatter)
    >>> _ = p.add_argument("--size", type=int, default=224, help="side in pixels")
    >>> _ = p.add_argument("--splits", nargs="+", default=["train", "val"], help="splits")
    >>> _ = p.add_argument("--out", help="folder (default: ./out)")
    >>> _ = p.add_argument("--fast", action="store_true", help="skip checks")
    >>> text = " ".join(p.format_help().split())  # one line, whatever the terminal width
    >>> [s in text for s in ("side in pixels (default: 224)", "splits (default: train val)",
    ...                      "folder (default: ./out)", "skip checks (default")]
    [True, True, True, False]
    >>> format_default(["a", 1]), format_default([]), format_default(0.1)
    ('a 1', 'none', '0.1')
"""

from __future__ import annotations

import argparse
import textwrap
from typing import Any

__all__ = ["DefaultsHelpFormatter", "format_default", "shows_default"]


def format_default(value: Any) -> str:
    """A default as a user would type it: lists space-separated, ``[]`` as ``none``."""
    if isinstance(value, (list, tuple)):
        return " ".join(map(str, value)) if value else "none"
    return str(value)


def shows_default(action: argparse.Action) -> bool:
    """Whether the formatter appends ``action``'s default (a value, not a flag or None)."""
    if action.default is None or action.default is argparse.SUPPRESS:
        return False
    return action.nargs != 0  # store_true / store_false / help: the flag is its own default


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Help text with ``(default: VALUE)`` appended where a default is a value.

    A help text that already mentions its default (``default`` in it, or ``%(default)``)
    is kept as written.
    """

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs = []
        for para in text.strip("\n").split("\n\n"):
            out: list[str] = []
            words: list[str] = []
            for line in [*para.splitlines(), None]:
                if line is None or line.startswith("  "):  # an indented line: as written
                    if words:
                        out.append(textwrap.fill(" ".join(words), width, initial_indent=indent,
                                                 subsequent_indent=indent))  # fmt: skip
                        words = []
                    if line is not None:
                        out.append(indent + line)
                else:
                    words += line.split()
            paragraphs.append("\n".join(out))
        return "\n\n".join(paragraphs)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if not shows_default(action) or "default" in text.lower():
            return text
        shown = format_default(action.default).replace("%", "%%")
        return f"{text} (default: {shown})" if text else f"(default: {shown})"
