"""Atomic checkpoints with everything needed to resume bit-for-bit.

A checkpoint holds the model (method + probe), optimisers, scheduler, AMP scaler,
RNG states of every process (torch CPU, CUDA, numpy, python), epoch and step counters,
the config, and the per-epoch meters of a mid-epoch save. Files are written to a
temporary file in the same directory and moved into place with ``os.replace``, so a
run killed while saving leaves the previous checkpoint intact.

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
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

LAST = "last.pt"


def atomic_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary file next to ``path``, then ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def resolve_checkpoint(path: str | os.PathLike) -> Path:
    """A checkpoint file, or a run directory (meaning its ``last.pt``).

    Raises:
        ValueError: If nothing loadable is there.
    """
    p = Path(path)
    if p.is_dir():
        p = p / LAST
    if not p.is_file():
        raise ValueError(f"resume: no checkpoint at {str(p)!r} (expected a .pt file or a run dir)")
    return p


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint file or a run directory's ``last.pt``."""
    p = resolve_checkpoint(path)
    try:
        return torch.load(p, map_location=map_location, weights_only=False)
    except Exception as err:  # corrupted or truncated file
        raise ValueError(f"resume: cannot read checkpoint {str(p)!r}: {err}") from err


def capture_rng(device: torch.device) -> dict[str, Any]:
    """RNG states of torch (CPU and the CUDA device), numpy and python."""
    state = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
        "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
    }
    return state


def restore_rng(state: dict[str, Any], device: torch.device) -> None:
    """Inverse of :func:`capture_rng`."""
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if state.get("cuda") is not None and device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda"], device)


def all_finite(module: torch.nn.Module) -> bool:
    """True if every parameter and floating buffer of ``module`` is finite."""
    for t in list(module.parameters()) + list(module.buffers()):
        if t.is_floating_point() and not torch.isfinite(t).all():
            return False
    return True
