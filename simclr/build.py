"""The objects of a run, built from its :class:`~simclr.config.Config`.

:func:`check_config` checks a whole config: its schema (:meth:`Config.validate`) and
then the names it refers to against their registries (method and ``method.params``,
backbone, dataset). The factories build what the trainer needs: the segaug recipe
(:func:`build_augment`), the smaller recipe of a multi-crop method's local views
(:func:`build_local_augment`) and backbone + method + online probe
(:func:`build_train_module`).

Example:
    >>> from simclr.config import Config, apply_overrides
    >>> cfg = apply_overrides(Config(), ["model.width=0.125", "augment.output_size=16"])
    >>> check_config(cfg)
    >>> type(build_train_module(cfg, num_classes=10).method).__name__
    'SimCLR'
    >>> check_config(apply_overrides(cfg, ["method.params.tau=1"]))
    Traceback (most recent call last):
    ...
    ValueError: config 'method.params': unknown key(s) ['tau'] for SimCLRParams; ...
"""

from __future__ import annotations

import inspect
from typing import Any

from torch import nn

from segaug import recipes
from segaug.augment.recipes import RECIPES
from segaug.augment.region import RegionAugment
from segaug.constants import ON_BAD_IMAGE
from segaug.data import DATASET_INFO, DATASETS
from simclr.config import Config
from simclr.gradcache import TrainModule
from simclr.methods import METHODS, ViewSpec, build_method
from simclr.models import BACKBONES, build_backbone

__all__ = ["build_augment", "build_local_augment", "build_train_module", "check_config"]


def _check_params(
    field: str, params: dict[str, Any], factory: Any, what: str, skip: tuple[str, ...]
) -> None:
    """Refuse keys of ``params`` that ``factory`` does not take, in one line listing its own."""
    accepted = [
        name
        for name, p in inspect.signature(factory).parameters.items()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and name not in skip
    ]
    takes_any = any(p.kind is p.VAR_KEYWORD for p in inspect.signature(factory).parameters.values())
    unknown = sorted(set(params) - set(accepted))
    if unknown and not takes_any:
        raise ValueError(
            f"config '{field}': {what} has no parameter {', '.join(map(repr, unknown))}; "
            f"expected some of {', '.join(accepted) or '(none)'}"
        )


def check_config(cfg: Config, world_size: int = 1) -> None:
    """Check ``cfg`` completely; raise ``ValueError`` naming the field, value and expectation.

    Runs :meth:`Config.validate` (types, ranges, relations), then checks the names
    against the registries: ``model.backbone`` (:data:`simclr.models.BACKBONES`),
    ``method.name`` and ``method.params`` (the method's own params dataclass and its
    backbone requirement), ``data.on_bad_image``, and ``data.num_samples`` against the
    batch size for the datasets that take it.

    Args:
        cfg: The run configuration.
        world_size: Number of processes the global batch is split across.

    Raises:
        ValueError: The first problem found; unknown names list the registered ones.
    """
    cfg.validate(world_size)
    d, m = cfg.data, cfg.model
    BACKBONES.get(m.backbone)  # ValueError listing names
    method_cls = METHODS.get(cfg.method.name)
    method_cls.config_class.from_params(cfg.method.params)  # raises naming the param
    method_cls.check_backbone(m.backbone)
    if d.on_bad_image not in ON_BAD_IMAGE:
        raise ValueError(
            f"config 'data.on_bad_image' = {d.on_bad_image!r}: expected {' or '.join(ON_BAD_IMAGE)}"
        )
    _check_params("augment.params", cfg.augment.params, RECIPES.get(cfg.augment.recipe),
                  f"recipe {cfg.augment.recipe!r}", skip=("output_size",))  # fmt: skip
    try:
        build_augment(cfg)  # ill-typed values fail here, before any data is loaded
    except TypeError as err:
        raise ValueError(f"config 'augment.params' = {cfg.augment.params!r}: {err}") from None
    by_path = getattr(DATASET_INFO.get(d.dataset.lower()), "masks_by_path", False)
    if d.dataset.lower() in DATASETS.names() and not by_path:  # a folder ignores params
        _check_params("data.params", d.params, DATASETS.get(d.dataset), f"dataset {d.dataset!r}",
                      skip=("root", "split", "download", "transform"))  # fmt: skip
    info = DATASET_INFO.get(d.dataset.lower())
    takes_num_samples = info is not None and "num_samples" in info.pretrain_options(
        d.image_size, d.num_samples
    )
    if d.num_samples is not None and takes_num_samples and d.num_samples < d.batch_size:
        raise ValueError(
            f"config 'data.num_samples' = {d.num_samples!r}: expected >= data.batch_size="
            f"{d.batch_size} (one full batch per epoch at least)"
        )


def build_augment(cfg: Config) -> nn.Module:
    """The segaug recipe named by ``augment.recipe`` (ValueError listing names if unknown)."""
    return recipes.build(
        cfg.augment.recipe, output_size=cfg.augment.output_size, **cfg.augment.params
    )


def build_local_augment(aug: nn.Module, spec: ViewSpec, global_side: int) -> RegionAugment:
    """The recipe ``aug`` with its crop replaced by the local crop of ``spec``.

    ``global_side`` (``augment.output_size``) sizes the local views when
    ``spec.local_size`` is None. Every op of the recipe (foreground, background,
    fallback) is kept, so the region path applies to the local views as to the global
    ones (:meth:`segaug.RegionAugment.with_crop`).

    Raises:
        ValueError: If ``aug`` has no replaceable crop (not a ``RegionAugment``).
    """
    if not isinstance(aug, RegionAugment):
        raise ValueError(
            f"augment: the method asks for {spec.local_views} local view(s), which needs a "
            f"RegionAugment recipe (with a 'geometric' crop); got {type(aug).__name__}"
        )
    return aug.with_crop(spec.local_side(global_side), spec.local_scale)


def build_train_module(cfg: Config, num_classes: int) -> TrainModule:
    """Backbone + method (+ online probe over ``num_classes`` classes) from the config."""
    backbone = build_backbone(
        cfg.model.backbone,
        image_size=cfg.augment.output_size,
        width=cfg.model.width,
        stem=cfg.model.stem,
        norm=cfg.model.norm,
        patch_size=cfg.model.patch_size,
        depth=cfg.model.depth,
        zero_init_residual=cfg.model.zero_init_residual,
    )
    method = build_method(cfg.method.name, backbone, cfg.method.params, norm=cfg.model.norm)
    return TrainModule(method, num_classes if cfg.train.online_probe else 0)
