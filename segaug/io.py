"""Files: one atomic write, and a ``torch.load`` that never unpickles code.

Every file segaug and simclr write (checkpoints, feature caches, mask-cache chunks,
reports, the synthetic dataset's ``.npz``) goes through :func:`atomic_open`: the data
is written to a hidden temporary file in the same directory (``.tmp-<uuid>-<name>``)
and moved into place with ``os.replace``, so readers see either the old file or the
whole new one, never a truncated one; a failed write removes its temporary file.

Every ``.pt`` file is read back with :func:`load_torch_file`, which is
``torch.load(weights_only=True)``: tensors and plain containers (dict, list, tuple,
str, int, float, bool, None) only. A file that would need unpickling of arbitrary
objects is refused with a :class:`UnsafeCheckpointError` naming the file.

Example:
    >>> import tempfile, os, torch
    >>> d = tempfile.mkdtemp()
    >>> atomic_write(os.path.join(d, "a.txt"), "hello")
    >>> open(os.path.join(d, "a.txt")).read()
    'hello'
    >>> save_torch_file({"w": torch.ones(2), "step": 3}, os.path.join(d, "a.pt"))
    >>> load_torch_file(os.path.join(d, "a.pt"))["step"]
    3
    >>> sorted(os.listdir(d))  # no temporary files left behind
    ['a.pt', 'a.txt']
"""

from __future__ import annotations

import contextlib
import os
import pickle
import re
import uuid
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import torch

__all__ = [
    "TMP_PREFIX",
    "UnreadableTorchFileError",
    "UnsafeCheckpointError",
    "atomic_open",
    "atomic_write",
    "load_torch_file",
    "save_torch_file",
]

TMP_PREFIX = ".tmp-"
"""Name prefix of a file being written (readers and cache scans ignore such files)."""


class UnsafeCheckpointError(ValueError):
    """A ``.pt`` file holds objects that only a full (code-running) unpickle could load."""


class UnreadableTorchFileError(ValueError):
    """A file ``torch.load`` cannot read: empty, truncated, corrupted or not a torch file.

    Attributes:
        path: The file.
        reason: Why, in words, with ``torch.load``'s own error (type and first sentence).
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"cannot read {path!r}: {reason}")
        self.path = path
        self.reason = reason


def _unreadable(name: str, err: BaseException) -> UnreadableTorchFileError:
    """The error of a file ``torch.load`` failed on, whatever it raised.

    On a damaged file ``torch.load`` raises ``EOFError`` (empty), ``RuntimeError``
    (``failed finding central directory``: the end of the zip archive is missing),
    ``OSError`` (``[Errno 22] Invalid argument``: the archive's records point past the
    end), ``pickle.UnpicklingError`` or ``KeyError`` (not a torch file), depending on
    where the file was cut.
    """
    size = os.path.getsize(name)
    if size == 0:
        return UnreadableTorchFileError(
            name, "the file is empty (0 bytes): truncated or never written"
        )
    first = (str(err).splitlines() or [""])[0].split(". ")[0].strip()
    detail = f"{type(err).__name__}: {first}" if first else type(err).__name__
    return UnreadableTorchFileError(
        name,
        f"truncated or corrupted, or not a torch.save file ({size} bytes; torch.load: {detail})",
    )


@contextlib.contextmanager
def atomic_open(
    path: str | os.PathLike[str], mode: str = "wb", *, fsync: bool = False
) -> Iterator[IO[Any]]:
    """Open a temporary file next to ``path``; on success move it onto ``path``.

    Args:
        path: Final file path (parent directories are created).
        mode: ``"wb"`` (binary) or ``"w"`` (text).
        fsync: Flush the data to disk before the rename (checkpoints, cache chunks).

    Yields:
        The open temporary file.

    Raises:
        ValueError: If ``mode`` is not ``"wb"`` or ``"w"``.

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "sub", "x.bin")
        >>> with atomic_open(p) as f:
        ...     _ = f.write(b"abc")
        >>> open(p, "rb").read()
        b'abc'
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f"{TMP_PREFIX}{uuid.uuid4().hex}-{path.name}"
    try:
        with open(tmp, mode.replace("w", "x")) as f:
            yield f
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def atomic_write(
    path: str | os.PathLike[str], data: str | bytes | Iterable[bytes], *, fsync: bool = False
) -> None:
    """Write ``data`` (text, bytes, or an iterable of byte chunks) to ``path`` atomically.

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "x.bin")
        >>> atomic_write(p, [b"ab", b"c"])
        >>> open(p, "rb").read()
        b'abc'
    """
    if isinstance(data, str):
        with atomic_open(path, "w", fsync=fsync) as f:
            f.write(data)
        return
    with atomic_open(path, "wb", fsync=fsync) as f:
        for part in [data] if isinstance(data, (bytes, bytearray, memoryview)) else data:
            f.write(part)


def save_torch_file(obj: Any, path: str | os.PathLike[str], *, fsync: bool = True) -> None:
    """``torch.save`` through :func:`atomic_open` (see :func:`load_torch_file`)."""
    with atomic_open(path, "wb", fsync=fsync) as f:
        torch.save(obj, f)


def load_torch_file(path: str | os.PathLike[str], map_location: Any = "cpu") -> Any:
    """``torch.load(path, weights_only=True)``: tensors and plain containers only.

    Args:
        path: A file written by ``torch.save``.
        map_location: Where tensors go (default CPU).

    Returns:
        The loaded object.

    Raises:
        UnsafeCheckpointError: If the file holds other objects (it would need a full
            unpickle, which can run code); the message names the file and the type.
        UnreadableTorchFileError: If the file cannot be read (empty, truncated,
            corrupted, not a torch file), whatever ``torch.load`` raised; a ``ValueError``.
        FileNotFoundError: If ``path`` does not exist.
        PermissionError: If it cannot be opened.
    """
    name = os.fspath(path)
    if not os.path.exists(name):
        raise FileNotFoundError(f"no such file: {name!r}")
    try:
        with warnings.catch_warnings():  # a plain pickle's protocol: the error says enough
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(name, map_location=map_location, weights_only=True)
    except PermissionError:
        raise
    except pickle.UnpicklingError as err:
        detail = str(err)
        if "Weights only load failed" not in detail:
            raise _unreadable(name, err) from None
        operand = re.search(r"Unsupported operand (\d+)", detail)
        if operand:  # a byte no torch.save file holds: garbage, or a plain pickle
            raise UnreadableTorchFileError(
                name,
                f"truncated or corrupted, or not a torch.save file (pickle opcode "
                f"{operand.group(1)} is not allowed)",
            ) from None
        glob = re.search(r"Unsupported global: (?:GLOBAL )?(\S+)", detail)
        what = glob.group(1) if glob else "objects other than tensors and plain containers"
        raise UnsafeCheckpointError(
            f"refusing to load {name!r}: it needs a full unpickle ({what}), which could "
            "run arbitrary code; only tensors and plain containers are loaded "
            "(torch.load weights_only=True)"
        ) from None
    except Exception as err:  # EOFError, RuntimeError, OSError, KeyError, zipfile errors, ...
        raise _unreadable(name, err) from None
