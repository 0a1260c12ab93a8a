"""``segaug-compare``: does a recipe reduce an encoder's reliance on the background?

A calibrated measurement on the offline SyntheticShapes data, whose exact masks and
exact backgrounds let every test image be recombined. For each recipe (and method) and
each seed it pretrains an encoder with ``simclr-train``'s :func:`~simclr.train.train`,
freezes it, and measures with the probes of :mod:`simclr.evaluate`:

* the **backgrounds challenge** (Xiao et al. 2020; :mod:`simclr.evaluate.background`):
  Original, Only-FG, Only-BG, Mixed-Same, Mixed-Rand and BG-Gap, through one linear probe
  fitted on the biased training set (backgrounds follow the class with probability
  ``bias``);
* **object info** and **background info**: linear probes fitted on one half of a test
  split whose backgrounds are random and scored on the other half; they predict the class
  or the background family and cannot lean on a class-background correlation.

The instrument is calibrated by rows trained and probed alike:

* **floors**: a randomly initialised encoder and raw pixels (what needs no training);
* **objects alone** (upper anchor): ``simclr`` pretrained on the same objects on a
  neutral background, its object info measured on such images: what the budget can
  learn when no background competes;
* **baseline** (lower anchor): ``simclr`` on the biased training set.

Every recipe gets the **paired difference** from the baseline (same seeds) with a 95%
t interval, and the **gap closed**: (recipe - baseline) / (objects alone - baseline) on
object info. Results land in ``runs/compare-<timestamp>/`` (``report.md``,
``report.json``, ``object_info.png`` (``linear.png`` under the transfer protocol),
``paired.png``, ``heatmap.png``); every finished run is saved as it ends, and
``--resume DIR`` skips the runs already done.

The same runner is the **study runner** (methods x recipes x batch sizes, seed 004's
table with wall time and peak memory per cell). On a real dataset, which has no exact
backgrounds, it runs the ``transfer`` protocol: floors, the baseline row, linear probe
and kNN on the dataset's own labelled splits through :mod:`simclr.evaluate.suite`
(the code path of ``simclr-eval``), with the same paired statistics.

Usage::

    segaug-compare                                   # default preset, ~10 min on 2 CPU cores
    segaug-compare --preset cpu                      # every recipe and the p sweeps
    segaug-compare --recipes independent_swap --sweep independent_swap.p=0.2,0.5,0.8
    segaug-compare --methods simclr byol --recipes thesis
    segaug-compare --preset study                    # methods x recipes x batch sizes
    segaug-compare --preset study --dataset cifar10 --data-root ~/data --masks masks/cifar10
    segaug-compare --preset gpu --device cuda        # 64 px, ResNet-18, hundreds of epochs

References:
    - [0]: Xiao, Engstrom, Ilyas, Madry, Noise or Signal: The Role of Image Backgrounds
      in Object Recognition, ICLR 2021, https://arxiv.org/abs/2006.09994
    - [1]: Ryali, Schwab, Morcos, Characterizing and Improving the Robustness of
      Self-Supervised Learning through Background Augmentations, 2021,
      https://arxiv.org/abs/2103.12719
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from tqdm import tqdm

if TYPE_CHECKING:
    from simclr.evaluate.suite import EvalSettings

__all__ = [
    "CompareSettings",
    "PRESETS",
    "RunSpec",
    "compare_pipelines",
    "plan_runs",
    "parse_sweep",
    "main",
]

ANCHOR = "objects alone"
BASELINE = "simclr"
METRICS = ("original", "only_fg", "only_bg", "mixed_same", "mixed_rand")
PAIRED = ("object_info", "mixed_rand", "bg_gap")
PROTOCOLS = ("backgrounds", "transfer")
"""``backgrounds``: the calibrated instrument (synthetic data only: it needs exact
backgrounds). ``transfer``: linear probe and kNN on the dataset's own labelled splits
(any registered dataset; the same code path as ``simclr-eval``)."""
TRANSFER_KEYS = ("linear", "knn")
KNN_K = 20
"""kNN neighbours of every kNN number of the report (temperature 0.1)."""
L2_GRID = (1e-5, 1e-4, 1e-3, 1e-2)
"""L2 penalties the probes choose from (every choice in our calibration runs fell inside it)."""
PROBE_FIT: dict[str, Any] = {"max_iter": 500, "tol": 1e-6}
"""L-BFGS settings of the probes: converged fits (100 iterations moved object info by up to
4 points on our encoders, so the budget is not saved here)."""

COLUMNS: dict[str, str] = {
    "original": "test images as they are (backgrounds follow the class as in training)",
    "mixed_same": "object on the background of another image of its class's family",
    "mixed_rand": "object on a background of a random family",
    "bg_gap": "Mixed-Same minus Mixed-Rand: accuracy owed to a matching background "
    "(lower = less reliance)",
    "only_fg": "object alone on neutral gray",
    "only_bg": "background alone, object removed (higher = the probe reads the background)",
    "object_info": "probe fitted on half of a random-background split, scored on the other "
    "half: object information in the features (higher is better)",
    "bg_info": "the same probe predicting the background family (lower = less background "
    "information; chance 10%)",
    "gap_closed": "(recipe - baseline) / (objects alone - baseline) on object info",
}


@dataclass
class CompareSettings:
    """What :func:`compare_pipelines` runs.

    Attributes:
        recipes: Recipe names (``segaug.recipes.names()``) compared with the baseline.
        methods: SSL methods (``simclr.methods.METHODS``); each gets its own anchors.
        sweep: Extra rows ``recipe.param=v1,v2,...`` (e.g. ``background_fill.p=0.2,0.8``).
        seeds: Pretraining seeds; every row runs once per seed, paired across rows.
        anchors: Add the objects-alone and baseline rows (needed for paired statistics).
        floors: Evaluate the floors (random-init encoders, raw pixels).
        num_samples: Pretraining images.
        image_size: Side of images and views.
        bias: Probability that a training image lies on its class's background family.
        style: ``ShapeStyle`` fields of the data (object size, rotation, object colour).
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
        data_root: Its root folder (real datasets).
        masks: ``data.masks`` of the pretraining runs (real datasets): ``gt``,
            ``files:DIR``, a mask-cache folder or a segmenter name (``classical``, ...).
        data_params: Extra keyword arguments of the dataset's factory (real datasets;
            ``imagefolder`` pretraining reads its folder directly and ignores them).
        download: Let torchvision download a missing real dataset (needs internet).
        protocol: ``auto`` (``backgrounds`` on ``synthetic``, ``transfer`` otherwise),
            ``backgrounds`` or ``transfer`` (see :data:`PROTOCOLS`). Under ``transfer``,
            ``probe_train`` caps the probe's training images and ``eval_images`` the
            test images (``None``: the whole split); ``anchors`` adds the baseline row
            only (objects alone needs exact backgrounds).
    """

    recipes: tuple[str, ...] = ("thesis", "background_fill")
    methods: tuple[str, ...] = ("simclr",)
    sweep: tuple[str, ...] = ()
    seeds: tuple[int, ...] = (0, 1, 2)
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

    def resolved_protocol(self) -> str:
        """The evaluation protocol: ``protocol``, with ``auto`` resolved by the dataset."""
        if self.protocol != "auto":
            return self.protocol
        return "backgrounds" if self.dataset == "synthetic" else "transfer"

    def validate(self) -> None:
        """Raise ``ValueError`` naming the setting, before any work."""
        from segaug import recipes
        from segaug.data import get_dataset_info
        from simclr.methods import METHODS

        if not self.recipes and not self.sweep and not self.anchors:
            raise ValueError("recipes: nothing to compare (no recipes, sweeps or anchors)")
        get_dataset_info(self.dataset)  # raises listing every dataset
        if self.protocol not in ("auto", *PROTOCOLS):
            raise ValueError(
                f"protocol: expected 'auto', {', '.join(map(repr, PROTOCOLS))}, "
                f"got {self.protocol!r}"
            )
        if self.resolved_protocol() == "backgrounds" and self.dataset != "synthetic":
            raise ValueError(
                f"protocol: 'backgrounds' needs exact masks and backgrounds, which only "
                f"'synthetic' has; got dataset {self.dataset!r} (use protocol 'transfer')"
            )
        if self.dataset != "synthetic" and self.bias != CompareSettings.bias:
            raise ValueError(f"bias: applies to 'synthetic' only, got dataset {self.dataset!r}")
        if not isinstance(self.data_params, dict):
            raise ValueError(f"data_params: expected a mapping, got {self.data_params!r}")
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
        for s in self.sweep:
            parse_sweep(s)
        if not self.seeds:
            raise ValueError("seeds: expected at least one seed, got none")
        transfer = self.resolved_protocol() == "transfer"
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
            if v is None and transfer and name in ("probe_train", "eval_images"):
                continue  # the whole split
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name}: expected a positive int, got {v!r}")
        for b in self.batch_sizes or (self.batch_size,):
            if isinstance(b, bool) or not isinstance(b, int) or b < 2:
                raise ValueError(f"batch_size: expected ints >= 2 (negatives), got {b!r}")
            if self.dataset == "synthetic" and self.num_samples < b:
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
        if transfer:  # the probes' own checks (the device is checked when a run starts)
            replace(transfer_settings(self), device="cpu").validate()
        batch = (self.batch_sizes or (self.batch_size,))[0]
        for m in self.methods:  # each method's training config, its params included
            spec = RunSpec(BASELINE, "baseline", m, BASELINE, (), self.seeds[0], batch_size=batch)
            try:
                train_config(self, spec, Path(self.out_dir))
            except ValueError as err:
                raise ValueError(f"method {m!r}: {err}") from None


PRESETS: dict[str, dict[str, Any]] = {
    # floors + anchors + thesis + the best background recipe of our measurements, 3 seeds
    "default": {},
    # every recipe and the probability sweeps, on the same CPU budget per run
    "cpu": {
        "recipes": (
            "thesis",
            "object_aware",
            "background_swap",
            "independent",
            "independent_swap",
            "background_fill",
        ),
        "sweep": ("background_fill.p=0.2,0.5", "independent_swap.p=0.5,0.8"),
    },
    # seed 004's kind of table: methods x recipes x batch sizes, runtime and memory
    # linear probe and kNN on the dataset's own splits: the same command on real data
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
    # what a CPU cannot do: 64 px, a full-width ResNet-18, hundreds of epochs
    "gpu": {
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


def preset_settings(name: str, **overrides: Any) -> CompareSettings:
    """The settings of preset ``name`` (``default``, ``cpu``, ``gpu``), then ``overrides``."""
    if name not in PRESETS:
        raise ValueError(f"preset: unknown preset {name!r}; expected one of {', '.join(PRESETS)}")
    return replace(CompareSettings(), preset=name, **{**PRESETS[name], **overrides})


def parse_sweep(spec: str) -> tuple[str, str, list[Any]]:
    """``"recipe.param=v1,v2"`` -> ``(recipe, param, [v1, v2])`` (values as YAML scalars).

    Example:
        >>> parse_sweep("background_fill.p=0.2,0.8")
        ('background_fill', 'p', [0.2, 0.8])
    """
    import inspect

    import yaml

    from segaug import recipes

    head, sep, values = spec.partition("=")
    recipe, dot, param = head.partition(".")
    if not sep or not dot or not values:
        raise ValueError(f"sweep: expected 'recipe.param=v1,v2,...', got {spec!r}")
    if recipe not in recipes.names():
        raise ValueError(
            f"sweep {spec!r}: unknown recipe {recipe!r}; expected one of "
            f"{', '.join(recipes.names())}"
        )
    accepted = inspect.signature(recipes.RECIPES.get(recipe)).parameters
    if param not in accepted or param == "output_size":
        options = [p for p in accepted if p != "output_size"]
        raise ValueError(
            f"sweep {spec!r}: recipe {recipe!r} has no parameter {param!r}; expected one of "
            f"{', '.join(options)}"
        )
    return recipe, param, [yaml.safe_load(v) for v in values.split(",")]


@dataclass(frozen=True)
class RunSpec:
    """One pretraining run: a row of the report at one seed."""

    row: str
    kind: str  # "anchor", "baseline" or "recipe"
    method: str
    recipe: str
    params: tuple[tuple[str, Any], ...]
    seed: int
    label: str = ""  # the recipe part of the row (without method and batch size)
    batch_size: int = 0  # 0: the settings' batch_size

    @property
    def name(self) -> str:
        """Folder name of the run (stable, file-system safe)."""
        safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in self.row)
        return f"{safe}-seed{self.seed}"


def _row_label(s: CompareSettings, method: str, batch: int, label: str) -> str:
    parts = [method] if len(s.methods) > 1 else []
    parts += [f"bs {batch}"] if len(s.batch_sizes) > 1 else []
    return " / ".join([*parts, label])


def plan_runs(s: CompareSettings) -> list[RunSpec]:
    """Every run of a comparison, seed-major so each seed's rows finish together.

    Example:
        >>> runs = plan_runs(CompareSettings(recipes=("thesis",), seeds=(0,)))
        >>> [(r.row, r.kind) for r in runs]
        [('objects alone', 'anchor'), ('simclr', 'baseline'), ('thesis', 'recipe')]
    """
    cells: list[tuple[str, str, str, tuple[tuple[str, Any], ...]]] = []  # label, kind, recipe
    if s.anchors and s.resolved_protocol() == "backgrounds":
        cells.append((ANCHOR, "anchor", BASELINE, ()))
    if s.anchors:
        cells.append((BASELINE, "baseline", BASELINE, ()))
    for r in s.recipes:
        if not (r == BASELINE and s.anchors):
            cells.append((r, "recipe", r, ()))
    for spec in s.sweep:
        recipe, param, values = parse_sweep(spec)
        cells += [(f"{recipe} {param}={v}", "recipe", recipe, ((param, v),)) for v in values]
    seen: set[tuple[str, int]] = set()
    out = []
    for seed in s.seeds:
        for m in s.methods:
            for b in s.batch_sizes or (s.batch_size,):
                for label, kind, recipe, params in cells:
                    row = _row_label(s, m, b, label)
                    if (row, seed) not in seen:
                        seen.add((row, seed))
                        out.append(RunSpec(row, kind, m, recipe, params, seed, label, b))
    return out


# ------------------------------------------------------------------------------- data
def _style(s: CompareSettings, background: str) -> Any:
    from segaug.data.synthetic import ShapeStyle

    st = dict(s.style)
    if "coverage" in st:
        st["coverage"] = tuple(st["coverage"])
    return ShapeStyle(**{**st, "background": background})


def _tensors(ds: Any, n: int) -> tuple[torch.Tensor, ...]:
    """(images uint8 N3HW, masks uint8 N1HW, labels, families, backgrounds N3HW)."""
    import numpy as np

    idx = np.arange(n)
    images, masks, labels = ds.get_batch(idx)
    backgrounds = ds.get_backgrounds(idx)

    def chw(a: Any) -> torch.Tensor:
        return torch.from_numpy(a).permute(0, 3, 1, 2).contiguous()

    return (
        chw(images),
        torch.from_numpy(masks)[:, None].contiguous(),
        torch.from_numpy(labels),
        torch.from_numpy(ds.background_families[:n].copy()),
        chw(backgrounds),
    )


def build_eval_sets(s: CompareSettings) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Every labelled image set the probes need, as ``{name: (uint8 images, labels)}``.

    ``train``/``val``: biased (the challenge probe's fit and L2 choice); the five
    challenge variants of ``test_biased``; ``random`` (and its ``families``) and
    ``neutral``: the random-background test split, with its textures and on gray.
    """
    from segaug.data.synthetic import SyntheticShapes
    from simclr.evaluate.background import background_challenge

    def split(name: str, n: int, background: str = "texture") -> SyntheticShapes:
        return SyntheticShapes(
            name, size=s.image_size, num_samples=n, bias=s.bias, style=_style(s, background)
        )

    out: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    for name, n in (("train", s.probe_train), ("val", s.probe_val)):
        im, _, y, _, _ = _tensors(split(name, n), n)
        out[name] = (im, y)
    n = s.challenge_images
    im, m, y, fam, bg = _tensors(split("test_biased", n), n)
    for name, images in background_challenge(im, m, bg, y, fam, seed=0).items():
        out[name] = (images, y)
    n = s.eval_images
    im, _, y, fam, _ = _tensors(split("test", n), n)
    out["random"] = (im, y)
    out["random_families"] = (im, fam)
    im, _, y, _, _ = _tensors(split("test", n, "neutral"), n)
    out["neutral"] = (im, y)
    return out


# ------------------------------------------------------------------------ evaluation
def _fit_selected(x: torch.Tensor, y: torch.Tensor, k: int):
    """A logistic-regression probe whose L2 is chosen on a held-out fifth of its own data.

    Each probe picks its own penalty (the last fifth of the fitting rows decides, then the
    probe is refit on all of them), so an encoder is never judged with a penalty chosen
    for another task; the grid is :data:`L2_GRID`.
    """
    from simclr.evaluate.linear import fit_logistic_regression, linear_probe

    cut = int(0.8 * x.shape[0])
    probe = linear_probe(
        (x[:cut], y[:cut]),
        (x[cut:], y[cut:]),
        (x[cut:], y[cut:]),
        k,
        l2_grid=L2_GRID,
        **PROBE_FIT,
        progress=False,
    )
    clf = fit_logistic_regression(x, y, k, probe.best_l2, **PROBE_FIT)
    return lambda f: clf.predict(f).argmax(dim=1)


def evaluate_encoder(
    encoder: torch.nn.Module,
    sets: dict[str, tuple[torch.Tensor, torch.Tensor]],
    mean: list[float],
    std: list[float],
    device: str | torch.device = "cpu",
) -> dict[str, Any]:
    """All metrics of one frozen encoder on :func:`build_eval_sets`' sets.

    Returns:
        ``{"challenge": {variant: top1}, "knn_original", "bg_gap", "object_info",
        "bg_info", "object_info_neutral", "best_l2"}``; accuracies in [0, 1]. Object and
        background info use :func:`_fit_selected` (L2 chosen inside the fitting half).
    """
    from simclr.evaluate.background import bg_gap, half_split_probe
    from simclr.evaluate.features import extract_tensor_features
    from simclr.evaluate.knn import knn_scores
    from simclr.evaluate.linear import fit_logistic_regression, linear_probe

    feats = {
        k: (extract_tensor_features(encoder, im, mean, std, device=device), y)
        for k, (im, y) in sets.items()
        if k != "random_families"
    }
    probe = linear_probe(
        feats["train"],
        feats["val"],
        feats["original"],
        10,
        l2_grid=L2_GRID,
        progress=False,
        **PROBE_FIT,
    )
    xtv = torch.cat([feats["train"][0], feats["val"][0]])
    ytv = torch.cat([feats["train"][1], feats["val"][1]])
    clf = fit_logistic_regression(xtv, ytv, 10, probe.best_l2, **PROBE_FIT)
    challenge = {
        k: float((clf.predict(feats[k][0]).argmax(1) == feats[k][1]).float().mean())
        for k in METRICS
    }
    fit = _fit_selected
    x_rand = feats["random"][0]
    knn = knn_scores(xtv, ytv, feats["original"][0], 10, 20, 0.1).argmax(dim=1)
    return {
        "challenge": challenge,
        "knn_original": float((knn == feats["original"][1]).float().mean()),
        "bg_gap": bg_gap(challenge),
        "object_info": half_split_probe(x_rand, feats["random"][1], fit),
        "bg_info": half_split_probe(x_rand, sets["random_families"][1], fit),
        "object_info_neutral": half_split_probe(feats["neutral"][0], feats["neutral"][1], fit),
        "best_l2": probe.best_l2,
    }


def transfer_settings(s: CompareSettings) -> EvalSettings:
    """The ``simclr-eval`` settings of the ``transfer`` protocol: linear probe and kNN.

    The probe's L2 is chosen on the dataset's validation split (official, or 10% of each
    training class held out) from :data:`L2_GRID`, then refit on train + validation; kNN
    uses k = :data:`KNN_K` and T = 0.1. Held-out rows and subsets use seed 0 for every
    encoder, so all rows are probed on the same images.
    """
    from simclr.evaluate.suite import EvalSettings

    if s.dataset == "synthetic":
        n = max(v for v in (s.probe_train, s.probe_val, s.eval_images) if v is not None)
        kwargs = {"size": s.image_size, "num_samples": n, "bias": s.bias, "style": s.style}
    else:
        kwargs = dict(s.data_params)
    return EvalSettings(
        datasets=[s.dataset],
        data_root=s.data_root,
        download=s.download,
        num_workers=s.num_workers,
        dataset_kwargs={s.dataset: kwargs} if kwargs else {},
        image_size=s.image_size,
        protocols=("linear", "knn"),
        floors=(),
        plots=(),
        l2_grid=L2_GRID,
        max_iter=PROBE_FIT["max_iter"],
        knn_ks=(KNN_K,),
        max_train=s.probe_train,
        max_test=s.eval_images,
        device=s.device,
        seed=0,
        progress=False,
    )


def check_transfer_data(s: CompareSettings) -> None:
    """Open the train and test splits before any training (a missing dataset fails now).

    Raises:
        ValueError: The dataset is missing or incomplete under ``data_root``.
    """
    from segaug.data import DatasetNotFoundError
    from simclr.evaluate.suite import load_split

    es = transfer_settings(s)
    for split in ("train", "test"):
        try:
            load_split(s.dataset, split, es)
        except ValueError as err:
            cause = err.__cause__
            msg = str(cause) if isinstance(cause, DatasetNotFoundError) else str(err)
            hint = " (or --set download=true)" if "download=True" in msg else ""
            raise ValueError(f"--dataset {s.dataset!r}: {msg}{hint}") from None
    if s.dataset != "synthetic":  # the pretraining data with its masks (bad specs fail here)
        from simclr.data import build_pretrain_dataset

        spec = RunSpec(BASELINE, "baseline", s.methods[0], BASELINE, (), s.seeds[0])
        try:
            ds = build_pretrain_dataset(train_config(s, spec, Path(s.out_dir)).data)
        except DatasetNotFoundError as err:
            raise ValueError(f"--dataset {s.dataset!r}: {err}") from None
        biggest = max(s.batch_sizes or (s.batch_size,))
        if len(ds) < biggest:
            raise ValueError(
                f"batch_size: {biggest} is more than the {len(ds)} training images of {s.dataset!r}"
            )


def evaluate_transfer(
    encoder: torch.nn.Module,
    s: CompareSettings,
    mean: list[float],
    std: list[float],
    inputs: Any = None,
) -> dict[str, Any]:
    """The ``transfer`` protocol's metrics of one frozen encoder.

    ``inputs`` (a :class:`~simclr.evaluate.features.InputCache`) keeps the preprocessed
    splits in memory from one encoder to the next.

    Returns:
        ``{"linear", "knn", "metric", "splits", "summary"}``: linear-probe and kNN scores
        on the test split, in the dataset's headline metric (top-1, or mean per-class
        accuracy where that is the convention), the split sizes used, and
        ``evaluate_dataset``'s whole summary (extra test splits included).
    """
    from simclr.evaluate.suite import evaluate_dataset

    # no feature cache here (cache_dir None), so the encoder identity is only a label
    res = evaluate_dataset(
        s.dataset, encoder, "compare", transfer_settings(s), mean_std=(mean, std), inputs=inputs
    )
    return {
        "linear": res["summary"]["linear"],
        "knn": res["summary"][f"knn_k{KNN_K}"],
        "metric": res["metric"],
        "splits": res["splits"],
        "summary": res["summary"],  # every number, e.g. linear_test_biased on synthetic
    }


# --------------------------------------------------------------------------- training
def train_config(s: CompareSettings, spec: RunSpec, run_dir: Path):
    """The ``simclr-train`` config of one run."""
    from simclr.config import Config

    cfg = Config()
    cfg.data.dataset = s.dataset
    cfg.data.image_size = s.image_size
    cfg.data.batch_size = spec.batch_size or s.batch_size
    if s.dataset == "synthetic":
        cfg.data.num_samples = s.num_samples
        background = "neutral" if spec.kind == "anchor" else "texture"
        cfg.data.params = {"bias": s.bias, "style": {**s.style, "background": background}}
    else:
        cfg.data.root = s.data_root
        cfg.data.download = s.download
        cfg.data.num_workers = s.num_workers
        cfg.data.num_samples = None
        cfg.data.masks = s.masks
        cfg.data.params = dict(s.data_params)
    cfg.augment.recipe = spec.recipe
    cfg.augment.output_size = s.image_size
    cfg.augment.params = {"crop_scale": list(s.crop_scale), **dict(spec.params)}
    cfg.model.backbone = s.backbone
    cfg.model.width = s.width
    cfg.method.name = spec.method
    base = {"temperature": s.temperature} if spec.method == "simclr" else {}
    cfg.method.params = {**base, **s.method_params.get(spec.method, {})}
    cfg.optim.name = s.optimizer
    cfg.optim.lr = s.lr
    cfg.optim.warmup_epochs = min(1.0, s.epochs / 4)
    cfg.train.epochs = s.epochs
    cfg.train.seed = spec.seed
    cfg.train.device = s.device
    cfg.train.output_dir = str(run_dir)
    cfg.train.progress = False
    cfg.train.online_probe = False
    cfg.train.plots = False
    cfg.train.checkpoint_every = s.epochs
    cfg.validate()
    return cfg


def _run_one(s: CompareSettings, spec: RunSpec, run_dir: Path, sets: Any) -> dict[str, Any]:
    from simclr.evaluate.features import load_encoder
    from simclr.train import train

    cfg = train_config(s, spec, run_dir)
    from segaug.env import PeakRSS

    cuda = torch.cuda.is_available() and s.device in ("auto", "cuda")
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    with PeakRSS() as rss:
        result = train(cfg)
    seconds = time.perf_counter() - t0
    peak = _peak_memory(cuda, rss)
    enc = load_encoder(run_dir)
    mean, std = enc.mean_std
    if s.resolved_protocol() == "transfer":
        metrics = evaluate_transfer(enc.encoder, s, mean, std, inputs=sets)
    else:
        device = next(enc.encoder.parameters()).device
        metrics = evaluate_encoder(enc.encoder, sets, mean, std, device)
    last = result.epochs[-1] if result.epochs else {}
    batch = cfg.data.batch_size
    return {
        **asdict(spec),
        "params": dict(spec.params),
        "batch_size": batch,
        "train_seconds": seconds,
        "images_per_s": result.step * batch / seconds,
        **peak,
        "final_loss": float(last.get("loss", math.nan)),
        "fallback_rate": float(last.get("fallback_rate", math.nan)),
        **metrics,
    }


def _peak_memory(cuda: bool, rss: Any) -> dict[str, Any]:
    """Peak memory of the run: CUDA allocations, or the process's RSS peak on CPU.

    On CPU the figure is :class:`segaug.env.PeakRSS` of the pretraining: the whole
    process (the evaluation sets it holds included), sampled while the run trains; the
    report labels it as such.
    """
    if cuda:
        return {
            "peak_memory_bytes": torch.cuda.max_memory_allocated(),
            "peak_memory_kind": "torch.cuda.max_memory_allocated",
        }
    return {"peak_memory_bytes": rss.peak_bytes, "peak_memory_kind": rss.kind}


def _floors(s: CompareSettings, sets: Any) -> dict[str, dict[str, Any]]:
    """Random-init encoders (one per seed) and raw pixels, through the same probes."""
    from simclr.config import DataConfig
    from simclr.data import normalization_stats
    from simclr.evaluate.features import RawPixels
    from simclr.models import build_backbone

    mean, std = normalization_stats(DataConfig(dataset=s.dataset))

    def evaluate(enc: torch.nn.Module) -> dict[str, Any]:
        if s.resolved_protocol() == "transfer":
            return evaluate_transfer(enc, s, mean, std, inputs=sets)
        return evaluate_encoder(enc, sets, mean, std)

    out: dict[str, dict[str, Any]] = {"random init": {"seeds": []}, "raw pixels": {}}
    for seed in s.seeds:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            enc = build_backbone(s.backbone, s.image_size, width=s.width)
        out["random init"]["seeds"].append(evaluate(enc.eval()))
    out["raw pixels"]["seeds"] = [evaluate(RawPixels(min(16, s.image_size)))]
    return out


# ---------------------------------------------------------------------------- summary
_KEYS = {
    "backgrounds": (
        *METRICS,
        "bg_gap",
        "object_info",
        "bg_info",
        "object_info_neutral",
        "knn_original",
    ),
    "transfer": TRANSFER_KEYS,
}
"""The metrics summarised per protocol."""
_PAIRED = {"backgrounds": PAIRED, "transfer": TRANSFER_KEYS}
"""The metrics of the paired differences per protocol."""
_HEADLINE = {"backgrounds": ("original", "knn_original"), "transfer": TRANSFER_KEYS}
"""(linear, kNN) of the study table and heat map per protocol."""
_NAMES = {
    "object_info": "object info",
    "mixed_rand": "Mixed-Rand",
    "bg_gap": "BG-Gap",
    "linear": "linear probe",
    "knn": f"kNN (k={KNN_K})",
}


def _value(run: dict[str, Any], key: str) -> float:
    if key in METRICS and "challenge" in run:
        return run["challenge"][key]
    if key == "object_info" and run.get("kind") == "anchor":
        return run["object_info_neutral"]  # the anchor is probed on objects alone
    return run[key]


def _group(row: dict[str, Any]) -> str:
    """The anchors a row is compared with: same method and batch size."""
    return f"{row['method']} bs {row['batch_size']}"


def summarise(
    runs: list[dict[str, Any]], floors: dict[str, Any], protocol: str = "backgrounds"
) -> dict[str, Any]:
    """Rows (mean ± std per metric), paired differences and gap closed per method."""
    from simclr.evaluate.stats import gap_closed, mean_std, paired_difference

    keys = _KEYS[protocol]
    rows: dict[str, dict[str, Any]] = {}
    for r in runs:
        row = rows.setdefault(
            r["row"],
            {
                "kind": r["kind"],
                "method": r["method"],
                "recipe": r["recipe"],
                "label": r.get("label") or r["row"],
                "batch_size": r.get("batch_size", 0),
                "runs": [],
            },
        )
        row["runs"].append(r)
    for row in rows.values():
        rs = sorted(row["runs"], key=lambda r: r["seed"])
        row["seeds"] = [r["seed"] for r in rs]
        for k in keys:
            vals = [_value(r, k) for r in rs]
            m, sd = mean_std(vals)
            row[k] = {"mean": m, "std": sd, "values": vals}
        row["fallback_rate"] = mean_std([r["fallback_rate"] for r in rs])[0]
        row["images_per_s"] = mean_std([r["images_per_s"] for r in rs])[0]
        row["train_seconds"] = mean_std([r["train_seconds"] for r in rs])[0]
        row["final_loss"] = mean_std([r["final_loss"] for r in rs])[0]
        row["peak_memory_bytes"] = max(r.get("peak_memory_bytes", 0) for r in rs)
        row["peak_memory_kind"] = rs[0].get("peak_memory_kind", "")
        del row["runs"]
    by_method: dict[str, dict[str, str]] = {}  # "method" or "method bs N" -> anchor rows
    for name, row in rows.items():
        if row["kind"] in ("anchor", "baseline"):
            by_method.setdefault(_group(row), {})[row["kind"]] = name
    for row in rows.values():
        refs = by_method.get(_group(row), {})
        base = rows.get(refs.get("baseline", ""))
        anchor = rows.get(refs.get("anchor", ""))
        if base is None or row["kind"] == "baseline":
            continue
        shared = [sd for sd in row["seeds"] if sd in base["seeds"]]
        paired = {}
        for k in _PAIRED[protocol]:
            a = [row[k]["values"][row["seeds"].index(sd)] for sd in shared]
            b = [base[k]["values"][base["seeds"].index(sd)] for sd in shared]
            paired[k] = paired_difference(a, b).to_dict()
        row["paired"] = paired
        if anchor is not None and row["kind"] == "recipe":
            row["gap_closed"] = gap_closed(
                row["object_info"]["mean"],
                base["object_info"]["mean"],
                anchor["object_info"]["mean"],
            )
    floor_rows = {}
    for name, f in floors.items():
        entry: dict[str, Any] = {}
        for k in keys:
            vals = [_value(r, k) for r in f["seeds"]]
            m, sd = mean_std(vals)
            entry[k] = {"mean": m, "std": sd, "values": vals}
        floor_rows[name] = entry
    return {"rows": rows, "floors": floor_rows, "anchors": by_method, "protocol": protocol}


def calibration(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The instrument checks (issue targets), each with its measured value and verdict."""
    checks = []
    floors = summary["floors"]
    several_sizes = len({r["batch_size"] for r in summary["rows"].values()}) > 1
    transfer = summary.get("protocol") == "transfer"
    for group, refs in summary["anchors"].items():
        anchor = summary["rows"].get(refs.get("anchor", ""))
        base = summary["rows"].get(refs.get("baseline", ""))
        method = group if several_sizes else group.split(" bs ")[0]
        if transfer:
            for key in TRANSFER_KEYS if base is not None and floors else ():
                best = max(floors, key=lambda f: floors[f][key]["mean"])
                margin = base[key]["mean"] - floors[best][key]["mean"]
                checks.append(
                    {
                        "check": f"{method}: baseline {_NAMES[key]} >= 2 points above every "
                        "floor (else pretraining taught nothing this probe can read)",
                        "value": f"{100 * base[key]['mean']:.1f} vs {best} "
                        f"{100 * floors[best][key]['mean']:.1f}: {100 * margin:+.1f}",
                        "ok": margin >= 0.02,
                    }
                )
            continue
        if anchor is not None and floors:
            best_floor = max(f["object_info_neutral"]["mean"] for f in floors.values())
            margin = anchor["object_info"]["mean"] - best_floor
            checks.append(
                {
                    "check": f"{method}: objects-alone object info >= 15 points above both "
                    "floors (same gray-background images)",
                    "value": f"{100 * anchor['object_info']['mean']:.1f} vs best floor "
                    f"{100 * best_floor:.1f}: {100 * margin:+.1f}",
                    "ok": margin >= 0.15,
                }
            )
        if anchor is not None:
            checks.append(
                {
                    "check": f"{method}: objects-alone object info seed std <= 2 points",
                    "value": f"{100 * anchor['object_info']['std']:.1f}",
                    "ok": anchor["object_info"]["std"] <= 0.02,
                }
            )
        if base is not None:
            checks.append(
                {
                    "check": f"{method}: baseline object info seed std <= 1.5 points",
                    "value": f"{100 * base['object_info']['std']:.1f}",
                    "ok": base["object_info"]["std"] <= 0.015,
                }
            )
    return checks


# ----------------------------------------------------------------------------- report
def _pct(x: dict[str, Any] | float, std: bool = True) -> str:
    if isinstance(x, dict):
        if not std or len(x["values"]) < 2:
            return f"{100 * x['mean']:.1f}"
        return f"{100 * x['mean']:.1f} ± {100 * x['std']:.1f}"
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}"


def _diff(d: dict[str, Any]) -> str:
    if d["n"] < 2:
        return f"{100 * d['mean']:+.1f}"
    mark = " **\\***" if d["beyond_noise"] else ""
    return (
        f"{100 * d['mean']:+.1f} ± {100 * d['std']:.1f} "
        f"[{100 * d['low']:+.1f}, {100 * d['high']:+.1f}]{mark}"
    )


def findings(summary: dict[str, Any]) -> list[str]:
    """One sentence per compared row: what moved beyond seed noise, and the gap closed."""
    names = _NAMES
    out = []
    for name, row in summary["rows"].items():
        if "paired" not in row or row["kind"] != "recipe":
            continue
        moved = [
            f"{names[k]} {100 * d['mean']:+.1f} points"
            for k, d in row["paired"].items()
            if d["beyond_noise"]
        ]
        gap = row.get("gap_closed")
        gap_s = "" if gap is None or math.isnan(gap) else f" It closes {100 * gap:.0f}% of the gap."
        if moved:
            out.append(f"`{name}`: beyond seed noise: {', '.join(moved)}.{gap_s}")
        else:
            out.append(f"`{name}`: no difference from the baseline beyond seed noise.{gap_s}")
    return out


def _protocol_lines(report: dict[str, Any]) -> list[str]:
    """The protocol paragraph: data, pretraining and probes, in words."""
    s = report["settings"]
    st = s["style"]
    train = (
        f"{', '.join(s['methods'])}, `{s['backbone']}` (width {s['width']}), {s['epochs']} "
        f"epochs, batch {', '.join(map(str, s['batch_sizes'] or [s['batch_size']]))}, "
        f"{s['optimizer']} lr {s['lr']} × batch/256, temperature {s['temperature']} "
        f"(SimCLR), crop scale {tuple(s['crop_scale'])} for every recipe. Seeds "
        f"{', '.join(map(str, s['seeds']))}, paired across rows (same initialisation and "
        "data order)."
    )
    if report["summary"].get("protocol") == "transfer":
        if s["dataset"] == "synthetic":
            data = (
                f"{s['num_samples']} SyntheticShapes images at {s['image_size']} px (bias "
                f"{s['bias']}, objects {st.get('coverage')} of the image)"
            )
        else:
            data = f"`{s['dataset']}` (train split, {s['image_size']} px, masks `{s['masks']}`)"
        splits = report["runs"][0]["splits"] if report["runs"] else {}
        return [
            f"**Protocol (transfer).** Pretraining on {data}: {train}",
            "**Probes** (as `simclr-eval`): frozen features; a multinomial logistic "
            f"regression (L-BFGS) whose L2 is chosen from {list(L2_GRID)} on the validation "
            f"split ({splits.get('val_source', '?')}) and refit on train + validation; "
            f"weighted kNN, k = {KNN_K}, T = 0.1. Train {splits.get('train', '?')}, "
            f"validation {splits.get('val', '?')}, test {splits.get('test', '?')} images; "
            f"metric {report['runs'][0]['metric'] if report['runs'] else '?'}.",
        ]
    return [
        f"**Protocol (backgrounds).** Pretraining on {s['num_samples']} SyntheticShapes "
        f"images at {s['image_size']} px (objects {st.get('coverage')} of the image, "
        f"rotation ±{st.get('max_rotation')}°, {st.get('object_colour')} objects; background "
        f"family follows the class with probability {s['bias']}): {train}",
        "**Probes.** Frozen features, multinomial logistic regression (L-BFGS). The challenge "
        f"probe is fitted on {s['probe_train']} biased training images, its L2 chosen on "
        f"{s['probe_val']} biased validation images, then refit on both. Object info and "
        f"background info: probes fitted on half of {s['eval_images']} random-background "
        "test images, scored on the other half. The objects-alone row is probed on the same "
        "test objects on gray. Each challenge variant has "
        f"{s['challenge_images']} images.",
    ]


def _results_lines(summary: dict[str, Any]) -> list[str]:
    """The results table: floors, anchors and rows, mean ± std over seeds."""
    transfer = summary.get("protocol") == "transfer"
    if transfer:
        head = ["row", "linear probe", f"kNN (k={KNN_K})", "fallback", "train img/s"]
    else:
        head = [
            "row", "Original", "Mixed-Same", "Mixed-Rand", "BG-Gap", "Only-FG", "Only-BG",
            "object info", "bg info", "gap closed", "fallback", "train img/s",
        ]  # fmt: skip
    lines = [
        "",
        "## Results (%, mean ± std over seeds)",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]

    def cells(r: dict[str, Any]) -> list[str]:
        if transfer:
            return [_pct(r["linear"]), _pct(r["knn"])]
        keys = ("original", "mixed_same", "mixed_rand", "bg_gap", "only_fg", "only_bg")
        return [_pct(r[k]) for k in keys]

    for name, f in summary["floors"].items():
        extra = ["", ""]
        if not transfer:
            obj = f"{_pct(f['object_info'])} (gray: {_pct(f['object_info_neutral'])})"
            extra = [obj, _pct(f["bg_info"]), "", "", ""]
        lines.append("| " + " | ".join([f"*floor: {name}*", *cells(f), *extra]) + " |")
    for name, r in summary["rows"].items():
        label = {"anchor": f"*{name}* (upper anchor)", "baseline": f"*{name}* (baseline)"}.get(
            r["kind"], f"`{name}`"
        )
        fb = "global" if r["recipe"] == BASELINE else f"{100 * r['fallback_rate']:.1f}%"
        extra = []
        if not transfer:
            obj = _pct(r["object_info"]) + (" (gray)" if r["kind"] == "anchor" else "")
            gap = _pct(r.get("gap_closed")) if r["kind"] == "recipe" else ""
            extra = [obj, _pct(r["bg_info"]), gap]
        lines.append(
            "| " + " | ".join([label, *cells(r), *extra, fb, f"{r['images_per_s']:.0f}"]) + " |"
        )
    if not transfer:
        lines += ["", "What each column means:", ""]
        lines += [f"- **{k}**: {v}." for k, v in COLUMNS.items()]
    return lines


def render_markdown(report: dict[str, Any]) -> str:
    """The report as Markdown: protocol, calibration, results, paired statistics, findings."""
    s = report["settings"]
    summary = report["summary"]
    protocol = summary.get("protocol", "backgrounds")
    title = "Background reliance" if protocol == "backgrounds" else f"Study on `{s['dataset']}`"
    lines = [
        f"# {title}: segaug-compare ({report['created']}, preset `{s['preset']}`)",
        "",
        *_protocol_lines(report),
        "",
        "## Calibration",
        "",
        "| check | measured | ok |",
        "|---|---|---|",
    ]
    for c in report["calibration"]:
        lines.append(f"| {c['check']} | {c['value']} | {'yes' if c['ok'] else '**no**'} |")
    if not report["calibration"]:
        lines.append("| no anchors or floors in this run: nothing to calibrate | — | — |")
    lines += _results_lines(summary)
    paired_rows = [(n, r) for n, r in summary["rows"].items() if "paired" in r]
    if paired_rows:
        keys = _PAIRED[protocol]
        lines += [
            "",
            "## Paired differences from the baseline (points; mean ± std [95% t interval])",
            "",
            "\\* = the interval excludes 0: beyond seed noise.",
            "",
            "| row | " + " | ".join(_NAMES[k] for k in keys) + " |",
            "|---|" + "---|" * len(keys),
        ]
        for name, r in paired_rows:
            lines.append(f"| {name} | " + " | ".join(_diff(r["paired"][k]) for k in keys) + " |")
    lines += study_table(summary)
    lines += ["", "## Findings", ""]
    lines += [f"- {f}" for f in report["findings"]] or ["- (no recipe rows)"]
    first = "object_info" if protocol == "backgrounds" else "linear"
    lines += [
        "",
        f"![{first}]({first}.png) ![paired differences](paired.png) ![study heat map](heatmap.png)",
        "",
        f"Machine: {report['machine']}. Wall time {report['seconds'] / 60:.1f} min "
        f"({len(report['runs'])} pretraining runs).",
    ]
    return "\n".join(lines) + "\n"


def _study_grid(summary: dict[str, Any]) -> tuple[list[str], list[tuple[str, int]], dict]:
    """Labels (rows), (method, batch size) columns and ``{(label, column): row}``."""
    labels: list[str] = []
    columns: list[tuple[str, int]] = []
    cells = {}
    for r in summary["rows"].values():
        col = (r["method"], r["batch_size"])
        labels += [r["label"]] if r["label"] not in labels else []
        columns += [col] if col not in columns else []
        cells[(r["label"], col)] = r
    return labels, columns, cells


def study_table(summary: dict[str, Any]) -> list[str]:
    """Seed 004's layout: recipes x (method, batch size), each cell accuracy (time / memory).

    A cell reads ``linear ± std / kNN ± std (pretraining minutes / peak memory)``: linear probe
    and kNN (k=20, T=0.1) on the Original split (``backgrounds``) or the dataset's test
    split (``transfer``), mean over seeds.
    """
    labels, columns, cells = _study_grid(summary)
    if not columns:
        return []
    lin_key, knn_key = _HEADLINE[summary.get("protocol", "backgrounds")]
    split = "the test split" if lin_key == "linear" else "Original"
    kind = next(iter(summary["rows"].values())).get("peak_memory_kind", "")
    head = [f"{m}, batch {b}" for m, b in columns]
    lines = [
        "",
        "## Study table (seed 004 layout)",
        "",
        f"Each cell: linear probe ± std / kNN ± std on {split} (pretraining minutes / "
        f"peak memory, {kind}).",
        "",
        "| recipe | " + " | ".join(head) + " |",
        "|---|" + "---|" * len(head),
    ]

    def ms(x: dict[str, Any]) -> str:
        return f"{x['mean']:.3f}" + (f" ± {x['std']:.3f}" if len(x["values"]) > 1 else "")

    if summary["floors"]:  # the same for every column: stated once
        text = "; ".join(
            f"{name} {ms(f[lin_key])} / {ms(f[knn_key])}" for name, f in summary["floors"].items()
        )
        lines.append("| *floors* | " + " | ".join([text] + [""] * (len(head) - 1)) + " |")
    for label in labels:
        row = [label]
        for col in columns:
            r = cells.get((label, col))
            if r is None:
                row.append("")
                continue
            lin, knn = r[lin_key], r[knn_key]
            row.append(
                f"{lin['mean']:.3f} ± {lin['std']:.3f} / {knn['mean']:.3f} ± {knn['std']:.3f} "
                f"({r['train_seconds'] / 60:.1f} min / {r['peak_memory_bytes'] / 2**30:.2f} GB)"
            )
        lines.append("| " + " | ".join(row) + " |")
    return lines


def write_plots(out: Path, summary: dict[str, Any]) -> None:
    """``object_info.png`` (``linear.png`` under ``transfer``: rows with floors and
    anchors), ``paired.png`` (intervals) and ``heatmap.png`` (the study grid)."""
    from segaug.env import pyplot

    plt = pyplot()
    protocol = summary.get("protocol", "backgrounds")
    key = "object_info" if protocol == "backgrounds" else "linear"
    rows = summary["rows"]
    names = list(rows)
    fig, ax = plt.subplots(figsize=(1.6 + 1.1 * len(names), 4))
    means = [100 * rows[n][key]["mean"] for n in names]
    stds = [100 * rows[n][key]["std"] for n in names]
    colors = [
        {"anchor": "tab:green", "baseline": "tab:gray"}.get(rows[n]["kind"], "tab:blue")
        for n in names
    ]
    ax.bar(range(len(names)), means, yerr=stds, capsize=3, color=colors)
    for i, n in enumerate(names):
        ax.plot(
            [i] * len(rows[n][key]["values"]),
            [100 * v for v in rows[n][key]["values"]],
            "k.",
            ms=4,
        )
    for fname, f in summary["floors"].items():
        y = 100 * f[key]["mean"]
        ax.axhline(y, ls="--", lw=1, color="gray")
        ax.text(len(names) - 0.5, y, f"floor: {fname}", fontsize=7, va="bottom", ha="right")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=25, ha="right", fontsize=8)
    ax.set_ylabel(f"{_NAMES[key]} (%)")
    note = " (anchor: on gray)" if key == "object_info" else ", test split"
    ax.set_title(f"{_NAMES[key]}{note}, mean ± std, dots = seeds")
    fig.tight_layout()
    fig.savefig(out / f"{key}.png", dpi=110)
    plt.close(fig)

    paired = [(n, r["paired"]) for n, r in rows.items() if "paired" in r]
    keys = _PAIRED[protocol]
    fig, axes = plt.subplots(
        1, len(keys), figsize=(4 * len(keys), 1.2 + 0.45 * max(1, len(paired))), sharey=True
    )
    for ax, pkey in zip(axes, keys, strict=True):
        for i, (_, p) in enumerate(paired):
            d = p[pkey]
            lo = d["low"] if not math.isnan(d["low"]) else d["mean"]
            hi = d["high"] if not math.isnan(d["high"]) else d["mean"]
            ax.plot([100 * lo, 100 * hi], [i, i], color="tab:blue")
            ax.plot(100 * d["mean"], i, "o", color="tab:red" if d["beyond_noise"] else "k")
        ax.axvline(0, color="gray", lw=1)
        ax.set_title(f"{_NAMES[pkey]}: recipe - baseline (points)", fontsize=9)
    axes[0].set_yticks(range(len(paired)))
    axes[0].set_yticklabels([n for n, _ in paired], fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "paired.png", dpi=110)
    plt.close(fig)

    labels, columns, cells = _study_grid(summary)
    lin_key = _HEADLINE[protocol][0]
    grid = [
        [
            100 * cells[(lab, c)][lin_key]["mean"] if (lab, c) in cells else float("nan")
            for c in columns
        ]
        for lab in labels
    ]
    fig, ax = plt.subplots(figsize=(2.5 + 1.4 * len(columns), 1.2 + 0.45 * len(labels)))
    im = ax.imshow(grid, cmap="viridis", aspect="auto")
    for i, vals in enumerate(grid):
        for j, v in enumerate(vals):
            if v == v:
                ax.text(j, i, f"{v:.1f}", ha="center", va="center", color="w", fontsize=8)
    ax.set_xticks(range(len(columns)))
    ax.set_xticklabels([f"{m}\nbatch {b}" for m, b in columns], fontsize=8)
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels(labels, fontsize=8)
    split = "Original" if protocol == "backgrounds" else "the test split"
    ax.set_title(f"linear probe on {split} (%), mean over seeds", fontsize=9)
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    fig.savefig(out / "heatmap.png", dpi=110)
    plt.close(fig)


# -------------------------------------------------------------------------------- main
def compare_pipelines(
    settings: CompareSettings, progress: bool = True, resume: str | Path | None = None
) -> Path:
    """Run the comparison and write the report; returns the report folder.

    Args:
        settings: What to run.
        progress: Show a progress bar over runs.
        resume: A previous report folder: its finished runs are reused, the rest run.

    Raises:
        ValueError: Bad settings, before any training.
    """
    from segaug.env import machine_summary
    from segaug.io import atomic_write

    settings.validate()
    specs = plan_runs(settings)
    protocol = settings.resolved_protocol()
    if protocol == "transfer":
        check_transfer_data(settings)  # a missing dataset fails before any folder is made
    if settings.threads:
        torch.set_num_threads(settings.threads)
    t_start = time.time()
    if resume is not None:
        out = Path(resume)
        if not (out / "settings.json").is_file():
            raise ValueError(f"resume: {out} is not a segaug-compare folder (no settings.json)")
        saved = json.loads((out / "settings.json").read_text())
        now = json.loads(json.dumps(asdict(settings)))
        # settings added since the folder was made take their defaults
        saved = {**json.loads(json.dumps(asdict(CompareSettings()))), **saved}
        differ = sorted(k for k in now if saved.get(k) != now[k])
        if differ:
            raise ValueError(
                f"resume: {out} was run with other settings ({', '.join(differ)}); "
                "start a new folder"
            )
    else:
        out = Path(settings.out_dir) / f"compare-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
        out.mkdir(parents=True, exist_ok=False)
        atomic_write(out / "settings.json", json.dumps(asdict(settings), indent=1))
    # what every encoder is probed on: the generated sets (backgrounds), or the dataset's
    # preprocessed splits, kept in memory across encoders up to 2 GiB (transfer)
    if protocol == "transfer":
        from simclr.evaluate.features import InputCache

        sets: Any = InputCache(max_bytes=2 << 30)
    else:
        sets = build_eval_sets(settings)
    runs: list[dict[str, Any]] = []
    bar = tqdm(specs, desc="compare", disable=not progress)
    for spec in bar:
        bar.set_postfix_str(f"{spec.row} seed {spec.seed}")
        run_dir = out / "runs" / spec.name
        done = run_dir / "result.json"
        if done.is_file():
            runs.append(json.loads(done.read_text()))
            continue
        if run_dir.exists():  # an interrupted run: start it again from scratch
            import shutil

            shutil.rmtree(run_dir)
        result = _run_one(settings, spec, run_dir, sets)
        atomic_write(done, json.dumps(result, indent=1))  # nothing finished is lost
        runs.append(result)
    floors = _floors(settings, sets) if settings.floors else {}
    summary = summarise(runs, floors, protocol)
    report = {
        "created": datetime.now().isoformat(timespec="seconds"),
        "settings": json.loads(json.dumps(asdict(settings))),
        "summary": summary,
        "calibration": calibration(summary),
        "findings": findings(summary),
        "runs": runs,
        "machine": machine_summary(),
        "seconds": time.time() - t_start,
    }
    atomic_write(out / "report.json", json.dumps(report, indent=1, default=float))
    write_plots(out, summary)
    atomic_write(out / "report.md", render_markdown(report))
    return out


def _read_grid(path: str) -> dict[str, Any]:
    """Settings from a YAML mapping (lists become tuples); unknown keys are refused."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as err:
        raise ValueError(f"--grid {path!r}: cannot read it ({err.strerror})") from None
    except yaml.YAMLError as err:
        raise ValueError(f"--grid {path!r}: not valid YAML ({err})") from None
    if not isinstance(data, dict):
        raise ValueError(f"--grid {path!r}: expected a mapping of settings, got {data!r}")
    fields = CompareSettings.__dataclass_fields__
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(
            f"--grid {path!r}: unknown settings {unknown}; expected some of {', '.join(fields)}"
        )
    if isinstance(data.get("seeds"), int):
        data["seeds"] = list(range(data["seeds"]))
    return {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}


def _parse_value(text: str) -> Any:
    import yaml

    return yaml.safe_load(text)


def main(argv: list[str] | None = None) -> int:
    """Console entry point of ``segaug-compare``."""
    p = argparse.ArgumentParser(
        prog="segaug-compare",
        description="Does a recipe reduce an encoder's reliance on the background? "
        "Floors, anchors, recipes x methods x batch sizes x seeds, the backgrounds "
        "challenge and paired statistics on the offline SyntheticShapes data; on a real "
        "dataset (--dataset), linear probe and kNN (the transfer protocol).",
    )
    p.add_argument("--preset", default="default", choices=list(PRESETS))
    p.add_argument("--recipes", "--pipelines", nargs="+", dest="recipes", default=None)
    p.add_argument("--methods", nargs="+", default=None)
    p.add_argument("--sweep", nargs="+", default=None, help="recipe.param=v1,v2 (extra rows)")
    p.add_argument("--seeds", type=int, default=None, help="number of seeds (0, 1, ...)")
    p.add_argument("--batch-sizes", nargs="+", type=int, default=None, help="a batch-size axis")
    p.add_argument(
        "--grid",
        default=None,
        metavar="YAML",
        help="a YAML mapping of settings (recipes, methods, batch_sizes, seeds, sweep, ...)",
    )
    p.add_argument("--no-anchors", action="store_true", help="skip objects-alone and baseline")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any CompareSettings field, e.g. --set epochs=20 --set bias=0.8",
    )
    p.add_argument(
        "--dataset",
        default=None,
        help="a registered dataset (default synthetic; a real one runs the transfer protocol)",
    )
    p.add_argument("--data-root", default=None, help="root folder of a real dataset")
    p.add_argument(
        "--masks", default=None, help="data.masks of real data: gt, files:DIR, cache dir, classical"
    )
    p.add_argument(
        "--protocol",
        default=None,
        choices=["auto", *PROTOCOLS],
        help="backgrounds (synthetic only: the challenge, anchors, object/bg info) or "
        "transfer (linear probe + kNN on the dataset's splits); auto picks by dataset",
    )
    p.add_argument("--device", default=None)
    p.add_argument("--out-dir", default=None)
    p.add_argument("--resume", default=None, help="a previous report folder to complete")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    try:
        overrides: dict[str, Any] = _read_grid(a.grid) if a.grid else {}
        for item in a.set:
            key, sep, value = item.partition("=")
            if not sep or key not in CompareSettings.__dataclass_fields__:
                raise ValueError(
                    f"--set {item!r}: expected KEY=VALUE with KEY one of "
                    f"{', '.join(CompareSettings.__dataclass_fields__)}"
                )
            v = _parse_value(value)
            overrides[key] = tuple(v) if isinstance(v, list) else v
        for key in ("recipes", "methods", "sweep"):
            if getattr(a, key) is not None:
                overrides[key] = tuple(getattr(a, key))
        if a.seeds is not None:
            overrides["seeds"] = tuple(range(a.seeds))
        if a.batch_sizes is not None:
            overrides["batch_sizes"] = tuple(a.batch_sizes)
        if a.no_anchors:
            overrides["anchors"] = False
        for key in ("dataset", "data_root", "masks", "protocol", "device", "out_dir"):
            if getattr(a, key) is not None:
                overrides[key] = getattr(a, key)
        settings = preset_settings(a.preset, **overrides)
        out = compare_pipelines(settings, progress=not a.no_progress, resume=a.resume)
    except ValueError as err:
        print(f"segaug-compare: error: {err}", file=sys.stderr)
        return 2
    print((out / "report.md").read_text())
    print(f"report: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
