"""How every console script reports a user's mistake: one line, exit status 2.

``segaug-precompute-masks``, ``segaug-visualize``, ``simclr-train`` and ``simclr-eval``
wrap their work in :func:`user_errors`. An error the user can fix (bad value, missing
dataset or file, a path that is a file instead of a folder, refused checkpoint) ends in
``prog: error: <message>`` on stderr and exit status 2, as argparse does for a bad
flag; never in a traceback. Anything else is a bug or a failed run and propagates.

Example:
    >>> import sys, contextlib, io
    >>> err = io.StringIO()
    >>> with contextlib.redirect_stderr(err):
    ...     with user_errors("demo") as status:
    ...         raise ValueError("data.root: expected a folder,\\ngot '/nope'")
    >>> status.code, err.getvalue()
    (2, "demo: error: data.root: expected a folder, got '/nope'\\n")
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = [
    "USER_ERRORS",
    "ExitStatus",
    "one_line",
    "one_line_warnings",
    "report_error",
    "user_errors",
]


def _user_error_types() -> tuple[type[BaseException], ...]:
    from segaug.masks.cache import CorruptMaskError, MissingMaskError
    from segaug.masks.deeplab import WeightsUnavailableError

    return (
        ValueError,  # bad values, unknown names, refused checkpoints (UnsafeCheckpointError)
        FileNotFoundError,  # missing file or dataset (DatasetNotFoundError)
        NotADirectoryError,
        IsADirectoryError,
        FileExistsError,
        PermissionError,
        MissingMaskError,
        CorruptMaskError,  # a cached mask failed its checksum (names key, chunk, repair)
        WeightsUnavailableError,
    )


USER_ERRORS: tuple[type[BaseException], ...] = _user_error_types()
"""Exception types a console script reports in one line with exit status 2."""


def one_line(err: BaseException) -> str:
    """The error's message on one line (line breaks become spaces).

    An error re-raised from a DataLoader worker carries the worker's traceback in its
    message; only the original message is kept.

    Example:
        >>> one_line(FileNotFoundError(2, "No such file or directory", "/nope"))
        "No such file or directory: '/nope'"
        >>> worker = ["Caught ValueError in DataLoader worker process 0.",
        ...           "Original Traceback (most recent call last):", "  File ...",
        ...           "ValueError: mask 'k' is bad"]
        >>> one_line(ValueError(chr(10).join(worker)))
        "mask 'k' is bad"
    """
    if isinstance(err, OSError) and err.strerror:  # drop the "[Errno 2]" prefix
        text = f"{err.strerror}: {err.filename!r}" if err.filename else err.strerror
    else:
        text = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
    if "Original Traceback (most recent call last):" in text:
        last = [line for line in text.splitlines() if line.strip()][-1]
        head, sep, rest = last.partition(": ")
        text = rest if sep and head.replace(".", "").replace("_", "").isalnum() else last
    text = " ".join(part.strip() for part in text.splitlines() if part.strip())
    return text or type(err).__name__


def report_error(prog: str, err: BaseException) -> int:
    """Print ``prog: error: message`` to stderr; returns 2."""
    print(f"{prog}: error: {one_line(err)}", file=sys.stderr)
    return 2


@dataclass
class ExitStatus:
    """Set by :func:`user_errors`: 0, or 2 after a reported user error."""

    code: int = 0


@contextlib.contextmanager
def one_line_warnings(prog: str) -> Iterator[None]:
    """Show warnings raised in the block as one line each, ``prog: warning: message``
    (not Python's two-line form with the source line).

    Example:
        >>> import sys, contextlib, io
        >>> err = io.StringIO()
        >>> with contextlib.redirect_stderr(err), warnings.catch_warnings():
        ...     warnings.simplefilter("always")
        ...     with one_line_warnings("demo"):
        ...         warnings.warn("cannot read image 'a.jpg'")
        >>> err.getvalue()
        "demo: warning: cannot read image 'a.jpg'\\n"
    """
    previous = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001
        text = " ".join(str(message).split())
        print(f"{prog}: warning: {text}", file=file or sys.stderr)

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = previous


@contextlib.contextmanager
def user_errors(prog: str) -> Iterator[ExitStatus]:
    """Report a user error raised in the block as one line; set ``status.code`` to 2.

    Warnings are shown as one line each (:func:`one_line_warnings`).
    """
    status = ExitStatus()
    with one_line_warnings(prog):
        try:
            yield status
        except USER_ERRORS as err:
            status.code = report_error(prog, err)
