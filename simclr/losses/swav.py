"""SwAV's loss: swapped prediction of Sinkhorn-Knopp cluster assignments.

References:
    - [0]: SwAV, 2020, https://arxiv.org/abs/2006.09882
    - [1]: Sinkhorn distances, 2013, https://arxiv.org/abs/1306.0895
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from simclr import distributed
from simclr.losses._common import upcast


@torch.no_grad()
def sinkhorn(scores: Tensor, epsilon: float = 0.05, iterations: int = 3) -> Tensor:
    """Soft equipartitioned assignments of ``B`` samples to ``K`` prototypes.

    ``Q = exp(scores / epsilon)``, then ``iterations`` rounds of normalising the
    prototype sums to ``1/K`` and the sample sums to ``1/B`` (SwAV's Algorithm 1);
    returned scaled so that each sample's row sums to 1. Under DDP the sums run over the
    global batch (``B`` counts every process's rows). No gradient.

    Shape:
        - scores: ``(n, K)`` prototype scores (cosine similarities)
        - Output: ``(n, K)``, rows summing to 1

    Example:
        >>> import torch
        >>> q = sinkhorn(torch.randn(6, 3))
        >>> torch.allclose(q.sum(1), torch.ones(6))
        True
    """
    q = torch.exp(upcast(scores) / epsilon).T  # (K, n)
    k = q.shape[0]
    b = q.shape[1] * distributed.world_size()
    q = q / distributed.all_reduce_sum(q.sum())
    for _ in range(iterations):
        q = q / distributed.all_reduce_sum(q.sum(dim=1, keepdim=True)) / k
        q = q / q.sum(dim=0, keepdim=True) / b
    return (q * b).T


class SwAVLoss(nn.Module):
    """Predict each global view's codes from every other view's prototype scores.

    For each global view ``s`` the codes ``q_s = sinkhorn(scores_s)`` (computed with the
    queue's scores appended when given, then cut back to the batch); the loss is
    ``mean_s mean_{t != s} -sum_k q_s log softmax(scores_t / tau)``, averaged over
    samples. Sinkhorn couples the samples; under DDP its sums run over the global batch.

    Args:
        temperature: Softmax temperature (paper: 0.1).
        epsilon: Sinkhorn entropy regularisation (paper: 0.05).
        iterations: Sinkhorn iterations (paper: 3).
        num_global: How many of the views are global (codes are computed for those).

    Shape:
        - scores: ``V`` tensors ``(n, K)``, global views first
        - queue_scores: None, or ``num_global`` tensors ``(Q, K)``
        - Output: scalar

    Example:
        >>> import torch
        >>> s = torch.nn.functional.normalize(torch.randn(8, 4), dim=1)
        >>> SwAVLoss()([s, s, s]).item() > 0
        True
    """

    def __init__(
        self,
        temperature: float = 0.1,
        epsilon: float = 0.05,
        iterations: int = 3,
        num_global: int = 2,
    ) -> None:
        super().__init__()
        if not temperature > 1e-8:
            raise ValueError(f"temperature = {temperature!r}: expected a number > 0")
        if not epsilon > 0:
            raise ValueError(f"epsilon = {epsilon!r}: expected a number > 0")
        if iterations < 1:
            raise ValueError(f"iterations = {iterations!r}: expected an integer >= 1")
        self.temperature, self.epsilon, self.iterations = float(temperature), epsilon, iterations
        self.num_global = num_global

    def forward(self, scores: list[Tensor], queue_scores: list[Tensor] | None = None) -> Tensor:
        if len(scores) < max(2, self.num_global):
            raise ValueError(
                f"scores: expected >= {max(2, self.num_global)} views, got {len(scores)}"
            )
        scores = [upcast(s) for s in scores]
        n = scores[0].shape[0]
        total = scores[0].new_zeros(())
        for s in range(self.num_global):
            target = scores[s].detach()
            if queue_scores is not None:
                target = torch.cat([target, queue_scores[s].to(target.dtype)])
            q = sinkhorn(target, self.epsilon, self.iterations)[:n]
            terms = [
                -(q * F.log_softmax(scores[t] / self.temperature, dim=1)).sum(dim=1).mean()
                for t in range(len(scores))
                if t != s
            ]
            total = total + sum(terms) / len(terms)
        return total / self.num_global
