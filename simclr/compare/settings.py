"""What a ``segaug-compare`` study runs: :class:`CompareSettings`, its presets and sweeps.

Every setting is checked by :meth:`CompareSettings.validate` before any work, with one
``ValueError`` naming the setting. The probe constants (:data:`L2_GRID`,
:data:`PROBE_FIT`, :data:`KNN_K`, :data:`KNN_TEMPERATURE`) are shared by every
evaluation protocol.

Example:
    >>> s = preset_settings("default", epochs=3)
    >>> s.epochs, s.recipes, s.resolved_protocol()
    (3, ('thesis', 'background_fill'), 'backgrounds')
    >>> replace(s, dataset="cifar10").resolved_protocol()
    'transfer'
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from simclr.evaluate.format import quoted_names

__all__ = [
    "CompareSettings",
    "DEFAULT_STUDY_MINUTES",
    "KNN_K",
    "KNN_TEMPERATURE",
    "L2_GRID",
    "PRESETS",
    "PROBE_FIT",
    "preset_settings",
]

KNN_K = 20
"""kNN neighbours of every kNN number of the report."""
KNN_TEMPERATURE = 0.1
"""kNN temperature of every kNN number of the report."""
L2_GRID = (1e-5, 1e-4, 1e-3, 1e-2)
"""L2 penalties the probes choose from (every choice in our calibration runs fell inside it)."""
DEFAULT_STUDY_MINUTES = 15.0
"""Wall time of a bare ``segaug-compare`` (the default study, 20 pretraining runs): about 15
minutes on 2 CPU cores; measured 20.8 on an AVX2-only AMD EPYC, and 13 expected on AVX-512
(its 12-run study took 7.8). ``--help`` states it and a study's first line scales it."""
PROBE_FIT: dict[str, Any] = {"max_iter": 500, "tol": 1e-6}
"""L-BFGS settings of the probes: converged fits (100 iterations moved object info by up to
4 points on our encoders, so the budget is not saved here)."""


@dataclass
class CompareSettings:
    """What :func:`~simclr.compare.run_study` runs.

    Attributes:
        recipes: Recipe names (``segaug.recipes.names()``) compared with the baseline.
        methods: SSL methods (``simclr.methods.METHODS``); each gets its own anchors.
        sweep: Extra rows ``recipe.param=v1,v2,...`` (e.g. ``background_fill.p=0.2,0.8``),
            one per value; ``param=value`` pairs after a space hold other parameters of
            the recipe fixed in each of those rows (``"background_fill.p=0.5 swap=1.0"``).
        seeds: Pretraining seeds; every row runs once per seed, paired across rows.
        anchors: Add the objects-alone and baseline rows (needed for paired statistics).
        floors: Evaluate the floors (random-init encoders, raw pixels).
        num_samples: Pretraining images (datasets with exact backgrounds, which render
            their images).
        image_size: Side of images and views.
        bias: Probability that a training image lies on its class's background family
            (datasets with exact backgrounds).
        style: ``ShapeStyle`` fields of the rendered data (object size, rotation, object
            colour).
        crop_scale: Area range of every recipe's random resized crop.
        epochs: Pretraining epochs per run.
        batch_size: Global batch.
        batch_sizes: A batch-size axis (each row runs at every size); empty = ``batch_size``.
        backbone: Backbone name; ``width`` its multiplier.
        width: Backbone width multiplier.
        optimizer: ``adamw``, ``lars`` or ``sgd``.
        lr: Base learning rate (scaled by batch/256).
        temperature: NT-Xent temperature (SimCLR-family methods).
        method_params: Per-method keyword arguments, checked by each method's config
            (e.g. ``{"byol": {"proj_hidden_dim": 512}}``); the paper defaults otherwise.
        probe_train: Biased training images for the challenge probe.
        probe_val: Biased validation images for choosing its L2 penalty.
        eval_images: Images of the random-background test split (object and background
            info fit on one half, score on the other; the same objects on gray for the
            objects-alone anchor).
        challenge_images: Images of each backgrounds-challenge variant.
        threads: Torch CPU threads (0 = torch's default).
        num_workers: DataLoader workers that decode real images (pretraining and probes).
        device: ``auto``, ``cpu`` or ``cuda``.
        out_dir: Parent of the ``compare-<timestamp>`` folder.
        preset: Name of the preset these settings came from (reported).
        dataset: Registered dataset to pretrain and probe on (``segaug.data``);
            ``synthetic`` (offline) or a real one (``cifar10``, ``imagefolder``, ...).
        data_root: Its root folder (datasets read from disk).
        masks: ``data.masks`` of the pretraining runs (datasets read from disk): ``gt``,
            ``files:DIR``, a mask-cache folder or a segmenter name (``classical``, ...).
        data_params: Extra keyword arguments of the dataset's factory (datasets read from
            disk; ``imagefolder`` pretraining reads its folder directly and ignores them).
        download: Let torchvision download a missing real dataset (needs internet).
        protocol: ``auto`` (chosen from the dataset's capabilities: ``backgrounds`` where
            it has exact backgrounds, ``transfer`` otherwise) or a protocol name of
            :data:`simclr.compare.protocols.PROTOCOLS`. Under ``transfer``,
            ``probe_train`` caps the probe's training images and ``eval_images`` the
            test images (``None``: the whole split); ``anchors`` adds the baseline row
            only (objects alone needs exact backgrounds).
        budgets: A training-length axis in epochs (every row runs at each, paired with
            the anchors of its length; the report plots each recipe's gain against the
            pretraining steps); empty = ``epochs``.
        segmenter_masks: Segmenters (``classical``, ``deeplabv3``, ``sam``) whose masks
            every recipe row (sweep rows included) is also trained with, beside the exact
            masks (datasets with exact backgrounds). Each segmenter's masks of the training
            images are computed once into the study's ``masks/`` cache; the report gives
            their IoU against the exact masks, their fallback share and each recipe's
            gain with them, paired by seed.
        degraded_masks: Target IoUs (e.g. ``0.9, 0.75, 0.6, 0.45``): every recipe row
            (sweep rows included) is also trained with the exact masks degraded to each
            (:func:`segaug.masks.degrade.degrade_masks`); the report plots the gain
            against the IoU reached.
        mask_checkpoint: Weights file of a ``segmenter_masks`` entry that loads weights
            (``deeplabv3``, ``sam``).
    """

    recipes: tuple[str, ...] = ("thesis", "background_fill")
    methods: tuple[str, ...] = ("simclr",)
    sweep: tuple[str, ...] = ()
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    anchors: bool = True
    floors: bool = True
    num_samples: int = 4096
    image_size: int = 32
    bias: float = 0.7
    style: dict[str, Any] = field(
        default_factory=lambda: {
            "coverage": [0.2, 0.5],
            "small_fraction": 0.0,
            "max_rotation": 0.0,
            "object_colour": "gray",
        }
    )
    crop_scale: tuple[float, float] = (0.2, 1.0)
    epochs: int = 6
    batch_size: int = 128
    batch_sizes: tuple[int, ...] = ()
    backbone: str = "convnet"
    width: float = 0.5
    optimizer: str = "adamw"
    lr: float = 0.008
    temperature: float = 0.2
    method_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    probe_train: int = 2000
    probe_val: int = 1000
    eval_images: int = 8000
    challenge_images: int = 4000
    threads: int = 0
    num_workers: int = 0
    device: str = "auto"
    out_dir: str = "runs"
    preset: str = "default"
    dataset: str = "synthetic"
    data_root: str = "data"
    masks: str = "gt"
    data_params: dict[str, Any] = field(default_factory=dict)
    download: bool = False
    protocol: str = "auto"
    budgets: tuple[int, ...] = ()
    segmenter_masks: tuple[str, ...] = ()
    degraded_masks: tuple[float, ...] = ()
    mask_checkpoint: str | None = None

    def resolved_protocol(self) -> str:
        """The evaluation protocol: ``protocol``, with ``auto`` chosen by the dataset."""
        from segaug.data import get_dataset_info
        from simclr.compare.protocols import auto_protocol

        if self.protocol != "auto":
            return self.protocol
        return auto_protocol(get_dataset_info(self.dataset)).name

    def batch_axis(self) -> tuple[int, ...]:
        """The batch sizes every row runs at: ``batch_sizes``, else ``(batch_size,)``."""
        return self.batch_sizes or (self.batch_size,)

    def budget_axis(self) -> tuple[int, ...]:
        """The pretraining lengths (epochs) every row runs at: ``budgets``, else ``(epochs,)``."""
        return self.budgets or (self.epochs,)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CompareSettings:
        """Settings from their JSON form (``report.json``'s ``settings``): lists become tuples.

        Example:
            >>> CompareSettings.from_dict({"seeds": [0, 1], "crop_scale": [0.3, 1.0]}).seeds
            (0, 1)
        """
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})

    def validate(self) -> None:
        """Raise ``ValueError`` naming the setting, before any work."""
        from segaug import recipes
        from segaug.data import get_dataset_info
        from simclr.compare.plan import (
            BASELINE,
            RunSpec,
            rendering_datasets,
            renders_data,
            sweep_rows,
            train_config,
        )
        from simclr.compare.protocols import PROTOCOLS, get_protocol
        from simclr.methods import METHODS

        if not self.recipes and not self.sweep and not self.anchors:
            raise ValueError("recipes: nothing to compare (no recipes, sweeps or anchors)")
        get_dataset_info(self.dataset)  # raises listing every dataset
        if self.protocol not in ("auto", *PROTOCOLS.names()):
            raise ValueError(
                f"protocol: expected 'auto', {', '.join(map(repr, PROTOCOLS.names()))}, "
                f"got {self.protocol!r}"
            )
        protocol = get_protocol(self.resolved_protocol())
        protocol.check_dataset(self.dataset)
        if not renders_data(self) and self.bias != CompareSettings.bias:
            raise ValueError(
                f"bias: applies to {quoted_names(rendering_datasets())} only, got "
                f"dataset {self.dataset!r}"
            )
        if not isinstance(self.data_params, dict):
            raise ValueError(f"data_params: expected a mapping, got {self.data_params!r}")
        self._validate_rendering()
        for r in self.recipes:
            if r not in recipes.names():
                raise ValueError(
                    f"recipes: unknown recipe {r!r}; expected one of {', '.join(recipes.names())}"
                )
        if not self.methods:
            raise ValueError("methods: expected at least one method, got none")
        for m in self.methods:
            METHODS.get(m)  # raises listing every method
        if not isinstance(self.method_params, dict) or not all(
            isinstance(v, dict) for v in self.method_params.values()
        ):
            raise ValueError(
                f"method_params: expected {{method: {{param: value}}}}, got {self.method_params!r}"
            )
        extra = sorted(set(self.method_params) - set(self.methods))
        if extra:
            raise ValueError(
                f"method_params: {extra} are not among the methods {list(self.methods)}"
            )
        sweep_params: dict[str, tuple[str, Any]] = {}
        for s in self.sweep:
            recipe, rows = sweep_rows(s)
            for label, params in rows:
                seen = sweep_params.setdefault(label, (recipe, params))
                if seen != (recipe, params):
                    raise ValueError(
                        f"sweep {s!r}: row {label!r} is also a row of another sweep with "
                        f"other parameters ({dict(seen[1])} and {dict(params)})"
                    )
        if not self.seeds:
            raise ValueError("seeds: expected at least one seed, got none")
        for name in (
            "num_samples",
            "image_size",
            "epochs",
            "batch_size",
            "probe_train",
            "probe_val",
            "eval_images",
            "challenge_images",
        ):
            v = getattr(self, name)
            if v is None and name in protocol.whole_split_settings:
                continue  # the whole split
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name}: expected a positive int, got {v!r}")
        for b in self.batch_axis():
            if isinstance(b, bool) or not isinstance(b, int) or b < 2:
                raise ValueError(f"batch_size: expected ints >= 2 (negatives), got {b!r}")
            if renders_data(self) and self.num_samples < b:
                raise ValueError(f"num_samples: {self.num_samples} is fewer than one batch of {b}")
        for name in ("threads", "num_workers"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"{name}: expected an int >= 0, got {v!r}")
        if not 0.0 <= self.bias <= 1.0:
            raise ValueError(f"bias: expected a probability in [0, 1], got {self.bias!r}")
        for name in ("eval_images", "challenge_images"):
            v = getattr(self, name)
            if v is not None and v < 40:
                raise ValueError(f"{name}: expected >= 40, got {v}")
        for e in self.budget_axis():
            if isinstance(e, bool) or not isinstance(e, int) or e < 1:
                raise ValueError(f"budgets: expected positive ints (epochs), got {e!r}")
        if len(set(self.budget_axis())) != len(self.budget_axis()):
            raise ValueError(f"budgets: expected distinct values, got {list(self.budgets)}")
        protocol.validate(self)
        batch = self.batch_axis()[0]
        for m in self.methods:  # each method's training config, its params included
            spec = RunSpec(BASELINE, "baseline", m, BASELINE, (), self.seeds[0], batch_size=batch)
            try:
                train_config(self, spec, Path(self.out_dir))
            except ValueError as err:
                raise ValueError(f"method {m!r}: {err}") from None
        for s in self.sweep:  # each sweep row's recipe, built with its values
            recipe, rows = sweep_rows(s)
            for label, params in rows:
                spec = RunSpec(label, "recipe", self.methods[0], recipe, params, self.seeds[0])
                try:
                    train_config(self, spec, Path(self.out_dir))
                except ValueError as err:
                    raise ValueError(f"sweep {s!r}: row {label!r}: {err}") from None

    def _validate_rendering(self) -> None:
        """``style``, ``masks`` and the mask rows against what the dataset renders."""
        import inspect

        from segaug.data import DATASETS
        from segaug.masks.resolve import resolve_masks, segmenter_loads_weights
        from simclr.compare.plan import rendering_datasets, renders_data

        renders = renders_data(self)
        takes_style = "style" in inspect.signature(DATASETS.get(self.dataset)).parameters
        if renders and self.style and not takes_style:
            raise ValueError(
                f"style: dataset {self.dataset!r} takes no style (its rendering options go "
                f"in data_params); use --set style={{}} or a preset made for it "
                f"(e.g. --preset photos)"
            )
        if renders and self.masks != CompareSettings.masks:
            raise ValueError(
                f"masks: dataset {self.dataset!r} trains with its exact masks; add rows "
                f"trained with a segmenter's masks with segmenter_masks "
                f"(--segmenter-masks {self.masks}), got masks={self.masks!r}"
            )
        if not renders and (self.segmenter_masks or self.degraded_masks):
            raise ValueError(
                f"segmenter_masks / degraded_masks: need exact masks to compare with "
                f"({quoted_names(rendering_datasets())}), got dataset {self.dataset!r}"
            )
        for name in self.segmenter_masks:
            resolve_masks(name, argument="segmenter_masks", kinds=("segmenter",), build=False)
        weighted = [n for n in self.segmenter_masks if segmenter_loads_weights(n)]
        if self.mask_checkpoint is not None and not weighted:
            raise ValueError(
                f"mask_checkpoint: none of segmenter_masks {list(self.segmenter_masks)} loads "
                f"weights, got {self.mask_checkpoint!r}"
            )
        if len(weighted) > 1:
            raise ValueError(
                f"segmenter_masks: one mask_checkpoint serves one segmenter that loads weights, "
                f"got {weighted}"
            )
        for name in weighted:
            resolve_masks(
                name, argument="segmenter_masks", checkpoint=self.mask_checkpoint, build=False
            )
        if len(set(self.segmenter_masks)) != len(self.segmenter_masks):
            raise ValueError(
                f"segmenter_masks: expected distinct names, got {self.segmenter_masks}"
            )
        for v in self.degraded_masks:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.2 <= v < 1.0:
                raise ValueError(f"degraded_masks: expected target IoUs in [0.2, 1), got {v!r}")
        if len({f"{v:g}" for v in self.degraded_masks}) != len(self.degraded_masks):
            raise ValueError(
                f"degraded_masks: expected distinct values, got {list(self.degraded_masks)}"
            )
        owned = [k for k in ("background",) if k in self.style or k in self.data_params]
        if renders and owned:
            raise ValueError(
                "style / data_params: 'background' is set by the protocol (the dataset's "
                "backgrounds, or gray for the anchor); remove it"
            )


PRESETS: dict[str, dict[str, Any]] = {
    # floors + anchors + thesis + the best background recipe of our measurements, 5 seeds:
    # two recipe rows pool 8 degrees of freedom, so a pooled paired std up to 2.9 points
    # still resolves a 3-point effect (measured: 1.7); at 3 seeds one above 1.9 failed,
    # and a healthy 3-seed run measured 2.3
    "default": {},
    # every recipe and the probability sweeps, on the same CPU budget per run
    "cpu": {
        "seeds": (0, 1, 2),  # 11 recipe rows pool 22 degrees of freedom at 3 seeds
        "recipes": (
            "thesis",
            "object_aware",
            "background_swap",
            "independent",
            "independent_swap",
            "background_fill",
        ),
        "sweep": (
            "background_fill.p=0.2,0.5",
            "independent_swap.p=0.2,0.5",
            "independent_swap.swap_donor=image",
        ),
    },
    # the methods x transform-sets study: methods x recipes x batch sizes, runtime and
    # memory; linear probe and kNN on the dataset's own splits: the same command on real data
    "study": {
        "recipes": ("thesis", "background_fill"),
        "methods": ("simclr", "byol"),
        "batch_sizes": (64, 128),
        "seeds": (0, 1),
        "protocol": "transfer",
        "epochs": 3,
        "probe_train": 4000,
        "eval_images": 4000,
    },
    # real clip-art objects on real photos (Debian's openclipart-png and mate-backgrounds),
    # exact alpha masks, two training lengths (the longer 3x the shorter); sized for 15
    # min on two CPU cores
    "photos": {
        "dataset": "objects_on_photos",
        "seeds": (0, 1, 2),  # paired stds of 0.4-0.7 resolve +-1-2 points here
        "style": {},
        "recipes": ("background_fill", "independent_swap"),
        "num_samples": 2048,
        "budgets": (3, 9),
        "probe_train": 1000,
        "probe_val": 500,
        "challenge_images": 1000,
    },
    # what a CPU cannot do: 64 px, a full-width ResNet-18, hundreds of epochs
    "gpu": {
        "seeds": (0, 1, 2),  # 6 recipe rows pool 12 degrees of freedom
        "recipes": ("thesis", "object_aware", "independent_swap", "background_fill"),
        "sweep": ("background_fill.p=0.2,0.5",),
        "num_samples": 20000,
        "image_size": 64,
        "epochs": 200,
        "batch_size": 512,
        "backbone": "resnet18",
        "width": 1.0,
        "optimizer": "lars",
        "lr": 1.0,
        "temperature": 0.2,
        "eval_images": 10000,
        "challenge_images": 10000,
        "probe_train": 10000,
        "device": "cuda",
    },
}
"""Named starting points of :func:`preset_settings` (``--preset``)."""


def preset_settings(name: str, **overrides: Any) -> CompareSettings:
    """The settings of preset ``name`` (see :data:`PRESETS`), then ``overrides``."""
    if name not in PRESETS:
        raise ValueError(f"preset: unknown preset {name!r}; expected one of {', '.join(PRESETS)}")
    return replace(CompareSettings(), preset=name, **{**PRESETS[name], **overrides})
