"""NNCLR's loss: the nearest neighbour of a view, from a support set, is its positive.

References:
    - [0]: NNCLR, 2021, https://arxiv.org/abs/2104.14548
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from simclr import distributed
from simclr.losses._common import check_pairs, upcast


def nearest_neighbours(z: Tensor, support: Tensor, *, support_normalized: bool = False) -> Tensor:
    """The row of ``support`` with the highest cosine similarity to each row of ``z``.

    Args:
        z: Queries.
        support: The support set.
        support_normalized: ``support``'s rows are already unit vectors (a queue that
            stores them so saves normalising it at every call).

    Shape:
        - z: ``(n, D)``; support: ``(Q, D)``, Q >= 1
        - Output: ``(n, D)`` rows of ``support`` (no gradient flows into the support set)

    Example:
        >>> import torch
        >>> support = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> nearest_neighbours(torch.tensor([[0.1, 2.0]]), support)
        tensor([[0., 1.]])
    """
    if support.ndim != 2 or support.shape[0] < 1 or support.shape[1] != z.shape[-1]:
        raise ValueError(f"support = {tuple(support.shape)}: expected (Q >= 1, {z.shape[-1]}) rows")
    support = support.to(z.dtype)
    unit = support if support_normalized else F.normalize(support, dim=1)
    sim = F.normalize(z.detach(), dim=1) @ unit.T
    return support[sim.argmax(dim=1)]


class NNCLRLoss(nn.Module):
    """``-log softmax`` of ``NN(z1_i) . p2_i / tau`` among ``NN(z1_i) . p2_k``, symmetrised.

    Every anchor is a support-set neighbour ``NN(z_i)`` of one view; its positive is the
    prediction ``p_i`` of the other view, its negatives the other views' predictions
    ``p_k`` of the (global) batch (the paper's eq. 2, with the symmetric term).
    Vectors are L2-normalised. Under DDP the predictions of every process are gathered
    (with gradients) as negatives, as for NT-Xent.

    Args:
        temperature: Softmax temperature (paper: 0.1).
        gather_distributed: Negatives from every process.

    Shape:
        - nn1, nn2: ``(n, D)`` nearest neighbours of view 1 / view 2 projections
        - p1, p2: ``(n, D)`` predictions of view 1 / view 2
        - Output: scalar

    Example:
        >>> import torch
        >>> e = torch.eye(4)
        >>> round(NNCLRLoss(temperature=1.0)(e, e, e, e).item(), 4)  # log(e + 3) - 1 = 0.74367
        0.7437
    """

    def __init__(self, temperature: float = 0.1, gather_distributed: bool = True) -> None:
        super().__init__()
        if not temperature > 1e-8:
            raise ValueError(f"temperature = {temperature!r}: expected a number > 0")
        self.temperature = float(temperature)
        self.gather_distributed = gather_distributed

    def _one_side(self, anchors: Tensor, preds: Tensor) -> Tensor:
        anchors, preds = F.normalize(anchors, dim=1), F.normalize(preds, dim=1)
        n = anchors.shape[0]
        candidates = distributed.all_gather_with_grad(preds) if self.gather_distributed else preds
        offset = distributed.rank() * n if candidates.shape[0] != n else 0
        logits = anchors @ candidates.T / self.temperature
        return F.cross_entropy(logits, torch.arange(n, device=anchors.device) + offset)

    def forward(self, nn1: Tensor, nn2: Tensor, p1: Tensor, p2: Tensor) -> Tensor:
        check_pairs(nn1, nn2, p1, p2)
        nn1, nn2, p1, p2 = (upcast(t) for t in (nn1, nn2, p1, p2))
        return (self._one_side(nn1, p2) + self._one_side(nn2, p1)) / 2
