"""SimSiam's loss: symmetrised negative cosine similarity with a stop-gradient.

References:
    - [0]: SimSiam, 2020, https://arxiv.org/abs/2011.10566
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from simclr.losses._common import check_pairs, upcast


class SimSiamLoss(nn.Module):
    """``D(p1, sg(z2)) / 2 + D(p2, sg(z1)) / 2`` with ``D(p, z) = -mean_i cos(p_i, z_i)``.

    The stop-gradient on ``z`` is what keeps SimSiam from collapsing (paper, Sec. 4.1).

    Shape:
        - p1, p2: ``(n, D)`` predictions; z1, z2: ``(n, D)`` projections
        - Output: scalar in [-1, 1]

    Example:
        >>> import torch
        >>> z = torch.randn(4, 8)
        >>> round(SimSiamLoss()(z, z, z, z).item(), 4)  # identical views: -1
        -1.0
    """

    def forward(self, p1: Tensor, p2: Tensor, z1: Tensor, z2: Tensor) -> Tensor:
        check_pairs(p1, p2, z1, z2)
        p1, p2, z1, z2 = (upcast(t) for t in (p1, p2, z1, z2))
        d1 = F.cosine_similarity(p1, z2.detach(), dim=1).mean()
        d2 = F.cosine_similarity(p2, z1.detach(), dim=1).mean()
        return -(d1 + d2) / 2
