"""Atomic checkpoints with everything needed to resume bit-for-bit.

A checkpoint holds the model (method + probe), optimisers, scheduler, AMP scaler,
RNG states of every process (torch CPU, CUDA, numpy, python), epoch and step counters,
the config, and the per-epoch meters of a mid-epoch save. Files are written to a
temporary file in the same directory and moved into place with ``os.replace``, so a
run killed while saving leaves the previous checkpoint intact.

Checkpoints hold only tensors and plain containers (dict, list, tuple, str, int, float,
bool, None): the numpy RNG state is stored as a tensor plus numbers, so every file
loads with ``torch.load(weights_only=True)``, and :func:`load_checkpoint` reads them
that way only. A file that would need a full unpickle (which can run code) is refused
with an error naming the file. Methods may add their own state under a top-level
``"method_state"`` dict of tensors and plain containers.

Example:
    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> atomic_save({"step": 3}, os.path.join(d, "last.pt"))
    >>> load_checkpoint(d)["step"]
    3
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from segaug.io import (
    UnreadableTorchFileError,
    UnsafeCheckpointError,
    load_torch_file,
    save_torch_file,
)

__all__ = [
    "LAST",
    "UnsafeCheckpointError",
    "all_finite",
    "atomic_save",
    "capture_rng",
    "load_checkpoint",
    "newest_loadable_checkpoint",
    "resolve_checkpoint",
    "restore_rng",
    "upgrade_checkpoint",
]

LAST = "last.pt"


def atomic_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary file next to ``path``, then ``os.replace``."""
    save_torch_file(obj, path, fsync=True)


def resolve_checkpoint(path: str | os.PathLike, context: str = "resume") -> Path:
    """A checkpoint file, or a run directory (meaning its ``last.pt``).

    Args:
        path: A ``.pt`` file or a run directory.
        context: What the caller is doing, first word of the error (``resume``,
            ``checkpoint``, ...).

    Raises:
        ValueError: If nothing loadable is there.
    """
    p = Path(path)
    if p.is_dir():
        p = p / LAST
    if not p.is_file():
        raise ValueError(
            f"{context}: no checkpoint at {str(p)!r} (expected a .pt file or a run dir)"
        )
    return p


def load_checkpoint(
    path: str | os.PathLike,
    map_location: str | torch.device = "cpu",
    context: str = "resume",
) -> dict:
    """Load a checkpoint file or a run directory's ``last.pt`` (``weights_only=True``).

    Args:
        path: A ``.pt`` file or a run directory.
        map_location: Where tensors go.
        context: First word of error messages (what the caller is doing).

    Raises:
        UnsafeCheckpointError: The file needs a full unpickle (a ValueError subclass;
            the message names the file).
        ValueError: Missing, unreadable or not a dict. An empty, truncated or corrupted
            file (whatever ``torch.load`` raised on it) is named with the newest
            ``epoch_*.pt`` of its folder that loads (:func:`newest_loadable_checkpoint`),
            as ``--resume PATH`` when ``context`` is ``resume``, or says none loads.
    """
    p = resolve_checkpoint(path, context)
    try:
        obj = load_torch_file(p, map_location=map_location)
    except UnsafeCheckpointError as err:
        hint = (
            "; if it is an older simclr-train checkpoint you trust, convert it once with "
            f"python -m simclr.checkpoint --upgrade {str(p)!r}"
            if "numpy" in str(err)
            else ""
        )
        raise UnsafeCheckpointError(f"{context}: {err}{hint}") from None
    except UnreadableTorchFileError as err:  # empty, truncated or corrupted
        raise ValueError(
            f"{context}: cannot read checkpoint {str(p)!r}: {err.reason}; {_fallback(p, context)}"
        ) from None
    if not isinstance(obj, dict):
        raise ValueError(
            f"{context}: {str(p)!r} is not a checkpoint (expected a dict, got {type(obj).__name__})"
        )
    return obj


def _epoch_number(path: Path) -> int:
    """The epoch of an ``epoch_XXXX.pt`` file name (-1 when the name is not one)."""
    digits = path.stem.removeprefix("epoch_")
    return int(digits) if digits.isdigit() else -1


def newest_loadable_checkpoint(folder: str | os.PathLike, skip: Path | None = None) -> Path | None:
    """The ``epoch_XXXX.pt`` of ``folder`` with the highest epoch that loads, or None.

    Each candidate, newest first, is read with :func:`segaug.io.load_torch_file` until
    one loads as a dict; ``skip`` (the file that failed) is not tried again.

    Example:
        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp())
        >>> for e in (1, 2):
        ...     atomic_save({"epoch": e}, d / f"epoch_{e:04d}.pt")
        >>> _ = (d / "epoch_0003.pt").write_bytes(b"")  # cut off while written elsewhere
        >>> newest_loadable_checkpoint(d).name
        'epoch_0002.pt'
        >>> newest_loadable_checkpoint(d / "none") is None
        True
    """
    candidates = sorted(
        (q for q in Path(folder).glob("epoch_*.pt") if _epoch_number(q) >= 0 and q != skip),
        key=_epoch_number,
        reverse=True,
    )
    for q in candidates:
        try:
            if isinstance(load_torch_file(q), dict):
                return q
        except (ValueError, OSError):  # unreadable too: try an older one
            continue
    return None


def _fallback(broken: Path, context: str) -> str:
    """What to do about an unreadable checkpoint: the newest one beside it that loads."""
    good = newest_loadable_checkpoint(broken.parent, skip=broken)
    if good is not None:
        if context == "resume":
            return f"the newest checkpoint there that loads is {good.name}: --resume {good}"
        return f"the newest checkpoint there that loads is {good}"
    others = [q for q in broken.parent.glob("epoch_*.pt") if q != broken]
    if others:
        said = f"none of the {len(others)} epoch_*.pt files in {str(broken.parent)!r} loads either"
    else:
        said = f"{str(broken.parent)!r} holds no epoch_*.pt to fall back on"
    return said + ("; start the run again with --overwrite" if context == "resume" else "")


def _numpy_state_to_plain(state: tuple) -> dict[str, Any]:
    kind, keys, pos, has_gauss, gauss = state
    return {
        "kind": str(kind),
        "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
        "pos": int(pos),
        "has_gauss": int(has_gauss),
        "cached_gaussian": float(gauss),
    }


def _numpy_state_from_plain(state: Any) -> Any:
    if not isinstance(state, dict):  # an in-memory tuple from np.random.get_state()
        return state
    keys = state["keys"].numpy().astype(np.uint32)
    return (state["kind"], keys, state["pos"], state["has_gauss"], state["cached_gaussian"])


def capture_rng(device: torch.device) -> dict[str, Any]:
    """RNG states of torch (CPU and the CUDA device), numpy and python.

    Only tensors and plain containers, so a checkpoint holding it loads with
    ``torch.load(weights_only=True)``.

    Example:
        >>> s = capture_rng(torch.device("cpu"))
        >>> a = torch.rand(1).item(), float(np.random.rand()), random.random()
        >>> restore_rng(s, torch.device("cpu"))
        >>> (torch.rand(1).item(), float(np.random.rand()), random.random()) == a
        True
    """
    state = {
        "torch": torch.get_rng_state(),
        "numpy": _numpy_state_to_plain(np.random.get_state()),
        "python": random.getstate(),
        "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
    }
    return state


def restore_rng(state: dict[str, Any], device: torch.device) -> None:
    """Inverse of :func:`capture_rng`."""
    torch.set_rng_state(state["torch"])
    np.random.set_state(_numpy_state_from_plain(state["numpy"]))
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    if state.get("cuda") is not None and device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda"], device)


def all_finite(module: torch.nn.Module) -> bool:
    """True if every parameter and floating buffer of ``module`` is finite."""
    for t in list(module.parameters()) + list(module.buffers()):
        if t.is_floating_point() and not torch.isfinite(t).all():
            return False
    return True


def upgrade_checkpoint(path: str | os.PathLike) -> Path:
    """Rewrite a checkpoint from before safe loading so it loads with ``weights_only=True``.

    Older checkpoints stored numpy's RNG state as a numpy array. This loads the file
    with a **full unpickle** (which can run code: only for files you trust), turns
    every numpy RNG state into tensors and numbers, and saves it atomically in place.

    Args:
        path: A checkpoint file or a run directory (its ``last.pt``).

    Returns:
        The rewritten file.

    Raises:
        ValueError: If there is no checkpoint there, or it still does not load safely.
    """
    p = resolve_checkpoint(path, context="upgrade")
    state = torch.load(p, map_location="cpu", weights_only=False)
    for rng in state.get("rng", []) if isinstance(state, dict) else []:
        if isinstance(rng, dict) and not isinstance(rng.get("numpy"), (dict, type(None))):
            rng["numpy"] = _numpy_state_to_plain(rng["numpy"])
    atomic_save(state, p)
    load_checkpoint(p, context="upgrade")  # proves it now loads with weights_only=True
    return p


def main(argv: list[str] | None = None) -> int:
    """``python -m simclr.checkpoint --upgrade PATH...``: convert trusted old checkpoints."""
    import argparse

    from segaug.errors import USER_ERRORS, report_error

    parser = argparse.ArgumentParser(
        prog="python -m simclr.checkpoint",
        description="Rewrite trusted checkpoints from before safe loading (weights_only=True).",
    )
    parser.add_argument(
        "--upgrade",
        nargs="+",
        required=True,
        metavar="PATH",
        help="checkpoint files or run directories (their last.pt) to rewrite in place",
    )
    args = parser.parse_args(argv)
    try:
        for path in args.upgrade:
            print(f"upgraded {upgrade_checkpoint(path)}")
    except USER_ERRORS as err:
        return report_error("python -m simclr.checkpoint", err)
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
