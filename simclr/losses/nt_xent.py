"""NT-Xent (SimCLR) with negatives gathered across processes.

References:
    - [0]: SimCLR, 2020, https://arxiv.org/abs/2002.05709
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from simclr import distributed


class NTXentLoss(nn.Module):
    """Normalised temperature-scaled cross entropy over ``2N`` views.

    For a global batch of ``N`` pairs, each of the ``2N`` views is an anchor whose
    positive is the other view of the same image and whose negatives are the other
    ``2N - 2`` views (both views of every other image, on every process). The loss is
    the mean over anchors of ``-log softmax`` of the positive among the ``2N - 1``
    candidates at cosine similarity / ``temperature``.

    Under DDP each process computes the loss for its own anchors against all gathered
    candidates; gathering keeps gradients, so with DDP's gradient averaging the update
    equals the single-process update on the global batch.

    Args:
        temperature: Softmax temperature, > 0 (SimCLR: 0.5 on CIFAR at small batch,
            0.1 at large batch).
        gather_distributed: Use the views of all processes as negatives.

    Shape:
        - z1, z2: ``(n, D)`` projections of the two views (need not be normalised)
        - Output: scalar

    Example:
        >>> import torch
        >>> loss = NTXentLoss(temperature=0.5)
        >>> z = torch.eye(4)
        >>> round(loss(z, z).item(), 4)  # log(1 + 6 exp(-2))
        0.5944
    """

    def __init__(self, temperature: float = 0.5, gather_distributed: bool = True) -> None:
        super().__init__()
        if not temperature > 1e-8:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = float(temperature)
        self.gather_distributed = gather_distributed

    def forward(self, z1: Tensor, z2: Tensor) -> Tensor:
        if z1.shape != z2.shape or z1.ndim != 2:
            raise ValueError(
                f"expected two (n, D) tensors of equal shape, got {z1.shape}, {z2.shape}"
            )
        if z1.dtype in (torch.float16, torch.bfloat16):  # the softmax wants fp32
            z1, z2 = z1.float(), z2.float()
        z1 = F.normalize(z1, dim=1)
        z2 = F.normalize(z2, dim=1)
        n = z1.shape[0]
        if self.gather_distributed:
            all1 = distributed.all_gather_with_grad(z1)
            all2 = distributed.all_gather_with_grad(z2)
            offset = distributed.rank() * n if all1.shape[0] != n else 0
        else:
            all1, all2, offset = z1, z2, 0
        big_n = all1.shape[0]
        candidates = torch.cat([all1, all2], dim=0)  # (2N, D)
        anchors = torch.cat([z1, z2], dim=0)  # (2n, D)
        logits = anchors @ candidates.T / self.temperature  # (2n, 2N)
        idx = torch.arange(n, device=z1.device) + offset
        self_idx = torch.cat([idx, idx + big_n])
        pos_idx = torch.cat([idx + big_n, idx])
        rows = torch.arange(2 * n, device=z1.device)
        logits = logits.clone()
        logits[rows, self_idx] = float("-inf")
        return F.cross_entropy(logits, pos_idx)
