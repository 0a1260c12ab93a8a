"""VICReg's loss: invariance, variance and covariance terms.

References:
    - [0]: VICReg, 2021, https://arxiv.org/abs/2105.04906
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from simclr import distributed
from simclr.losses._common import upcast


def variance_term(z: Tensor, eps: float = 1e-4) -> Tensor:
    """``mean_j relu(1 - sqrt(Var(z_j) + eps))`` (unbiased variance over the batch)."""
    return F.relu(1 - torch.sqrt(z.var(dim=0) + eps)).mean()


def covariance_term(z: Tensor) -> Tensor:
    """``sum_{i != j} Cov(z)_ij^2 / D`` (unbiased covariance over the batch)."""
    n, d = z.shape
    zc = z - z.mean(dim=0)
    cov = zc.T @ zc / (n - 1)
    return (cov.pow(2).sum() - cov.diagonal().pow(2).sum()) / d


def vicreg_terms(z1: Tensor, z2: Tensor, eps: float = 1e-4) -> tuple[Tensor, Tensor, Tensor]:
    """(invariance, variance, covariance) of VICReg for two ``(N, D)`` batches."""
    if z1.shape[0] < 2:
        raise ValueError(f"VICReg needs a batch of >= 2 samples, got {z1.shape[0]}")
    inv = F.mse_loss(z1, z2)
    var = (variance_term(z1, eps) + variance_term(z2, eps)) / 2
    cov = covariance_term(z1) + covariance_term(z2)
    return inv, var, cov


class VICRegLoss(nn.Module):
    """``lambda * s(Z, Z') + mu * [v(Z) + v(Z')] / 2 + nu * [c(Z) + c(Z')]``.

    Invariance ``s`` is the mean squared error; variance ``v`` a hinge on the
    per-dimension std at 1; covariance ``c`` the squared off-diagonal covariances / D.
    Variance and covariance couple the samples: under DDP the embeddings of every
    process are gathered (with gradients) and every process computes the loss on the
    global batch.

    Args:
        lambda_: Invariance weight (paper: 25).
        mu: Variance weight (paper: 25).
        nu: Covariance weight (paper: 1).
        eps: Added to the variance before the square root (paper: 1e-4).
        gather_distributed: Statistics over the global batch under DDP.

    Shape:
        - z1, z2: ``(n, D)``
        - Output: scalar

    Example:
        Identical, uncorrelated views with std ``0.5 * sqrt(4/3)``: only the variance hinge.

        >>> import torch
        >>> z = 0.5 * torch.tensor([[1.0, 1.0], [-1.0, 1.0], [1.0, -1.0], [-1.0, -1.0]])
        >>> round(VICRegLoss()(z, z).item(), 4) == round(25 * (1 - (1 / 3 + 1e-4) ** 0.5), 4)
        True
    """

    def __init__(
        self,
        lambda_: float = 25.0,
        mu: float = 25.0,
        nu: float = 1.0,
        eps: float = 1e-4,
        gather_distributed: bool = True,
    ) -> None:
        super().__init__()
        for name, v in (("lambda_", lambda_), ("mu", mu), ("nu", nu)):
            if not v >= 0:
                raise ValueError(f"{name} = {v!r}: expected a number >= 0")
        if not eps > 0:
            raise ValueError(f"eps = {eps!r}: expected a number > 0")
        self.lambda_, self.mu, self.nu, self.eps = float(lambda_), float(mu), float(nu), eps
        self.gather_distributed = gather_distributed

    def forward(self, z1: Tensor, z2: Tensor) -> Tensor:
        if z1.shape != z2.shape or z1.ndim != 2:
            raise ValueError(
                f"expected two (n, D) tensors, got {tuple(z1.shape)}, {tuple(z2.shape)}"
            )
        z1, z2 = upcast(z1), upcast(z2)
        if self.gather_distributed:
            z1, z2 = distributed.all_gather_with_grad(z1), distributed.all_gather_with_grad(z2)
        inv, var, cov = vicreg_terms(z1, z2, self.eps)
        return self.lambda_ * inv + self.mu * var + self.nu * cov
