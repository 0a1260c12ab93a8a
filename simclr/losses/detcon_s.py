"""DetCon's contrastive detection loss, SimCLR-style: regions of one network, both views.

References:
    - [0]: DetCon, 2021, https://arxiv.org/abs/2103.10957
"""

from __future__ import annotations

from torch import Tensor, nn

from simclr.losses.detcon_b import detcon_nce


class DetConSLoss(nn.Module):
    """:class:`~simclr.losses.detcon_b.DetConBLoss` with the projections of both views as
    anchors and as candidates (one network, no predictor, no teacher).

    The candidates keep their gradient, also when gathered from other processes, so
    that with gradient averaging the update equals the one-process update on the
    global batch (as :class:`~simclr.losses.nt_xent.NTXentLoss`).

    Args:
        temperature: Softmax temperature (DetCon: 0.1).
        gather_distributed: Use every process's regions as candidates.

    Shape:
        - z0, z1: :math:`(n, M, D)` projections of the sampled regions of each view
        - ids0, ids1: :math:`(n, M)` their region ids
        - Output: scalar

    Example:
        >>> import math, torch
        >>> z = torch.ones(1, 16, 8)  # one image, one region drawn 16 times
        >>> ids = torch.zeros(1, 16)
        >>> loss = DetConSLoss(temperature=0.1)(z, z, ids, ids)
        >>> abs(loss.item() - 2 * math.log(16) / 16) < 1e-6  # 16 equal positives
        True
    """

    def __init__(self, temperature: float = 0.1, gather_distributed: bool = True) -> None:
        super().__init__()
        if not temperature > 1e-8:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = float(temperature)
        self.gather_distributed = gather_distributed

    def forward(self, z0: Tensor, z1: Tensor, ids0: Tensor, ids1: Tensor) -> Tensor:
        return detcon_nce(
            z0, z1, z0, z1, ids0, ids1, self.temperature, self.gather_distributed,
            targets_with_grad=True,
        )  # fmt: skip
