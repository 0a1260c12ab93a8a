"""Fine-tuning with a fraction of the labels (SimCLR semi-supervised protocol).

Protocol (SimCLR [0] appendix B.5, thesis section 5.2.2): a class-balanced subset of the
training labels (1%, 10% or 100%), fixed by a seed, trains the pretrained encoder end to
end with a new linear head. Optimiser: SGD with Nesterov momentum 0.9, no weight decay,
learning rate ``lr`` (default 0.05 x batch / 256, i.e. the thesis's 0.8 at batch 4096)
with a cosine schedule. Augmentation: random resized crop (scale 0.08-1, bicubic) to the
evaluation size and a horizontal flip; evaluation: the deterministic transfer
preprocessing (resize shorter side, centre crop). BatchNorm statistics are updated.

References:
    - [0]: SimCLR, 2020, https://arxiv.org/abs/2002.05709

Example:
    >>> labels = [0] * 100 + [1] * 100
    >>> idx = label_subset(labels, 0.1, seed=0)
    >>> len(idx), sum(labels[i] for i in idx)
    (20, 10)
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2
from tqdm.auto import tqdm

from simclr.evaluate.features import Preprocess, TransformedDataset, dataset_targets
from simclr.evaluate.metrics import classification_summary

DEFAULT_FRACTIONS: tuple[float, ...] = (0.01, 0.1, 1.0)
DEFAULT_EPOCHS: dict[float, int] = {0.01: 60, 0.1: 30, 1.0: 30}
"""SimCLR/thesis: 60 epochs with 1% labels, 30 with 10%; 30 assumed for 100%."""


def check_fraction(fraction: Any) -> float:
    """Return ``fraction`` as a float in (0, 1] or raise ``ValueError``."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)):
        raise ValueError(f"label fraction must be a number in (0, 1], got {fraction!r}")
    if not (0 < fraction <= 1) or math.isnan(fraction):
        raise ValueError(f"label fraction must be in (0, 1], got {fraction!r}")
    return float(fraction)


def label_subset(
    labels: Sequence[int] | Tensor,
    fraction: float,
    seed: int = 0,
    num_classes: int | None = None,
) -> list[int]:
    """Indices of a class-balanced labelled subset, a pure function of ``(labels, seed)``.

    With ``fraction == 1`` every index is returned. Otherwise every class gets the same
    number of samples, ``round(fraction * N / C)`` (at least 1 is required), drawn
    without replacement with a numpy generator seeded by ``seed``; a class with fewer
    samples contributes all it has. Subsets of a smaller fraction are not nested in
    larger ones.

    Args:
        labels: Training labels in ``[0, C)``.
        fraction: Fraction of labels to keep, in (0, 1].
        seed: Seed of the draw.
        num_classes: ``C``; default ``max(labels) + 1``.

    Returns:
        Sorted indices into ``labels``.

    Raises:
        ValueError: ``fraction`` outside (0, 1]; a class without samples; a fraction so
            small that a class would get zero samples.
    """
    fraction = check_fraction(fraction)
    y = np.asarray(labels.tolist() if isinstance(labels, Tensor) else list(labels), dtype=np.int64)
    if y.size == 0:
        raise ValueError("labels is empty; expected at least one labelled sample")
    c = int(num_classes) if num_classes is not None else int(y.max()) + 1
    counts = np.bincount(y, minlength=c)
    empty = np.flatnonzero(counts == 0)
    if empty.size:
        raise ValueError(
            f"labels: class(es) {empty[:10].tolist()} have no samples; expected every one of "
            f"the {c} classes to occur (got counts {counts.tolist()[:10]}...)"
        )
    if fraction == 1.0:
        return list(range(y.size))
    per_class = round(fraction * y.size / c)
    if per_class < 1:
        raise ValueError(
            f"label fraction {fraction} of {y.size} samples over {c} classes gives 0 labelled "
            f"samples per class; expected fraction >= {0.5 * c / y.size:.4g}"
        )
    rng = np.random.default_rng(seed)
    picked: list[int] = []
    for cls in range(c):
        members = np.flatnonzero(y == cls)
        take = min(per_class, members.size)
        picked.extend(rng.choice(members, size=take, replace=False).tolist())
    return sorted(picked)


@dataclass
class FinetuneSettings:
    """Hyper-parameters of one fine-tuning run.

    Attributes:
        epochs: Training epochs.
        batch_size: Mini-batch size.
        lr: Peak learning rate; ``None`` = ``0.05 * batch_size / 256``.
        momentum: Nesterov momentum.
        weight_decay: Weight decay (0 in SimCLR's fine-tuning).
        seed: Seed of the subset, the head initialisation, the shuffling and the
            augmentation.
        num_workers: DataLoader workers.
    """

    epochs: int = 30
    batch_size: int = 256
    lr: float | None = None
    momentum: float = 0.9
    weight_decay: float = 0.0
    seed: int = 0
    num_workers: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.lr is not None and not self.lr > 0:
            raise ValueError(f"lr must be None or > 0, got {self.lr}")

    @property
    def peak_lr(self) -> float:
        """The learning rate actually used."""
        return self.lr if self.lr is not None else 0.05 * self.batch_size / 256


class _Classifier(nn.Module):
    def __init__(self, encoder: nn.Module, feature_dim: int, num_classes: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(feature_dim, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.encoder(x))


class _ToNormalisedTensor:
    """PIL -> normalised tensor with the evaluation statistics (picklable for workers)."""

    def __init__(self, preprocess: Preprocess) -> None:
        self.preprocess = preprocess

    def __call__(self, image: Image.Image) -> Tensor:
        return self.preprocess.to_tensor(image.convert("RGB"))


def train_transform(preprocess: Preprocess) -> v2.Compose:
    """Random resized crop (scale 0.08-1, bicubic) + horizontal flip, then normalisation."""
    return v2.Compose(
        [
            v2.RandomResizedCrop(
                preprocess.image_size, interpolation=v2.InterpolationMode.BICUBIC, antialias=True
            ),
            v2.RandomHorizontalFlip(),
            _ToNormalisedTensor(preprocess),
        ]
    )


def _seed_worker(worker_id: int) -> None:
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)


def finetune(
    encoder: nn.Module,
    feature_dim: int,
    train_set: Dataset,
    test_set: Dataset,
    num_classes: int,
    preprocess: Preprocess,
    fraction: float,
    settings: FinetuneSettings | None = None,
    class_names: list[str] | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> dict[str, Any]:
    """Fine-tune a copy of ``encoder`` with a linear head on a label fraction.

    Args:
        encoder: Pretrained encoder (not modified: a deep copy is trained).
        feature_dim: Its output dimension.
        train_set: ``(PIL image, label)`` training split.
        test_set: ``(PIL image, label)`` evaluation split.
        num_classes: Number of classes.
        preprocess: Evaluation preprocessing (its size and statistics are reused for
            the training crops).
        fraction: Label fraction in (0, 1].
        settings: Hyper-parameters (default :class:`FinetuneSettings`).
        class_names: Names for the per-class table.
        device: Training device.
        progress: tqdm bars.

    Returns:
        ``{"test": summary, "protocol": {...}}`` with top-1, top-5, macro-F1 and the
        per-class table on the test split.
    """
    fraction = check_fraction(fraction)
    settings = settings or FinetuneSettings()
    targets = dataset_targets(train_set)
    indices = label_subset(targets, fraction, settings.seed, num_classes)
    gen = torch.Generator().manual_seed(settings.seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        model = _Classifier(copy.deepcopy(encoder), feature_dim, num_classes).to(device)
    loader = DataLoader(
        TransformedDataset(train_set, train_transform(preprocess), indices),
        batch_size=min(settings.batch_size, len(indices)),
        shuffle=True,
        drop_last=len(indices) > settings.batch_size,
        num_workers=settings.num_workers,
        generator=gen,
        worker_init_fn=_seed_worker,
    )
    lr = settings.peak_lr
    opt = torch.optim.SGD(
        model.parameters(),
        lr=lr,
        momentum=settings.momentum,
        nesterov=settings.momentum > 0,
        weight_decay=settings.weight_decay,
    )
    total = settings.epochs * len(loader)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / max(total, 1)))
    )
    model.train()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        bar = tqdm(total=total, desc=f"fine-tune {fraction:g}", disable=not progress, leave=False)
        for _ in range(settings.epochs):
            for images, y in loader:
                loss = F.cross_entropy(model(images.to(device)), y.to(device))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                bar.update(1)
                bar.set_postfix(loss=f"{float(loss.detach()):.3f}")
        bar.close()
    model.eval()
    test_loader = DataLoader(
        TransformedDataset(test_set, preprocess),
        batch_size=settings.batch_size,
        num_workers=settings.num_workers,
    )
    scores, labels = [], []
    with torch.no_grad():
        for images, y in test_loader:
            scores.append(model(images.to(device)).float().cpu())
            labels.append(y)
    summary = classification_summary(torch.cat(scores), torch.cat(labels), class_names)
    counts = np.bincount(np.asarray(targets)[indices], minlength=num_classes)
    protocol = {
        "procedure": "encoder + linear head trained end to end (cross-entropy)",
        "label_fraction": fraction,
        "labelled_samples": len(indices),
        "per_class_min": int(counts.min()),
        "per_class_max": int(counts.max()),
        "subset": "class-balanced, drawn with numpy default_rng(seed)",
        "epochs": settings.epochs,
        "batch_size": min(settings.batch_size, len(indices)),
        "optimizer": "SGD, Nesterov momentum" if settings.momentum > 0 else "SGD",
        "momentum": settings.momentum,
        "lr": lr,
        "lr_schedule": "cosine to 0, per step, no warm-up",
        "weight_decay": settings.weight_decay,
        "train_augmentation": (
            f"RandomResizedCrop({preprocess.image_size}, scale=(0.08, 1), bicubic) + "
            "horizontal flip"
        ),
        "test_preprocessing": preprocess.describe(),
        "seed": settings.seed,
        "test_size": len(test_set),
    }
    return {"test": summary, "protocol": protocol}
