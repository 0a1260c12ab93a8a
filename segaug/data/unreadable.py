"""Unreadable images: left out with one warning, or one error naming the file.

A dataset of millions of files holds a few that cannot be decoded (a truncated JPEG,
a zero-byte file from an interrupted copy). A map-style dataset has a fixed length,
so an unreadable item is *left out* by reading the next readable item in its place
(``index + 1``, ``index + 2``, ... wrapping around): the epoch keeps its length and
no batch is short. What happens is chosen by ``on_bad_image``:

* ``"skip"`` (default): the first unreadable file in a process gives one
  :class:`BadImageWarning` (its path and the reason); later ones are silent but
  every one is recorded in :attr:`UnreadableImages.found` and, when a log file is
  set (``simclr-train`` sets ``RUN/unreadable_images.txt``), appended there as
  ``path<TAB>reason``, also from DataLoader worker processes;
* ``"error"``: the first unreadable file stops the run with a :class:`BadImageError`,
  one line naming the file.

Files that ``segaug-precompute-masks`` could not read are recorded in the mask cache,
and a dataset reading that cache knows them from the start (one warning with the
count and the first paths), without trying to decode them again.

Example:
    >>> policy = UnreadableImages("skip", describe=lambda i: f"img{i}.jpg")
    >>> def read(i):
    ...     if i == 1:
    ...         raise OSError("image file is truncated")
    ...     return i * 10
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     [policy.read(i, 3, read) for i in range(3)]
    [0, 20, 20]
    >>> policy.found
    {1: 'OSError: image file is truncated'}
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from PIL import Image, UnidentifiedImageError

from segaug.constants import ON_BAD_IMAGE

__all__ = [
    "BAD_IMAGE_ERRORS",
    "BadImageError",
    "BadImageWarning",
    "UnreadableImages",
    "append_unreadable_log",
    "describe_item",
    "read_unreadable_log",
]

BAD_IMAGE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # truncated, zero-byte and unidentifiable files (PIL.UnidentifiedImageError)
    SyntaxError,  # PIL's "broken PNG file" and similar
    EOFError,
    ValueError,  # e.g. "Decompressed Data Too Large"
    Image.DecompressionBombError,
)
"""What reading a corrupt file raises (PIL and torchvision loaders)."""

T = TypeVar("T")


class BadImageError(ValueError):
    """An image file cannot be read and ``on_bad_image`` is ``"error"`` (names the file)."""


class BadImageWarning(UserWarning):
    """An unreadable image was left out (``on_bad_image="skip"``)."""


def describe_item(base: object, index: int, key: str | None = None) -> str:
    """The file of item ``index`` of ``base``: its path when ``base`` lists paths
    (``samples`` of a torchvision ``ImageFolder``, or ``paths``), else its key or index.

    Example:
        >>> class Folder:
        ...     samples = [("/data/cat/001.jpg", 0)]
        >>> describe_item(Folder(), 0), describe_item([], 3, key="00000003")
        ("'/data/cat/001.jpg'", "'00000003' (item 3)")
    """
    for name in ("samples", "paths"):
        entries = getattr(base, name, None)
        if isinstance(entries, Sequence) and 0 <= index < len(entries):
            entry = entries[index]
            path = entry[0] if isinstance(entry, tuple) else entry
            if isinstance(path, (str, os.PathLike)):
                return repr(os.fspath(path))
    return f"{key!r} (item {index})" if key is not None else f"item {index}"


def _reason(err: BaseException) -> str:
    if isinstance(err, UnidentifiedImageError):  # its message repeats the file object
        return "UnidentifiedImageError: not an image file PIL can identify"
    text = " ".join(str(err).split()) or "no message"
    return f"{type(err).__name__}: {text}"


class UnreadableImages:
    """Reads items through a policy for unreadable files.

    Args:
        on_bad_image: ``"skip"`` (leave the file out, read the next readable item
            instead) or ``"error"`` (raise :class:`BadImageError`).
        describe: ``index -> text`` naming the item's file (its path when known).
        known: Items already known to be unreadable (``index -> reason``), e.g. from
            a mask cache; they are never read.
        argument: How the setting is called where the user sets it (in messages).

    Attributes:
        found: ``index -> reason`` of every unreadable item this process met or knew.
        log_path: When set, every newly found unreadable item is appended to this
            text file as ``description<TAB>reason`` (safe from worker processes).

    Raises:
        ValueError: If ``on_bad_image`` is not one of :data:`ON_BAD_IMAGE`.
    """

    def __init__(
        self,
        on_bad_image: str = "skip",
        describe: Callable[[int], str] = str,
        known: dict[int, str] | None = None,
        argument: str = "on_bad_image",
    ) -> None:
        if on_bad_image not in ON_BAD_IMAGE:
            raise ValueError(
                f"{argument} must be one of {', '.join(ON_BAD_IMAGE)}, got {on_bad_image!r}"
            )
        self.on_bad_image = on_bad_image
        self.describe = describe
        self.argument = argument
        self.found: dict[int, str] = dict(known or {})
        self.log_path: Path | None = None
        self._warned = False

    def error(self, index: int, reason: str) -> BadImageError:
        """The one-line error for an unreadable item."""
        return BadImageError(
            f"cannot read image {self.describe(index)} ({reason}); fix or remove the file, "
            f"or set {self.argument}=skip to leave unreadable files out"
        )

    def _record(self, index: int, reason: str) -> None:
        self.found[index] = reason
        if self.log_path is not None:
            try:
                append_unreadable_log(self.log_path, {self.describe(index): reason})
            except OSError as err:  # the record is a convenience: never fail a read on it
                warnings.warn(f"cannot write {self.log_path}: {err}", BadImageWarning, 2)
                self.log_path = None
        if not self._warned:
            self._warned = True
            where = f"; every such file is listed in {self.log_path}" if self.log_path else ""
            warnings.warn(
                f"cannot read image {self.describe(index)} ({reason}): it is left out and the "
                f"next readable image takes its place{where}; set {self.argument}=error "
                "to stop instead",
                BadImageWarning,
                stacklevel=4,
            )

    def read(self, index: int, length: int, read: Callable[[int], T]) -> T:
        """``read(index)``, or under ``"skip"`` the next readable item's.

        Args:
            index: The item asked for, in ``[0, length)``.
            length: Number of items (the search wraps around).
            read: Reads one item; raises one of :data:`BAD_IMAGE_ERRORS` for a bad file.

        Raises:
            BadImageError: Under ``"error"`` for an unreadable item; under ``"skip"``
                when no item at all can be read.
        """
        for step in range(length):
            i = (index + step) % length
            if i in self.found:
                if self.on_bad_image == "error":
                    raise self.error(i, self.found[i])
                continue
            try:
                return read(i)
            except BAD_IMAGE_ERRORS as err:
                if self.on_bad_image == "error":
                    raise self.error(i, _reason(err)) from None
                self._record(i, _reason(err))
        raise BadImageError(
            f"none of the {length} images can be read (first: {self.describe(index)})"
        )


def append_unreadable_log(path: str | os.PathLike[str], entries: dict[str, str]) -> None:
    """Append ``description<TAB>reason`` lines to a log (one ``write`` per line, so
    appends from several processes do not interleave)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        for name, reason in entries.items():
            os.write(fd, f"{name}\t{' '.join(reason.split())}\n".encode())
    finally:
        os.close(fd)


def read_unreadable_log(path: str | os.PathLike[str]) -> dict[str, str]:
    """``description -> reason`` of the files listed in a log written by :class:`UnreadableImages`.

    Lines appended by several processes for the same file count once; a missing log
    is empty.

    Example:
        >>> read_unreadable_log("/nonexistent/unreadable_images.txt")
        {}
    """
    p = Path(path)
    if not p.is_file():
        return {}
    out: dict[str, str] = {}
    for line in p.read_text(errors="replace").splitlines():
        name, _, reason = line.partition("\t")
        if name:
            out.setdefault(name, reason)
    return out
