"""Classification metrics from scores or predictions: top-k, confusion matrix, P/R/F1.

Inputs are torch tensors of integer labels ``0..C-1``; the counting is delegated to
scikit-learn (``confusion_matrix``, ``precision_recall_fscore_support``,
``f1_score``, ``balanced_accuracy_score``) with its conventions: a 0/0 ratio counts
as 0; the macro average runs over the classes that occur in the labels or the
predictions, so ``macro_f1(y, p, C) == sklearn.metrics.f1_score(y, p,
average="macro")``. Top-k accuracy stays in torch (scores may live on the GPU).

Example:
    >>> import torch
    >>> y = torch.tensor([0, 1, 2, 2])
    >>> p = torch.tensor([0, 2, 2, 2])
    >>> round(macro_f1(y, p, 3), 4)  # F1 per class: 1.0, 0.0, 0.8
    0.6
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
from sklearn import metrics as skm
from torch import Tensor


def _check_labels(name: str, labels: Tensor, num_classes: int) -> Tensor:
    if labels.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {tuple(labels.shape)}")
    labels = labels.long()
    if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"{name} must lie in [0, {num_classes - 1}], got values in "
            f"[{int(labels.min())}, {int(labels.max())}]"
        )
    return labels


def topk_accuracy(scores: Tensor, labels: Tensor, k: int = 1) -> float:
    """Fraction of samples whose label is among the ``k`` highest scores.

    With fewer than ``k`` classes every sample counts as correct.

    Shape:
        - scores: ``(N, C)``
        - labels: ``(N,)``

    Example:
        >>> s = torch.tensor([[0.1, 0.5, 0.4], [0.9, 0.08, 0.02]])
        >>> topk_accuracy(s, torch.tensor([2, 2]), k=2)
        0.5
    """
    if scores.ndim != 2 or scores.shape[0] != labels.shape[0]:
        raise ValueError(
            f"scores must be (N, C) with N = len(labels) = {labels.shape[0]}, "
            f"got {tuple(scores.shape)}"
        )
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if labels.numel() == 0:
        raise ValueError("labels is empty; expected at least one sample")
    labels = _check_labels("labels", labels.to(scores.device), scores.shape[1])
    k = min(k, scores.shape[1])
    top = scores.topk(k, dim=1).indices
    return float((top == labels[:, None]).any(dim=1).float().mean())


def confusion_matrix(labels: Tensor, preds: Tensor, num_classes: int) -> Tensor:
    """``cm[i, j]`` = number of samples of true class ``i`` predicted as ``j``.

    Shape:
        - labels, preds: ``(N,)``
        - Output: ``(C, C)`` int64
    """
    labels = _check_labels("labels", labels.cpu(), num_classes)
    preds = _check_labels("preds", preds.cpu(), num_classes)
    if labels.shape != preds.shape:
        raise ValueError(f"labels and preds differ in shape: {labels.shape} vs {preds.shape}")
    cm = skm.confusion_matrix(labels.numpy(), preds.numpy(), labels=np.arange(num_classes))
    return torch.from_numpy(cm.astype(np.int64))


def _pairs_from_cm(cm: Tensor) -> tuple[np.ndarray, np.ndarray]:
    """The (label, prediction) pairs a confusion matrix counts, as two arrays."""
    counts = cm.detach().cpu().long().numpy()
    rows, cols = np.nonzero(counts)
    reps = counts[rows, cols]
    return np.repeat(rows, reps), np.repeat(cols, reps)


def _labels_and_preds(labels: Tensor, preds: Tensor, num_classes: int) -> tuple[np.ndarray, ...]:
    labels = _check_labels("labels", labels.cpu(), num_classes)
    preds = _check_labels("preds", preds.cpu(), num_classes)
    if labels.shape != preds.shape:
        raise ValueError(f"labels and preds differ in shape: {labels.shape} vs {preds.shape}")
    return labels.numpy(), preds.numpy()


@dataclass
class PerClassMetrics:
    """Per-class precision, recall, F1 and support (number of true samples).

    Attributes:
        precision: ``(C,)`` tp / (tp + fp), 0 where nothing was predicted as the class.
        recall: ``(C,)`` tp / (tp + fn), 0 where the class has no samples.
        f1: ``(C,)`` harmonic mean, 0 where precision + recall = 0.
        support: ``(C,)`` number of samples of each class.
        predicted: ``(C,)`` number of samples predicted as each class.
    """

    precision: Tensor
    recall: Tensor
    f1: Tensor
    support: Tensor
    predicted: Tensor

    def present(self) -> Tensor:
        """Boolean ``(C,)``: the class occurs in the labels or the predictions."""
        return (self.support > 0) | (self.predicted > 0)


def per_class_metrics(cm: Tensor) -> PerClassMetrics:
    """Precision, recall and F1 per class from a confusion matrix.

    Shape:
        - cm: ``(C, C)`` (rows: true class, columns: predicted class)
    """
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"cm must be a square (C, C) matrix, got shape {tuple(cm.shape)}")
    y, p = _pairs_from_cm(cm)
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        y, p, labels=np.arange(cm.shape[0]), zero_division=0
    )
    as_t = lambda a: torch.from_numpy(np.asarray(a, dtype=np.float64))  # noqa: E731
    return PerClassMetrics(
        as_t(precision),
        as_t(recall),
        as_t(f1),
        torch.from_numpy(np.asarray(support, dtype=np.int64)),
        cm.detach().cpu().long().sum(dim=0),
    )


def macro_f1(labels: Tensor, preds: Tensor, num_classes: int) -> float:
    """Unweighted mean of per-class F1 over the classes present in labels or predictions.

    Shape:
        - labels, preds: ``(N,)``
    """
    y, p = _labels_and_preds(labels, preds, num_classes)
    if y.size == 0:
        return 0.0
    return float(skm.f1_score(y, p, average="macro", zero_division=0))


def mean_per_class_accuracy(labels: Tensor, preds: Tensor, num_classes: int) -> float:
    """Mean over classes with samples of the per-class accuracy (recall).

    The metric of Kornblith et al. for Flowers-102, Oxford-IIIT Pet and Caltech-101.

    - [0]: Do Better ImageNet Models Transfer Better?, 2019, https://arxiv.org/abs/1805.08974

    Shape:
        - labels, preds: ``(N,)``
    """
    y, p = _labels_and_preds(labels, preds, num_classes)
    if y.size == 0:
        return 0.0
    with warnings.catch_warnings():  # predicted classes without samples do not count
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        return float(skm.balanced_accuracy_score(y, p))


def classification_summary(
    scores: Tensor, labels: Tensor, class_names: list[str] | None = None
) -> dict:
    """Top-1, top-5, mean per-class accuracy, macro-F1 and the per-class table.

    Args:
        scores: Class scores (logits, probabilities or kNN votes).
        labels: True labels.
        class_names: Names for the per-class table (default: the indices).

    Returns:
        A JSON-ready dict: ``top1``, ``top5``, ``mean_per_class``, ``macro_f1``,
        ``per_class`` (list of ``{class, precision, recall, f1, support}``) and
        ``confusion_matrix`` (nested lists).

    Shape:
        - scores: ``(N, C)``
        - labels: ``(N,)``
    """
    num_classes = scores.shape[1]
    labels = labels.cpu().long()
    preds = scores.argmax(dim=1).cpu()
    cm = confusion_matrix(labels, preds, num_classes)
    m = per_class_metrics(cm)
    names = class_names or [str(i) for i in range(num_classes)]
    if len(names) != num_classes:
        raise ValueError(
            f"class_names has {len(names)} entries; expected {num_classes} (columns of scores)"
        )
    return {
        "top1": topk_accuracy(scores, labels.to(scores.device), 1),
        "top5": topk_accuracy(scores, labels.to(scores.device), 5),
        "mean_per_class": mean_per_class_accuracy(labels, preds, num_classes),
        "macro_f1": macro_f1(labels, preds, num_classes),
        "num_samples": int(labels.numel()),
        "per_class": [
            {
                "class": names[c],
                "precision": float(m.precision[c]),
                "recall": float(m.recall[c]),
                "f1": float(m.f1[c]),
                "support": int(m.support[c]),
            }
            for c in range(num_classes)
        ],
        "confusion_matrix": cm.tolist(),
    }


def headline(summary: dict, metric: str) -> float:
    """The dataset's reported number: ``top1`` or ``mean_per_class`` from a summary."""
    if metric not in ("top1", "mean_per_class"):
        raise ValueError(f"metric must be 'top1' or 'mean_per_class', got {metric!r}")
    return float(summary[metric])
