"""VICRegL's loss: VICReg on global embeddings plus VICReg on matched local features.

References:
    - [0]: VICRegL, 2022, https://arxiv.org/abs/2210.01571
    - [1]: VICReg, 2021, https://arxiv.org/abs/2105.04906
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from simclr import distributed
from simclr.losses._common import upcast
from simclr.losses.vicreg import vicreg_terms


def match_features(a: Tensor, b: Tensor, num_matches: int) -> tuple[Tensor, Tensor]:
    """Feature-based matching: each location of ``a`` with its nearest location of ``b``.

    Keeps, per sample, the ``num_matches`` pairs with the smallest L2 distance (VICRegL's
    top-gamma filtering of nearest neighbours).

    Shape:
        - a: ``(n, La, D)``; b: ``(n, Lb, D)``
        - Output: two ``(n, min(num_matches, La), D)`` tensors (a's rows, their matches)

    Example:
        >>> import torch
        >>> a = torch.tensor([[[0.0, 0.0], [5.0, 5.0]]])
        >>> b = torch.tensor([[[5.0, 4.0], [0.0, 1.0], [9.0, 9.0]]])
        >>> x, y = match_features(a, b, num_matches=2)
        >>> y.tolist()
        [[[0.0, 1.0], [5.0, 4.0]]]
    """
    dist = torch.cdist(a.detach(), b.detach())  # (n, La, Lb)
    nn_dist, nn_idx = dist.min(dim=2)  # (n, La)
    k = min(num_matches, a.shape[1])
    keep = nn_dist.topk(k, dim=1, largest=False).indices  # (n, k)
    d = a.shape[-1]
    a_sel = torch.gather(a, 1, keep.unsqueeze(-1).expand(-1, -1, d))
    b_idx = torch.gather(nn_idx, 1, keep)
    b_sel = torch.gather(b, 1, b_idx.unsqueeze(-1).expand(-1, -1, d))
    return a_sel, b_sel


class VICRegLLoss(nn.Module):
    """``alpha * global + (1 - alpha) * local``.

    * global: VICReg between the pooled embeddings of the two global views, and between
      each local view and each global view (multi-crop), averaged over those pairs;
    * local: VICReg on the feature-based matches of the two global views' local
      embeddings (one per location of the backbone's spatial map), in both directions,
      with the statistics over all kept matches of the batch.

    VICRegL's location-based matching (which needs each crop's box) is not included.
    Statistics are over the global batch under DDP (gathered with gradients).

    Args:
        alpha: Weight of the global loss (paper: 0.75 with a ResNet-50).
        lambda_, mu, nu: VICReg weights (paper: 25, 25, 1).
        num_matches: Matches kept per sample and direction (paper's gamma: 20).
        gather_distributed: Statistics over the global batch under DDP.

    Shape:
        - global_z: ``V`` tensors ``(n, D)``, the two global views first
        - local_z: two tensors ``(n, L, D')`` (the global views' maps, flattened)
        - Output: scalar

    Example:
        >>> import torch
        >>> z, m = torch.randn(8, 16), torch.randn(8, 4, 16)
        >>> VICRegLLoss(alpha=0.75)([z, z], [m, m]).item() >= 0
        True
    """

    def __init__(
        self,
        alpha: float = 0.75,
        lambda_: float = 25.0,
        mu: float = 25.0,
        nu: float = 1.0,
        num_matches: int = 20,
        gather_distributed: bool = True,
    ) -> None:
        super().__init__()
        if not 0 <= alpha <= 1:
            raise ValueError(f"alpha = {alpha!r}: expected a number in [0, 1]")
        if num_matches < 1:
            raise ValueError(f"num_matches = {num_matches!r}: expected an integer >= 1")
        self.alpha, self.num_matches = float(alpha), int(num_matches)
        self.weights = (float(lambda_), float(mu), float(nu))
        self.gather_distributed = gather_distributed

    def _vicreg(self, z1: Tensor, z2: Tensor) -> Tensor:
        if self.gather_distributed:
            z1, z2 = distributed.all_gather_with_grad(z1), distributed.all_gather_with_grad(z2)
        inv, var, cov = vicreg_terms(z1, z2)
        lam, mu, nu = self.weights
        return lam * inv + mu * var + nu * cov

    def forward(self, global_z: list[Tensor], local_z: list[Tensor]) -> Tensor:
        if len(global_z) < 2 or len(local_z) != 2:
            raise ValueError(
                f"expected >= 2 global embeddings and 2 local maps, got {len(global_z)} and "
                f"{len(local_z)}"
            )
        g = [upcast(z) for z in global_z]
        pairs = [(0, 1)] + [(i, j) for i in range(2) for j in range(2, len(g))]
        global_loss = sum(self._vicreg(g[i], g[j]) for i, j in pairs) / len(pairs)
        a, b = upcast(local_z[0]), upcast(local_z[1])
        local_loss = 0.0
        for x, y in ((a, b), (b, a)):
            xs, ys = match_features(x, y, self.num_matches)
            local_loss = local_loss + self._vicreg(xs.flatten(0, 1), ys.flatten(0, 1))
        return self.alpha * global_loss + (1 - self.alpha) * local_loss / 2
