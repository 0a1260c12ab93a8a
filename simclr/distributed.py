"""Process-group helpers for ``torchrun`` (DDP) runs; single-process runs need none.

Example:
    >>> from simclr.distributed import world_size, rank
    >>> world_size(), rank()
    (1, 0)
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor


@dataclass
class DistInfo:
    """Where this process sits. ``enabled`` is False for plain single-process runs."""

    enabled: bool
    rank: int
    world_size: int
    local_rank: int


def is_enabled() -> bool:
    """True when a default process group is initialised."""
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    """Number of processes (1 without a process group)."""
    return dist.get_world_size() if is_enabled() else 1


def rank() -> int:
    """Global rank (0 without a process group)."""
    return dist.get_rank() if is_enabled() else 0


def is_main() -> bool:
    """True on rank 0 (the process that logs and writes checkpoints)."""
    return rank() == 0


def init_from_env(device_type: str) -> DistInfo:
    """Initialise the process group when launched by ``torchrun`` (``WORLD_SIZE`` > 1).

    Uses NCCL for CUDA and gloo for CPU. Reuses an existing group if one is set up.
    """
    if is_enabled():
        return DistInfo(True, dist.get_rank(), dist.get_world_size(), _local_rank())
    ws = int(os.environ.get("WORLD_SIZE", "1"))
    if ws <= 1:
        return DistInfo(False, 0, 1, 0)
    backend = "nccl" if device_type == "cuda" else "gloo"
    if device_type == "cuda":
        torch.cuda.set_device(_local_rank())
    dist.init_process_group(backend=backend, timeout=datetime.timedelta(minutes=30))
    return DistInfo(True, dist.get_rank(), dist.get_world_size(), _local_rank())


def _local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def all_gather_with_grad(x: Tensor) -> Tensor:
    """Concatenate ``x`` from every process along dim 0, keeping gradients.

    The backward pass sums the incoming gradients across processes and returns each
    process its slice (``torch.distributed.nn.functional.all_gather``), so a loss that
    uses remote negatives sends gradients back to the process that produced them (the
    fix lightly and solo-learn made to their gathers without gradients). Identity without
    a process group.

    Shape:
        - Input: ``(n, ...)`` (the same ``n`` on every process)
        - Output: ``(world_size * n, ...)``
    """
    if not is_enabled() or world_size() == 1:
        return x
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(x), dim=0)


def all_reduce_mean(x: Tensor) -> Tensor:
    """Mean of ``x`` over processes (no gradient); identity without a process group."""
    if not is_enabled():
        return x
    y = x.detach().clone()
    dist.all_reduce(y, op=dist.ReduceOp.SUM)
    return y / world_size()


def all_reduce_sum(x: Tensor) -> Tensor:
    """Sum of ``x`` over processes (no gradient); identity without a process group."""
    if not is_enabled():
        return x
    y = x.detach().clone()
    dist.all_reduce(y, op=dist.ReduceOp.SUM)
    return y


def barrier() -> None:
    """Synchronise processes (no-op without a process group)."""
    if is_enabled():
        dist.barrier()


def cleanup() -> None:
    """Destroy the process group if this module's caller created one."""
    if is_enabled():
        dist.destroy_process_group()
