"""BYOL's loss: the normalised online prediction regresses the target projection.

References:
    - [0]: BYOL, 2020, https://arxiv.org/abs/2006.07733
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from simclr.losses._common import check_pairs, upcast


class BYOLLoss(nn.Module):
    """``mean_i (2 - 2 cos(p1_i, z2_i)) + mean_i (2 - 2 cos(p2_i, z1_i))``.

    ``2 - 2 cos`` is the squared distance of the L2-normalised vectors (BYOL eq. 2);
    the loss is symmetrised over the two views as in the paper. The targets ``z1, z2``
    (the momentum teacher's projections) are detached. Per-sample, so not batch-coupled.

    Shape:
        - p1, p2: ``(n, D)`` online predictions of view 1 and view 2
        - z1, z2: ``(n, D)`` target projections of view 1 and view 2
        - Output: scalar in [0, 8]

    Example:
        >>> import torch
        >>> z = torch.randn(4, 8)
        >>> BYOLLoss()(z, z, z, z).abs().item() < 1e-6  # identical views: 0
        True
        >>> round(BYOLLoss()(z, z, -z, -z).item(), 4)  # opposite: 4 + 4
        8.0
    """

    def forward(self, p1: Tensor, p2: Tensor, z1: Tensor, z2: Tensor) -> Tensor:
        check_pairs(p1, p2, z1, z2)
        p1, p2 = F.normalize(upcast(p1), dim=1), F.normalize(upcast(p2), dim=1)
        z1, z2 = F.normalize(upcast(z1.detach()), dim=1), F.normalize(upcast(z2.detach()), dim=1)
        return (2 - 2 * (p1 * z2).sum(1)).mean() + (2 - 2 * (p2 * z1).sum(1)).mean()
