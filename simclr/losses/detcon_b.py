"""DetCon's contrastive detection loss, BYOL-style: online predictions against targets.

References:
    - [0]: DetCon, 2021, https://arxiv.org/abs/2103.10957 (the loss of its reference
      code, ``byol_nce_detcon``)
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from simclr import distributed
from simclr.losses._common import upcast

_EXCLUDED = -1e9
"""Logit of a candidate that is left out (a finite stand-in for -inf, as in the paper's
code: a label of 0 times a log-probability of -inf would be NaN)."""


class _Regions(NamedTuple):
    """The region ids of one view's draws, with what the loss needs of them, computed once.

    Shape:
        - ids, first, draws, rep: :math:`(n, M)` int64, bool, int64 and int64.
    """

    ids: Tensor
    first: Tensor
    """Whether a draw is the first draw of its region in its image."""
    draws: Tensor
    """How many draws its region has."""
    rep: Tensor
    """The index of its region's first draw."""


def _distinct(ids: Tensor) -> _Regions:
    """The distinct regions of each image among its draws (see :class:`_Regions`)."""
    same = ids[:, :, None] == ids[:, None, :]  # (n, M, M)
    earlier = torch.ones_like(same[0]).tril(-1)  # j < i
    first = ~(same & earlier).any(-1)
    return _Regions(ids, first, same.sum(-1), same.to(torch.uint8).argmax(-1))


def _check_one_feature_per_region(x: Tensor, regions: _Regions, name: str) -> None:
    """The draws of one region must carry one feature (what mask pooling gives)."""
    ref = torch.gather(x, 1, regions.rep[:, :, None].expand_as(x))
    tol = 1e-3 * float(x.detach().abs().max().clamp_min(1e-12))
    if float((x.detach() - ref.detach()).abs().max()) > tol:
        raise ValueError(
            f"{name}: the draws of one region (same id in one image) carry different "
            "features; DetCon's loss expects one feature per region, as mask pooling gives"
        )


def _direction(
    pred: Tensor,
    anchor_regions: _Regions,
    other_targets: Tensor,
    other_regions: _Regions,
    own_targets: Tensor,
    own_regions: _Regions,
    offset: int,
    temperature: float,
) -> Tensor:
    """The loss of one view's regions as anchors (see :class:`DetConBLoss`).

    Computed on the distinct regions of each image rather than on every draw, which is
    the same loss exactly: the draws of one region have one feature, so its anchors share
    one cross entropy (weighted ``1 / draws``, they add up to one anchor) and its
    candidates one logit, which the softmax counts ``draws`` times (``+ log(draws)``).
    With two regions per image and 16 draws this is 64 times fewer logits.
    """
    n, m, _ = pred.shape
    dev = pred.device
    a_first = anchor_regions.first
    image = torch.arange(n, device=dev)[:, None].expand(n, m) + offset
    anchors, a_image = pred[a_first], image[a_first]  # (A, D), (A,)
    a_id = anchor_regions.ids[a_first]

    def candidates(targets: Tensor, regions: _Regions) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        first = regions.first
        big_n = targets.shape[0]
        img = torch.arange(big_n, device=dev)[:, None].expand(big_n, m)
        log_draws = regions.draws[first].to(pred.dtype).log()
        return targets[first], img[first], regions.ids[first], log_draws

    o_feat, o_image, o_id, o_logc = candidates(other_targets, other_regions)
    s_feat, s_image, s_id, s_logc = candidates(own_targets, own_regions)
    logits_other = anchors @ o_feat.T / temperature  # (A, U_other)
    logits_own = anchors @ s_feat.T / temperature  # (A, U_own)
    positive = (a_image[:, None] == o_image[None]) & (a_id[:, None] == o_id[None])
    excluded = (a_image[:, None] == s_image[None]) & (a_id[:, None] == s_id[None])
    log_z = torch.logsumexp(
        torch.cat(
            [logits_other + o_logc, (logits_own + s_logc).masked_fill(excluded, _EXCLUDED)],
            dim=1,
        ),
        dim=1,
    )
    has_positive = positive.any(1)
    # at most one distinct positive: the same region of the same image in the other view
    s_positive = (logits_other * positive.to(logits_other.dtype)).sum(1)
    cross_entropy = (log_z - s_positive) * has_positive.to(pred.dtype)
    return cross_entropy.sum() / (n * m)


def detcon_nce(
    pred0: Tensor,
    pred1: Tensor,
    target0: Tensor,
    target1: Tensor,
    ids0: Tensor,
    ids1: Tensor,
    temperature: float,
    gather_distributed: bool = True,
    targets_with_grad: bool = False,
) -> Tensor:
    """DetCon's loss over two views (both directions summed); see :class:`DetConBLoss`.

    Args:
        pred0, pred1: ``(n, M, D)`` anchors of view 0 and view 1.
        target0, target1: ``(n, M, D)`` candidates of view 0 and view 1.
        ids0, ids1: ``(n, M)`` the region id of each sampled region (any dtype).
        temperature: Softmax temperature (> 0).
        gather_distributed: Candidates from every process.
        targets_with_grad: Gather the targets with their gradient (DetCon-S, whose
            targets are the anchors themselves); else they are detached.
    """
    shapes = {tuple(t.shape) for t in (pred0, pred1, target0, target1)}
    if len(shapes) != 1 or pred0.ndim != 3 or tuple(ids0.shape) != tuple(pred0.shape[:2]):
        raise ValueError(
            "expected four (n, M, D) tensors of one shape and two (n, M) id tensors, got "
            f"{[tuple(t.shape) for t in (pred0, pred1, target0, target1, ids0, ids1)]}"
        )
    if tuple(ids1.shape) != tuple(ids0.shape):
        raise ValueError(f"ids0 and ids1 differ in shape: {tuple(ids0.shape)}, {tuple(ids1.shape)}")
    p0, p1 = F.normalize(upcast(pred0), dim=-1), F.normalize(upcast(pred1), dim=-1)
    if not targets_with_grad:
        target0, target1 = target0.detach(), target1.detach()
    t0, t1 = F.normalize(upcast(target0), dim=-1), F.normalize(upcast(target1), dim=-1)
    r0, r1 = _distinct(ids0.detach().long()), _distinct(ids1.detach().long())
    for x, regions, name in ((p0, r0, "pred0"), (p1, r1, "pred1"), (t0, r0, "target0"),
                             (t1, r1, "target1")):  # fmt: skip
        _check_one_feature_per_region(x, regions, name)
    n = p0.shape[0]
    g0, g1, offset = r0, r1, 0
    if gather_distributed:
        t0, t1 = distributed.all_gather_with_grad(t0), distributed.all_gather_with_grad(t1)
        if t0.shape[0] != n:  # several processes: every process's regions are candidates
            g0 = _distinct(distributed.all_gather_with_grad(r0.ids))
            g1 = _distinct(distributed.all_gather_with_grad(r1.ids))
            offset = distributed.rank() * n
    return _direction(p0, r0, t1, g1, t0, g0, offset, temperature) + _direction(
        p1, r1, t0, g0, t1, g1, offset, temperature
    )


class DetConBLoss(nn.Module):
    """Contrastive detection: a region's prediction must find the same region in the
    other view of its image, among every other region of the batch.

    For each sampled region ``(i, r)`` of view 0 (image ``i``, region id ``r``), the
    positives are the targets of view 1 of image ``i`` with the same id ``r``; the
    candidates are every region target of both views of every image, except those of
    view 0 of image ``i`` with id ``r`` itself. The loss is the cross entropy against
    the positives (equal shares when ``r`` was drawn several times) at cosine
    similarity / ``temperature``, weighted by ``1 / (draws of r in view 0)`` so that each
    region of an image counts once, and 0 for a region absent from the other view.
    Averaged over the ``n * M`` anchors, plus the same with the views' roles swapped.

    The targets are the momentum teacher's (detached), gathered from every process.
    The draws of one region carry one feature (mask pooling gives the same vector for
    each draw), which the loss checks; it is computed on the distinct regions, exactly.

    Args:
        temperature: Softmax temperature (DetCon: 0.1).
        gather_distributed: Use every process's regions as candidates.

    Shape:
        - pred0, pred1, target0, target1: :math:`(n, M, D)`
        - ids0, ids1: :math:`(n, M)`
        - Output: scalar

    Example:
        >>> import torch
        >>> z = torch.eye(4)[None]  # one image, 4 regions with orthogonal features
        >>> ids = torch.arange(4)[None]
        >>> loss = DetConBLoss(temperature=1.0)(z, z, z, z, ids, ids)
        >>> round(loss.item(), 4)  # 2 directions x -log(e / (e + 3 + 3))
        2.3308
    """

    def __init__(self, temperature: float = 0.1, gather_distributed: bool = True) -> None:
        super().__init__()
        if not temperature > 1e-8:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = float(temperature)
        self.gather_distributed = gather_distributed

    def forward(
        self,
        pred0: Tensor,
        pred1: Tensor,
        target0: Tensor,
        target1: Tensor,
        ids0: Tensor,
        ids1: Tensor,
    ) -> Tensor:
        return detcon_nce(
            pred0, pred1, target0, target1, ids0, ids1, self.temperature, self.gather_distributed
        )
