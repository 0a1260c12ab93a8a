"""Barlow Twins' loss: the cross-correlation of the two views' embeddings tends to I.

References:
    - [0]: Barlow Twins, 2021, https://arxiv.org/abs/2103.03230
"""

from __future__ import annotations

from torch import Tensor, nn

from simclr import distributed
from simclr.losses._common import check_pairs, upcast


def standardize(z: Tensor) -> Tensor:
    """Centre and scale each dimension over the batch (unbiased std, Algorithm 1).

    Shape:
        - z: ``(N, D)``, N >= 2. Output: ``(N, D)``
    """
    return (z - z.mean(0)) / z.std(0)


class BarlowTwinsLoss(nn.Module):
    """``sum_i (1 - C_ii)^2 + lambda * sum_{i != j} C_ij^2``.

    ``C = za_norm.T @ zb_norm / N`` is the cross-correlation of the two views'
    embeddings, each standardised per dimension over the batch (the paper's
    Algorithm 1). The statistics couple the samples: under DDP the embeddings of every
    process are gathered (with gradients) and each process computes the loss on the
    global batch, so the update equals that of one process on the whole batch.

    Args:
        lambd: Weight of the redundancy-reduction term (paper: 5e-3).
        gather_distributed: Compute C over the global batch under DDP.

    Shape:
        - z1, z2: ``(n, D)``, n >= 2 over all processes
        - Output: scalar

    Example:
        >>> import torch
        >>> z = torch.tensor([[1.0, 1.0], [-1.0, 1.0], [1.0, -1.0], [-1.0, -1.0]])
        >>> round(BarlowTwinsLoss()(z, z).item(), 4)  # C = 0.75 I: 2 x 0.25^2
        0.125
    """

    def __init__(self, lambd: float = 5e-3, gather_distributed: bool = True) -> None:
        super().__init__()
        if not lambd >= 0:
            raise ValueError(f"lambd = {lambd!r}: expected a number >= 0")
        self.lambd = float(lambd)
        self.gather_distributed = gather_distributed

    def forward(self, z1: Tensor, z2: Tensor) -> Tensor:
        check_pairs(z1, z2)
        z1, z2 = upcast(z1), upcast(z2)
        if self.gather_distributed:
            z1, z2 = distributed.all_gather_with_grad(z1), distributed.all_gather_with_grad(z2)
        if z1.shape[0] < 2:
            raise ValueError(f"Barlow Twins needs a batch of >= 2 samples, got {z1.shape[0]}")
        c = standardize(z1).T @ standardize(z2) / z1.shape[0]
        on_diag = (1 - c.diagonal()).pow(2).sum()
        off_diag = c.pow(2).sum() - c.diagonal().pow(2).sum()
        return on_diag + self.lambd * off_diag
