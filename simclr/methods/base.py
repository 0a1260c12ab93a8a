"""The method interface and registry.

A method owns a backbone and whatever heads it needs, turns a list of views into
*embeddings* (``forward``) and embeddings into a scalar loss (``loss``). Splitting the
two is what lets the trainer accumulate gradients correctly for losses that couple the
samples of a batch (``batch_coupled = True``, e.g. NT-Xent, Barlow Twins, VICReg): it
computes every micro-batch's embeddings, the loss on all of them together, and then
back-propagates the embedding gradients micro-batch by micro-batch (GradCache).

The :class:`~simclr.trainer.Trainer` calls a few hooks that do nothing by default, so
a method with a momentum teacher, a queue, prototypes or extra views is still one file:

* :meth:`Method.views` -- how many global views, and local views at their own size
  (multi-crop);
* :meth:`Method.param_groups` -- the optimiser's parameter groups (a group with
  ``fixed_lr: True`` keeps its peak learning rate, as SimSiam's predictor);
* :meth:`Method.before_optimizer_step` -- after the gradients, before the update (SwAV
  drops the prototypes' gradient during its first epoch);
* :meth:`Method.after_optimizer_step` -- after the update (BYOL's EMA teacher, NNCLR's
  and SwAV's queues, SwAV's prototype normalisation);
* :meth:`Method.checkpoint_state` / :meth:`Method.load_checkpoint_state` -- state that is
  not in ``state_dict`` (queues), as tensors and plain numbers so the checkpoint loads
  with ``torch.load(weights_only=True)``. Teachers and prototypes are ordinary
  submodules/parameters and travel in the model's ``state_dict``.

Adding a method (see ``simclr/methods/byol.py`` for one with a teacher) is two files:
its loss in ``simclr/losses/`` and this, in ``simclr/methods/``::

    @dataclass
    class MyParams(MethodParams):
        proj_dim: int = 128

    @METHODS.register("mine")
    class Mine(Method):
        config_class = MyParams
        batch_coupled = True
        num_views = 2
        smoke_params = {"proj_dim": 16}

        def __init__(self, backbone, params, norm="batch"):
            super().__init__(backbone)
            self.head = ...

        def forward(self, images, masks):
            return MethodOutput([self.head(self.backbone(x)) for x in images], ...)

        def loss(self, embeddings):
            return ...

``simclr/methods/__init__.py`` imports every module of the package, and the config
docs, the checks and the tests take the method list from :data:`METHODS`; the tests
train every registered method with its ``smoke_params`` and fail for one without them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from torch import Tensor, nn

from segaug.registry import Registry
from simclr.param_groups import param_groups

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


def check_param(ok: bool, name: str, value: Any, expected: str) -> None:
    """Raise ``ValueError`` naming ``method.params.<name>``, its value and the expectation."""
    if not ok:
        raise ValueError(f"config 'method.params.{name}' = {value!r}: expected {expected}")


@dataclass(frozen=True)
class ViewSpec:
    """The views a method wants per sample.

    Global views come from the configured recipe at ``augment.output_size``. Local
    views come from the same recipe (same foreground/background/fallback ops: the
    region path applies to every view) with its crop replaced by a random resized crop
    to ``local_size`` over ``local_scale`` of the image area (SwAV's multi-crop).

    Attributes:
        global_views: 1 (MAE) or 2.
        local_views: Number of small views after the global ones.
        local_size: Side of the local views in pixels; ``None``: the multi-crop papers'
            ratio 96/224 of the global views' side (see :meth:`local_side`).
        local_scale: Range of the local crop's area fraction.

    Example:
        >>> ViewSpec(local_views=2, local_size=8).total
        4
        >>> ViewSpec(local_views=6).local_side(224), ViewSpec(local_views=6).local_side(32)
        (96, 14)
    """

    global_views: int = 2
    local_views: int = 0
    local_size: int | None = None
    local_scale: tuple[float, float] = (0.05, 0.14)

    def __post_init__(self) -> None:
        if self.global_views not in (1, 2):
            raise ValueError(f"ViewSpec.global_views = {self.global_views!r}: expected 1 or 2")
        if self.local_views < 0:
            raise ValueError(f"ViewSpec.local_views = {self.local_views!r}: expected >= 0")
        if self.local_size is not None and self.local_size < 1:
            raise ValueError(f"ViewSpec.local_size = {self.local_size!r}: expected None or >= 1")
        lo, hi = self.local_scale
        if not 0 < lo <= hi <= 1:
            raise ValueError(
                f"ViewSpec.local_scale = {self.local_scale!r}: expected 0 < min <= max <= 1"
            )

    def local_side(self, global_side: int) -> int:
        """``local_size``, or ``round(global_side * 96 / 224)`` when it is None."""
        if self.local_size is not None:
            return self.local_size
        return max(1, round(global_side * 96 / 224))

    @property
    def total(self) -> int:
        """All views: global then local."""
        return self.global_views + self.local_views


@dataclass(frozen=True)
class Progress:
    """Where training stands when a hook is called.

    Attributes:
        step: 0-based index of the optimiser step being taken.
        epoch: 0-based epoch index.
        steps_per_epoch: Optimiser steps per epoch.
        total_steps: Steps of the whole schedule (``steps_per_epoch * train.epochs``).
    """

    step: int
    epoch: int
    steps_per_epoch: int
    total_steps: int


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
            the batch (contrastive, or statistics over the batch); the trainer then uses
            GradCache for accumulation, and the tests check that accumulation and
            several processes give the gradients of one large batch.
        num_views: 2 for two-view methods, 1 for single-view ones (MAE).
        uses_regions: True when the method reads region ids from the views' masks
            (DetCon). When the data holds label maps, the trainer then passes each
            view's ``AugmentedBatch.regions`` (int64 ids, ``-1`` outside the image)
            instead of its binary mask; with binary data it passes the masks.
        smoke_params: Small ``method.params`` (narrow heads, short queues, multi-crop at
            8 px) with which the tests train the method in about a second on a CPU, at
            16 px on a 1/8-width ResNet-18, or a 1-block ViT-Tiny when
            :meth:`check_backbone` rejects ResNets. Every registered method sets it.
    """

    config_class: ClassVar[type[MethodParams]] = MethodParams
    batch_coupled: ClassVar[bool] = False
    num_views: ClassVar[int] = 2
    uses_regions: ClassVar[bool] = False
    smoke_params: ClassVar[Mapping[str, Any] | None] = None

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
            - masks: ``num_views`` tensors ``(n, 1, H, W)`` in [0, 1]; for a method with
              ``uses_regions`` and label-map data, int64 region ids (``-1`` outside)
        """
        raise NotImplementedError

    def loss(self, embeddings: list[Tensor]) -> Tensor:
        """Scalar loss from the embeddings of the whole (per-process) batch.

        Called once per optimiser step for ``batch_coupled`` methods (on all
        micro-batches together under GradCache), once per micro-batch otherwise.
        """
        raise NotImplementedError

    # ------------------------------------------------------------------ hooks
    def views(self) -> ViewSpec:
        """The views this method needs; default ``num_views`` global views, no local ones."""
        return ViewSpec(global_views=self.num_views)

    def param_groups(self, weight_decay: float, exclude_bn_bias: bool) -> list[dict[str, Any]]:
        """Optimiser parameter groups (default: :func:`simclr.param_groups.param_groups`).

        Parameters with ``requires_grad=False`` (momentum teachers) must be left out. A
        group may carry ``fixed_lr: True`` to keep the peak lr (no warm-up or decay).
        """
        return param_groups(self, weight_decay, exclude_bn_bias)

    def before_optimizer_step(self, progress: Progress) -> None:
        """Called after the gradients of a step are complete, before the optimiser."""

    def after_optimizer_step(self, progress: Progress) -> None:
        """Called after the optimiser (and scheduler) step."""

    def checkpoint_state(self) -> dict[str, Any]:
        """Extra state to checkpoint: tensors, numbers, lists and dicts of them only."""
        return {}

    def load_checkpoint_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`checkpoint_state` returned."""
