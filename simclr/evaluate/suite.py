"""The evaluation suite: per dataset, frozen-feature probes, floors, fine-tuning, plots.

For every requested dataset :func:`evaluate_dataset` builds the train / validation /
test splits, extracts (or loads cached) features of the pretrained encoder and of two
floors -- raw pixels (area-downsampled to ``raw_pixel_size`` and flattened) and a
randomly initialised encoder of the same architecture -- and runs on each:

- the linear probe (:mod:`simclr.evaluate.linear`, lambda chosen on validation),
- weighted kNN (:mod:`simclr.evaluate.knn`, k = 20 and 200, T = 0.1),

then optionally fine-tunes with label fractions (:mod:`simclr.evaluate.finetune`) and
writes a confusion matrix and PCA / t-SNE (/ UMAP) plots. Preprocessing is the SimCLR
transfer protocol [0]: resize the shorter side (bicubic) and centre-crop; the size
defaults to the pretraining view size. The headline number per dataset follows its
convention (:class:`segaug.data.DatasetInfo.metric`: top-1, or mean per-class accuracy
for Flowers-102, Oxford-IIIT Pet and Caltech-101 as in Kornblith et al. [1]).

Validation split: the official one where the dataset's descriptor says so
(:attr:`segaug.data.DatasetInfo.official_val`: Flowers-102, DTD, synthetic), else
``val_fraction`` of each training class held out with ``seed``. It is used only to
choose lambda; the probe is then refitted on train + validation.

References:
    - [0]: SimCLR, 2020, https://arxiv.org/abs/2002.05709
    - [1]: Do Better ImageNet Models Transfer Better?, 2019, https://arxiv.org/abs/1805.08974

Example:
    >>> from simclr.evaluate.features import RawPixels
    >>> from simclr.evaluate.suite import EvalSettings, evaluate_dataset
    >>> s = EvalSettings(image_size=16, dataset_kwargs={"synthetic": {"num_samples": 60}},
    ...                  protocols=("linear",), floors=(), plots=(), l2_grid=(1e-3,),
    ...                  progress=False, max_iter=20, device="cpu")
    >>> res = evaluate_dataset("synthetic", RawPixels(4), "raw4", s)
    >>> res["splits"]["val_source"], sorted(res["extra_tests"])
    ("official 'val' split", ['test_biased'])
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from segaug.data import DATASET_INFO, DatasetNotFoundError, build_dataset, get_dataset_info
from simclr.evaluate.classifiers import ClassifierSettings, classifier_comparison
from simclr.evaluate.features import (
    FeatureCache,
    InputCache,
    Preprocess,
    RawPixels,
    dataset_targets,
    extract_features,
)
from simclr.evaluate.finetune import (
    DEFAULT_EPOCHS,
    FinetuneSettings,
    check_fraction,
    finetune,
)
from simclr.evaluate.knn import DEFAULT_KS, DEFAULT_TEMPERATURE, knn_evaluate
from simclr.evaluate.linear import (
    DEFAULT_L2_GRID,
    SOLVERS,
    fit_logistic_regression,
    linear_probe,
)
from simclr.evaluate.metrics import classification_summary
from simclr.evaluate.names import (
    CLASSIFIER_FEATURES,
    CLASSIFIER_PROBES,
    FLOORS,
    PLOTS,
    PROTOCOLS,
    TABLE4_DATASETS,
    TRANSFER_DATASETS,
)
from simclr.evaluate.plots import plot_confusion_matrix, plot_embeddings
from simclr.evaluate.report import write_report

__all__ = [
    "EXTRA_TEST_SPLITS",
    "FLOORS",
    "OFFICIAL_VAL",
    "PLOTS",
    "PROTOCOLS",
    "TABLE4_DATASETS",
    "TRANSFER_DATASETS",
    "EncoderSpec",
    "EvalSettings",
    "evaluate_checkpoint",
    "evaluate_dataset",
    "held_out_split",
    "load_split",
    "run_info",
    "run_suite",
]

OFFICIAL_VAL: frozenset[str] = frozenset(n for n, i in DATASET_INFO.items() if i.official_val)
"""Datasets whose official "val" split is used to choose lambda (from the descriptors)."""

EXTRA_TEST_SPLITS: dict[str, tuple[str, ...]] = {
    n: i.extra_test_splits for n, i in DATASET_INFO.items() if i.extra_test_splits
}
"""Additional test splits probed with the same classifier (from the descriptors)."""


@dataclass
class EvalSettings:
    """Everything that defines an evaluation (written into the report).

    Attributes:
        datasets: Registry names to evaluate on.
        data_root: Root folder of the datasets (``None`` only for ``synthetic``).
        download: Let torchvision download missing datasets (needs internet).
        dataset_kwargs: Per-dataset keyword arguments for ``build_dataset``
            (e.g. ``{"synthetic": {"num_samples": 500}}``).
        image_size: Centre-crop size; ``None`` = the pretraining view size.
        resize_size: Shorter side before cropping; ``None`` = ``image_size``.
        interpolation: Resize filter (``bicubic``).
        protocols: Subset of ``linear``, ``knn``, ``finetune``.
        floors: Subset of ``raw_pixels``, ``random_encoder`` (evaluated like the encoder).
        raw_pixel_size: Side of the downsampled raw-pixel floor (16 -> 768 features).
        l2_grid: Candidate lambdas for the linear probe.
        solver: ``lbfgs`` or ``sgd``.
        max_iter: L-BFGS iterations per fit.
        standardize: Standardise features before the probe.
        val_fraction: Held-out share of each training class where there is no official
            validation split.
        knn_ks: Neighbour counts.
        knn_temperature: kNN temperature.
        finetune_fractions: Label fractions for fine-tuning.
        finetune_epochs: Epochs per fraction; ``None`` = 60 / 30 / 30 for 1% / 10% / 100%.
        finetune_batch_size: Fine-tuning batch size.
        finetune_lr: Fine-tuning learning rate; ``None`` = 0.05 x batch / 256.
        plots: Subset of ``confusion``, ``pca``, ``tsne``, ``umap``.
        probes: Classifier comparison: subset of ``linear``, ``mlp``; empty
            (with ``features``) = no comparison.
        features: Feature sets of the comparison: subset of ``raw``, ``embeddings``,
            ``pca``, ``tsne``.
        mlp_hidden: Hidden units of the comparison's MLP.
        mlp_epochs: Its training epochs (fixed).
        mlp_weight_decay: Its AdamW weight decay (fixed).
        pca_components: PCA components of the ``pca`` feature set (capped by the
            feature dimension and training size).
        max_train: Use at most this many training images (seeded subset; quick runs).
        max_test: Use at most this many test images (seeded subset).
        batch_size: Feature-extraction batch size.
        num_workers: DataLoader workers.
        device: ``auto`` (CUDA when available), ``cpu`` or ``cuda``.
        seed: Seed of splits, subsets, floors, fine-tuning and plots.
        cache_dir: Feature cache folder; ``None`` disables caching.
        progress: tqdm bars.
    """

    datasets: list[str] = field(default_factory=lambda: ["synthetic"])
    data_root: str | None = "data"
    download: bool = False
    dataset_kwargs: dict[str, dict[str, Any]] = field(default_factory=dict)
    image_size: int | None = None
    resize_size: int | None = None
    interpolation: str = "bicubic"
    protocols: tuple[str, ...] = ("linear", "knn")
    floors: tuple[str, ...] = FLOORS
    raw_pixel_size: int = 16
    l2_grid: tuple[float, ...] = DEFAULT_L2_GRID
    solver: str = "lbfgs"
    max_iter: int = 500
    standardize: bool = True
    val_fraction: float = 0.1
    knn_ks: tuple[int, ...] = DEFAULT_KS
    knn_temperature: float = DEFAULT_TEMPERATURE
    finetune_fractions: tuple[float, ...] = (0.01, 0.1, 1.0)
    finetune_epochs: int | None = None
    finetune_batch_size: int = 256
    finetune_lr: float | None = None
    plots: tuple[str, ...] = ("confusion", "pca", "tsne")
    probes: tuple[str, ...] = ()
    features: tuple[str, ...] = ()
    mlp_hidden: int = 256
    mlp_epochs: int = 100
    mlp_weight_decay: float = 1e-4
    pca_components: int = 50
    max_train: int | None = None
    max_test: int | None = None
    batch_size: int = 256
    num_workers: int = 0
    device: str = "auto"
    seed: int = 0
    cache_dir: str | None = None
    progress: bool = True

    def validate(self) -> None:
        """Raise ``ValueError`` naming the field, the value and what was expected."""

        def bad(name: str, expected: str) -> ValueError:
            return ValueError(f"{name} = {getattr(self, name)!r}: expected {expected}")

        if not self.datasets:
            raise bad("datasets", "at least one dataset name")
        for name in self.datasets:
            get_dataset_info(name)  # ValueError listing the known names
        for key in self.dataset_kwargs:
            if key not in self.datasets:
                raise bad("dataset_kwargs", f"keys among the datasets {self.datasets}")
        unknown = [p for p in self.protocols if p not in PROTOCOLS]
        if unknown:
            raise bad("protocols", f"a subset of {PROTOCOLS}")
        if [f for f in self.floors if f not in FLOORS]:
            raise bad("floors", f"a subset of {FLOORS}")
        if [p for p in self.plots if p not in PLOTS]:
            raise bad("plots", f"a subset of {PLOTS}")
        if [p for p in self.probes if p not in CLASSIFIER_PROBES]:
            raise bad("probes", f"names among {list(CLASSIFIER_PROBES)}")
        if [f for f in self.features if f not in CLASSIFIER_FEATURES]:
            raise bad("features", f"names among {list(CLASSIFIER_FEATURES)}")
        if bool(self.probes) != bool(self.features):
            missing = "features" if self.probes else "probes"
            raise bad(missing, "a non-empty list when " + ("probes" if self.probes else
                      "features") + " is given (both name the classifier comparison)")  # fmt: skip
        if self.probes:
            self.classifier_settings().validate()
        if self.image_size is not None and self.image_size < 8:
            raise bad("image_size", "None or an integer >= 8")
        if self.raw_pixel_size < 1:
            raise bad("raw_pixel_size", "an integer >= 1")
        if not self.l2_grid or min(self.l2_grid) < 0:
            raise bad("l2_grid", "a non-empty list of numbers >= 0")
        if self.solver not in SOLVERS:
            raise bad("solver", f"one of {SOLVERS}")
        if not 0 < self.val_fraction < 1:
            raise bad("val_fraction", "a number in (0, 1)")
        if not self.knn_ks or min(self.knn_ks) < 1:
            raise bad("knn_ks", "a non-empty list of integers >= 1")
        if not self.knn_temperature > 0:
            raise bad("knn_temperature", "a number > 0")
        for f in self.finetune_fractions:
            check_fraction(f)
        if self.finetune_epochs is not None and self.finetune_epochs < 1:
            raise bad("finetune_epochs", "None or an integer >= 1")
        for name in ("max_train", "max_test"):
            v = getattr(self, name)
            if v is not None and v < 2:
                raise bad(name, "None or an integer >= 2")
        if self.batch_size < 1:
            raise bad("batch_size", "an integer >= 1")
        if self.device not in ("auto", "cpu", "cuda"):
            raise bad("device", "'auto', 'cpu' or 'cuda'")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise bad("device", "'auto' or 'cpu' (no CUDA device is available)")

    def classifier_settings(self) -> ClassifierSettings:
        """The classifier comparison's settings (same probe options and seed)."""
        return ClassifierSettings(
            mlp_hidden=self.mlp_hidden,
            mlp_epochs=self.mlp_epochs,
            mlp_weight_decay=self.mlp_weight_decay,
            pca_components=self.pca_components,
            l2_grid=tuple(self.l2_grid),
            solver=self.solver,
            max_iter=self.max_iter,
            standardize=self.standardize,
            seed=self.seed,
        )

    def torch_device(self) -> torch.device:
        """The device to run on."""
        from segaug.env import resolve_device

        return resolve_device(self.device, name="device")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy."""
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        return d


@dataclass
class EncoderSpec:
    """An encoder to evaluate, with a stable identity for the feature cache.

    Attributes:
        name: Report label (``pretrained``, ``random_encoder``, ``raw_pixels``).
        module: ``forward(images) -> (B, D)``.
        identity: Cache identity (checkpoint content hash, or a floor description).
        description: One line for the report.
    """

    name: str
    module: nn.Module
    identity: str
    description: str


class _Subset(Dataset):
    """Indices of a dataset, keeping ``classes`` and ``targets``."""

    def __init__(self, base: Dataset, indices: list[int]) -> None:
        self.base, self.indices = base, list(indices)
        all_targets = dataset_targets(base)
        self.targets = [all_targets[i] for i in self.indices]
        self.classes = list(getattr(base, "classes", []))

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> Any:
        return self.base[self.indices[i]]


def _capped(ds: Dataset, limit: int | None, seed: int) -> tuple[Dataset, dict[str, Any] | None]:
    """At most ``limit`` items, a seeded random subset (returned in index order)."""
    if limit is None or len(ds) <= limit:
        return ds, None
    idx = np.sort(np.random.default_rng(seed).permutation(len(ds))[:limit]).tolist()
    return _Subset(ds, idx), {"limit": limit, "seed": seed, "of": len(ds)}


def held_out_split(labels: list[int], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Per-class held-out validation indices: ``round(fraction * n_c)`` of each class
    (at least 1 when the class has 2+ samples), seeded.

    Returns:
        ``(train_indices, val_indices)``, sorted.
    """
    y = np.asarray(labels)
    rng = np.random.default_rng(seed)
    train, val = [], []
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        members = members[rng.permutation(members.size)]
        n_val = min(max(1, round(fraction * members.size)), members.size - 1)
        val.extend(members[:n_val].tolist())
        train.extend(members[n_val:].tolist())
    return sorted(train), sorted(val)


def load_split(name: str, split: str, settings: EvalSettings) -> Dataset:
    """``build_dataset`` with the settings' root, download flag and per-dataset options.

    Raises:
        ValueError: The dataset is missing (carrying :class:`DatasetNotFoundError`'s
            message, which names the folder and the fix) or a bad option.
    """
    kwargs = dict(settings.dataset_kwargs.get(name, {}))
    default_root = settings.data_root if get_dataset_info(name).needs_root else None
    root = kwargs.pop("root", default_root)
    try:
        return build_dataset(name, root, split=split, download=settings.download, **kwargs)
    except DatasetNotFoundError as err:
        raise ValueError(f"datasets: {err}") from err


def _strip(summary: dict[str, Any], keep_matrix: bool = False) -> dict[str, Any]:
    out = dict(summary)
    if not keep_matrix:
        out.pop("confusion_matrix", None)
    return out


def evaluate_dataset(
    name: str,
    encoder: nn.Module,
    encoder_id: str,
    settings: EvalSettings,
    config: dict[str, Any] | None = None,
    random_encoder_factory: Callable[[], nn.Module] | None = None,
    feature_dim: int | None = None,
    mean_std: tuple[list[float], list[float]] | None = None,
    default_image_size: int = 224,
    out_dir: str | Path | None = None,
    cache: FeatureCache | None = None,
    inputs: InputCache | None = None,
) -> dict[str, Any]:
    """Run the requested protocols on one dataset.

    Args:
        name: Dataset registry name.
        encoder: The pretrained encoder (eval mode is set during extraction).
        encoder_id: Its cache identity (checkpoint content hash).
        settings: The evaluation settings.
        config: The run config (only for the report).
        random_encoder_factory: Builds the random-init floor (``None`` skips it).
        feature_dim: Encoder output dimension (needed for fine-tuning; default: probe).
        mean_std: Normalisation statistics (default ImageNet's).
        default_image_size: Crop size when ``settings.image_size`` is None.
        out_dir: Where plots go (``None``: no plots).
        cache: Feature cache (default: ``FeatureCache(settings.cache_dir)``).
        inputs: Keep the preprocessed splits in memory across calls (a study that
            evaluates many encoders on the same images); ``None`` streams them.

    Returns:
        The dataset's section of ``report.json``.
    """
    t_start = time.perf_counter()
    info = get_dataset_info(name)
    device = settings.torch_device()
    cache = cache if cache is not None else FeatureCache(settings.cache_dir)
    size = settings.image_size or default_image_size
    mean, std = mean_std or (None, None)
    pre = Preprocess(
        size,
        settings.resize_size,
        settings.interpolation,
        *((tuple(mean), tuple(std)) if mean is not None else ()),
    )
    seed = settings.seed

    # ---- splits
    train_full = load_split(name, "train", settings)
    test_set = load_split(name, "test", settings)
    classes = list(getattr(train_full, "classes", []) or [])
    num_classes = info.num_classes or len(classes)
    if not classes:
        classes = [str(i) for i in range(num_classes)]
    train_full, train_cap = _capped(train_full, settings.max_train, seed)
    test_set, test_cap = _capped(test_set, settings.max_test, seed + 1)
    if info.official_val:
        val_set, val_cap = _capped(load_split(name, "val", settings), settings.max_test, seed + 2)
        val_source = "official 'val' split"
    else:
        val_set, val_cap = None, None
        val_source = f"{settings.val_fraction:.0%} of each training class held out (seed {seed})"
    extra_sets = {
        s: _capped(load_split(name, s, settings), settings.max_test, seed + 3)
        for s in info.extra_test_splits
    }

    base_parts = {
        "dataset": name,
        "dataset_kwargs": settings.dataset_kwargs.get(name, {}),
        "root": str(settings.data_root) if info.needs_root else None,
        "preprocess": pre.to_dict(),
    }

    def feats(spec: EncoderSpec, split: str, ds: Dataset, cap: Any) -> tuple[Tensor, Tensor]:
        parts = {**base_parts, "encoder": spec.identity, "split": split, "subset": cap}

        def compute() -> tuple[Tensor, Tensor]:
            spec.module.to(device)
            kw: dict[str, Any] = dict(
                batch_size=settings.batch_size,
                device=device,
                num_workers=settings.num_workers,
                progress=settings.progress,
                desc=f"{name}/{split} {spec.name}",
            )
            if inputs is not None:  # the inputs' identity: everything but the encoder
                key = {k: v for k, v in parts.items() if k != "encoder"}
                return inputs.extract(spec.module, ds, pre, key, **kw)
            return extract_features(spec.module, ds, pre, **kw)

        return cache.get_or_compute(parts, compute)

    specs = [EncoderSpec("pretrained", encoder, encoder_id, "the checkpoint's backbone")]
    if "random_encoder" in settings.floors and random_encoder_factory is not None:
        specs.append(
            EncoderSpec(
                "random_encoder",
                random_encoder_factory(),
                f"random_init:{encoder_id}:seed{seed}",
                f"same architecture, random initialisation (seed {seed})",
            )
        )
    if "raw_pixels" in settings.floors:
        r = settings.raw_pixel_size
        specs.append(
            EncoderSpec(
                "raw_pixels",
                RawPixels(r),
                f"raw_pixels:{r}",
                f"preprocessed image area-downsampled to {r}x{r}, flattened",
            )
        )

    report: dict[str, Any] = {
        "metric": info.metric,
        "num_classes": num_classes,
        "preprocessing": pre.describe(),
        "splits": {},
        "features": {},
        "summary": {},
    }
    if "linear" in settings.protocols:
        report["linear"] = {}
    if "knn" in settings.protocols:
        report["knn"] = {}
    if info.extra_test_splits:
        report["extra_tests"] = {s: {} for s in info.extra_test_splits}
    plots: dict[str, str] = {}
    metric = info.metric
    for spec in specs:
        tr_x, tr_y = feats(spec, "train", train_full, train_cap)
        te = feats(spec, "test", test_set, test_cap)
        # the validation split only serves the linear probe's choice of lambda
        tr, val = (tr_x, tr_y), None
        if "linear" in settings.protocols and val_set is not None:
            val = feats(spec, "val", val_set, val_cap)
        elif "linear" in settings.protocols:
            tr_idx, va_idx = held_out_split(tr_y.tolist(), settings.val_fraction, seed)
            tr = (tr_x[tr_idx], tr_y[tr_idx])
            val = (tr_x[va_idx], tr_y[va_idx])
        report["features"][spec.name] = {"dim": int(tr_x.shape[1]), "source": spec.description}
        if spec.name == "pretrained":
            report["splits"] = {
                "train": int(tr[0].shape[0]),
                "val": int(val[0].shape[0]) if val is not None else None,
                "test": int(te[0].shape[0]),
                "val_source": val_source if val is not None else "not used",
                "train_subset": train_cap,
                "test_subset": test_cap,
            }
        suffix = "" if spec.name == "pretrained" else f"_{spec.name}"
        if val is not None:
            res = linear_probe(
                tr,
                val,
                te,
                num_classes,
                metric=metric,
                l2_grid=settings.l2_grid,
                solver=settings.solver,
                class_names=classes,
                device=device,
                progress=settings.progress,
                max_iter=settings.max_iter,
                standardize=settings.standardize,
                seed=seed,
            )
            entry = {
                "test": _strip(res.test, keep_matrix=spec.name == "pretrained"),
                "val_scores": {f"{k:g}": v for k, v in res.val_scores.items()},
                "protocol": res.protocol,
            }
            report["linear"][spec.name] = entry
            report["summary"][f"linear{suffix}"] = res.test[metric]
            for split, (ds, cap) in extra_sets.items():
                ex = feats(spec, split, ds, cap)
                clf = fit_logistic_regression(
                    torch.cat([tr[0], val[0]]), torch.cat([tr[1], val[1]]), num_classes,
                    res.best_l2, solver=settings.solver, max_iter=settings.max_iter,
                    standardize=settings.standardize, device=device, seed=seed,
                )  # fmt: skip
                summ = classification_summary(clf.predict(ex[0]).cpu(), ex[1], classes)
                report["extra_tests"][split][f"linear{suffix}"] = _strip(summ)
                report["summary"][f"linear{suffix}_{split}"] = summ[metric]
            if spec.name == "pretrained" and out_dir is not None and "confusion" in settings.plots:
                p = Path(out_dir) / name / "confusion_linear.png"
                plot_confusion_matrix(
                    res.test["confusion_matrix"], classes, p, f"{name}: linear probe"
                )
                plots["confusion_linear"] = str(p)
        if "knn" in settings.protocols:
            kres = knn_evaluate(
                (tr_x, tr_y),
                te,
                num_classes,
                settings.knn_ks,
                settings.knn_temperature,
                classes,
                device=device,
            )
            report["knn"][spec.name] = {
                (k if k == "protocol" else k): (v if k == "protocol" else _strip(v))
                for k, v in kres.items()
            }
            for k in settings.knn_ks:
                report["summary"][f"knn_k{k}{suffix}"] = kres[f"k{k}"][metric]
        if spec.name == "pretrained" and out_dir is not None:
            methods = tuple(m for m in ("pca", "tsne", "umap") if m in settings.plots)
            if methods:
                written = plot_embeddings(
                    te[0], te[1], classes, Path(out_dir) / name, "test_", methods, seed=seed,
                    title=f"{name} test, pretrained features:",
                )  # fmt: skip
                plots.update({f"embedding_{k}": v for k, v in written.items()})

    if settings.probes:
        report["classifiers"] = _compare_classifiers(
            settings, feats, specs, train_full, train_cap, val_set, val_cap, test_set,
            test_cap, num_classes, metric, classes, device,
        )  # fmt: skip
        for f, row in report["classifiers"]["table"].items():
            for p, v in row.items():
                report["summary"][f"classifier_{p}_{f}"] = v

    if "finetune" in settings.protocols:
        report["finetune"] = {}
        dim = feature_dim or report["features"]["pretrained"]["dim"]
        for fraction in settings.finetune_fractions:
            epochs = settings.finetune_epochs or DEFAULT_EPOCHS.get(fraction, 30)
            fs = FinetuneSettings(
                epochs=epochs,
                batch_size=settings.finetune_batch_size,
                lr=settings.finetune_lr,
                seed=seed,
                num_workers=settings.num_workers,
            )
            res = finetune(
                encoder, dim, train_full, test_set, num_classes, pre, fraction, fs, classes,
                device=device, progress=settings.progress,
            )  # fmt: skip
            key = f"{fraction * 100:g}pct"
            report["finetune"][key] = {"test": _strip(res["test"]), "protocol": res["protocol"]}
            report["summary"][f"finetune_{key}"] = res["test"][metric]

    report["plots"] = plots
    report["seconds"] = round(time.perf_counter() - t_start, 2)
    return report


def _compare_classifiers(
    settings: EvalSettings,
    feats: Callable[..., tuple[Tensor, Tensor]],
    specs: list[EncoderSpec],
    train_full: Dataset,
    train_cap: Any,
    val_set: Dataset | None,
    val_cap: Any,
    test_set: Dataset,
    test_cap: Any,
    num_classes: int,
    metric: str,
    classes: list[str],
    device: torch.device,
) -> dict[str, Any]:
    """The classifier comparison on the pretrained features and raw pixels, same splits.

    The training rows are train (+ the official validation split where there is one,
    marked as validation rows; else the held-out share of train, as for the linear
    probe), so every probe and feature set sees the same rows and the same seed.
    """
    pretrained = specs[0]
    tr_x, tr_y = feats(pretrained, "train", train_full, train_cap)
    te_x, te_y = feats(pretrained, "test", test_set, test_cap)
    raw: tuple[Tensor, Tensor] | None = None
    raw_spec = EncoderSpec(
        "raw_pixels",
        RawPixels(settings.raw_pixel_size),
        f"raw_pixels:{settings.raw_pixel_size}",
        "raw pixels",
    )
    if "raw" in settings.features:
        raw_tr = feats(raw_spec, "train", train_full, train_cap)[0]
        raw = (raw_tr, feats(raw_spec, "test", test_set, test_cap)[0])
    if val_set is not None:
        va_x, va_y = feats(pretrained, "val", val_set, val_cap)
        val_mask = torch.cat([torch.zeros(len(tr_y), dtype=torch.bool),
                              torch.ones(len(va_y), dtype=torch.bool)])  # fmt: skip
        tr_x, tr_y = torch.cat([tr_x, va_x]), torch.cat([tr_y, va_y])
        if raw is not None:
            raw_va = feats(raw_spec, "val", val_set, val_cap)[0]
            raw = (torch.cat([raw[0], raw_va]), raw[1])
        val_source = "official 'val' split"
    else:
        _, va_idx = held_out_split(tr_y.tolist(), settings.val_fraction, settings.seed)
        val_mask = torch.zeros(len(tr_y), dtype=torch.bool)
        val_mask[va_idx] = True
        val_source = f"{settings.val_fraction:.0%} of each training class held out"
    out = classifier_comparison(
        tr_y, te_y, val_mask, num_classes, (tr_x, te_x), raw, tuple(settings.probes),
        tuple(settings.features), settings.classifier_settings(), metric, classes, device,
    )  # fmt: skip
    out["protocol"]["val_source"] = val_source
    out["protocol"]["raw_pixel_size"] = settings.raw_pixel_size
    return out


def environment() -> dict[str, Any]:
    """Machine description for the report (:func:`segaug.env.machine_info`)."""
    from segaug.env import machine_info

    return machine_info()


def _fallback_rate(run_dir: Path | None) -> float | None:
    """Last ``fallback_rate`` in a run's ``epochs.csv`` (``None`` if unrecorded)."""
    if run_dir is None:
        return None
    path = run_dir / "epochs.csv"
    if not path.is_file():
        return None
    import csv

    with path.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("fallback_rate") not in (None, "")]
    if not rows:
        return None
    v = float(rows[-1]["fallback_rate"])
    return v if math.isfinite(v) else None


def run_info(
    config: dict[str, Any] | None,
    checkpoint: Path | None = None,
    checkpoint_hash: str | None = None,
    epoch: int | None = None,
) -> dict[str, Any]:
    """The ``run`` section of a report: where the encoder came from and how it was trained.

    ``pipeline`` (the grouping key of ``simclr-eval compare``) is
    ``"{method}/{backbone} ({recipe})"``.
    """
    cfg = config or {}
    method = cfg.get("method", {}).get("name", "unknown")
    backbone = cfg.get("model", {}).get("backbone", "unknown")
    recipe = cfg.get("augment", {}).get("recipe", "unknown")
    run_dir = checkpoint.parent if checkpoint is not None else None
    return {
        "pipeline": f"{method}/{backbone} ({recipe})",
        "method": method,
        "backbone": backbone,
        "width": cfg.get("model", {}).get("width"),
        "recipe": recipe,
        "seed": cfg.get("train", {}).get("seed"),
        "pretrain_dataset": cfg.get("data", {}).get("dataset"),
        "pretrain_image_size": cfg.get("augment", {}).get("output_size"),
        "pretrain_masks": cfg.get("data", {}).get("masks"),
        "epoch": epoch,
        "checkpoint": str(checkpoint) if checkpoint is not None else None,
        "checkpoint_sha256": checkpoint_hash,
        "run_dir": str(run_dir) if run_dir is not None else None,
        "mask_fallback_rate": _fallback_rate(run_dir),
        "config": cfg,
    }


def run_suite(
    encoder: nn.Module,
    encoder_id: str,
    settings: EvalSettings,
    config: dict[str, Any] | None = None,
    feature_dim: int | None = None,
    random_encoder_factory: Callable[[], nn.Module] | None = None,
    mean_std: tuple[list[float], list[float]] | None = None,
    default_image_size: int = 224,
    out_dir: str | Path | None = None,
    info: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Evaluate one encoder on every dataset of ``settings``; returns the report dict.

    This is the importable core of ``simclr-eval``; :func:`evaluate_checkpoint` wraps
    it for checkpoints. Any ``nn.Module`` returning ``(B, D)`` features works.

    Args:
        encoder: The encoder to evaluate.
        encoder_id: A stable identity for the feature cache (e.g. a content hash).
        settings: What to run.
        config: The pretraining run config (for the report and pipeline name).
        feature_dim: Encoder output dimension.
        random_encoder_factory: Builds the random-init floor; ``None`` skips it.
        mean_std: Normalisation statistics of pretraining.
        default_image_size: Crop size when ``settings.image_size`` is ``None``.
        out_dir: Folder for plots (``report.*`` are written by :func:`write_report`).
        info: The ``run`` section (default: :func:`run_info` of ``config``).

    Returns:
        The report (see :mod:`simclr.evaluate.report`).
    """
    settings.validate()
    cache = FeatureCache(settings.cache_dir)
    # fail fast on missing data, before any feature is computed
    for name in settings.datasets:
        load_split(name, "train", settings)
    report: dict[str, Any] = {
        "schema": 1,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "run": info or run_info(config),
        "settings": settings.to_dict(),
        "environment": {**environment(), "device": str(settings.torch_device())},
        "datasets": {},
    }
    pre_ds = report["run"].get("pretrain_dataset")
    for name in settings.datasets:
        section = evaluate_dataset(
            name,
            encoder,
            encoder_id,
            settings,
            config=config,
            random_encoder_factory=random_encoder_factory,
            feature_dim=feature_dim,
            mean_std=mean_std,
            default_image_size=default_image_size,
            out_dir=out_dir,
            cache=cache,
        )
        if name == pre_ds and report["run"].get("mask_fallback_rate") is not None:
            section["mask_fallback_rate"] = report["run"]["mask_fallback_rate"]
        report["datasets"][name] = section
    report["cache"] = {"dir": settings.cache_dir, "hits": cache.hits, "misses": cache.misses}
    return report


def evaluate_checkpoint(
    checkpoint: str | Path,
    settings: EvalSettings,
    out_dir: str | Path | None = None,
    method: str | None = None,
    backbone: str | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Evaluate a ``simclr-train`` checkpoint (file or run directory); write the reports.

    A report folder that already holds a report is refused unless ``overwrite``, which
    replaces the report (the feature cache in it is kept: it is keyed by checkpoint and
    settings, so a rerun reuses what is still valid).

    Args:
        checkpoint: A ``.pt`` file or a run directory (its ``last.pt``).
        settings: What to run.
        out_dir: Report folder; default ``<run dir>/eval``.
        method: Expected method (``ValueError`` if the checkpoint's differs).
        backbone: Expected backbone (``ValueError`` if the checkpoint's differs).
        overwrite: Replace the report of a folder that already holds one.

    Returns:
        The report dict (also written as ``report.json`` and ``report.md``).

    Raises:
        ValueError: Bad settings or checkpoint, or ``out_dir`` holds a report and
            ``overwrite`` is False (one line naming the folder and the ways forward).
    """
    from simclr.evaluate.features import load_encoder, random_encoder

    settings.validate()
    loaded = load_encoder(
        checkpoint, method=method, backbone=backbone, image_size=settings.image_size
    )
    out = Path(out_dir) if out_dir is not None else loaded.checkpoint.parent / "eval"
    if (out / "report.json").exists() and not overwrite:
        raise ValueError(
            f"report folder '{out}' holds a report (report.json); replace it with --overwrite "
            "(the feature cache there is kept and reused) or choose another --out"
        )
    if settings.cache_dir is None:
        settings = dataclasses.replace(settings, cache_dir=str(out / "feature_cache"))
    out.mkdir(parents=True, exist_ok=True)
    info = run_info(loaded.config, loaded.checkpoint, loaded.checkpoint_hash, loaded.epoch)
    report = run_suite(
        loaded.encoder,
        loaded.checkpoint_hash,
        settings,
        config=loaded.config,
        feature_dim=loaded.feature_dim,
        random_encoder_factory=lambda: random_encoder(
            loaded.config, settings.seed, settings.image_size
        ),
        mean_std=loaded.mean_std,
        default_image_size=loaded.image_size,
        out_dir=out,
        info=info,
    )
    write_report(report, out)
    return report
