"""The method interface and registry.

A method owns a backbone and whatever heads it needs, turns a list of views into
*embeddings* (``forward``) and embeddings into a scalar loss (``loss``). Splitting the
two is what lets the trainer accumulate gradients correctly for losses that couple the
samples of a batch (``batch_coupled = True``, e.g. NT-Xent, Barlow Twins, VICReg): it
computes every micro-batch's embeddings, the loss on all of them together, and then
back-propagates the embedding gradients micro-batch by micro-batch (GradCache).

Adding a method (BYOL, SimSiam, Barlow Twins, VICReg, ...) is one file::

    @dataclass
    class MyParams(MethodParams):
        proj_dim: int = 128

    @METHODS.register("mine")
    class Mine(Method):
        config_class = MyParams
        batch_coupled = True
        num_views = 2

        def __init__(self, backbone, params, norm="batch"):
            super().__init__(backbone)
            self.head = ...

        def forward(self, images, masks):
            return MethodOutput([self.head(self.backbone(x)) for x in images], ...)

        def loss(self, embeddings):
            return ...

and an import line in ``simclr/methods/__init__.py``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from torch import Tensor, nn

from segaug.registry import Registry

METHODS: Registry = Registry("method")


@dataclass
class MethodParams:
    """Base class of per-method hyper-parameters (``method.params`` in the config)."""

    @classmethod
    def from_params(cls, params: dict[str, Any] | None) -> MethodParams:
        """Build from a mapping; unknown keys and bad values raise ``ValueError``."""
        params = dict(params or {})
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(params) - names)
        if unknown:
            raise ValueError(
                f"config 'method.params': unknown key(s) {unknown} for {cls.__name__}; "
                f"expected some of {sorted(names)}"
            )
        obj = cls(**params)
        obj.validate()
        return obj

    def validate(self) -> None:
        """Raise ``ValueError`` naming the field, value and expectation."""


@dataclass
class MethodOutput:
    """What a method's forward returns.

    Attributes:
        embeddings: Tensors the loss is computed from, each ``(n, ...)`` with the
            micro-batch on dim 0 (SimCLR: ``[z1, z2]``; MAE: ``[per-sample loss]``).
        features: Backbone features ``(n, F)`` of the first view, for the online probe.
    """

    embeddings: list[Tensor]
    features: Tensor


class Method(nn.Module):
    """Base class: a backbone plus method-specific heads and loss.

    Class attributes:
        config_class: The :class:`MethodParams` subclass for ``method.params``.
        batch_coupled: True when the loss of one sample depends on other samples of
            the batch (contrastive); the trainer then uses GradCache for accumulation.
        num_views: 2 for two-view methods, 1 for single-view ones (MAE).
    """

    config_class: ClassVar[type[MethodParams]] = MethodParams
    batch_coupled: ClassVar[bool] = False
    num_views: ClassVar[int] = 2

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone

    @classmethod
    def check_backbone(cls, name: str) -> None:
        """Raise ``ValueError`` if the method cannot use backbone ``name``."""

    def forward(self, images: list[Tensor], masks: list[Tensor]) -> MethodOutput:
        """Embed the views.

        Shape:
            - images: ``num_views`` tensors ``(n, 3, H, W)`` (normalised)
            - masks: ``num_views`` tensors ``(n, 1, H, W)`` in [0, 1]
        """
        raise NotImplementedError

    def loss(self, embeddings: list[Tensor]) -> Tensor:
        """Scalar loss from the embeddings of the whole (per-process) batch."""
        raise NotImplementedError
