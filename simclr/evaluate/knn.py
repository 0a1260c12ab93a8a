"""Weighted k-nearest-neighbour classifier on cosine similarity (InstDisc / DINO).

Protocol: L2-normalise train and test features; for each test sample take the ``k``
training samples with the highest cosine similarity ``s``; each votes for its class with
weight ``exp(s / T)``; class scores are the summed votes, the prediction their argmax.
Defaults ``k in (20, 200)`` and ``T = 0.1`` as in InstDisc [0] and DINO [1]. No
parameters are fitted, so no validation split is used.

References:
    - [0]: InstDisc, 2018, https://arxiv.org/abs/1805.01978
    - [1]: DINO, 2021, https://arxiv.org/abs/2104.14294

Example:
    >>> import torch
    >>> tr = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    >>> scores = knn_scores(tr, torch.tensor([0, 0, 1]), torch.tensor([[1.0, 0.05]]), 2, k=2)
    >>> int(scores.argmax(1))
    0
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

from simclr.evaluate.metrics import classification_summary

DEFAULT_KS: tuple[int, ...] = (20, 200)
DEFAULT_TEMPERATURE = 0.1


@torch.no_grad()
def knn_scores(
    train_features: Tensor,
    train_labels: Tensor,
    test_features: Tensor,
    num_classes: int,
    k: int = 20,
    temperature: float = DEFAULT_TEMPERATURE,
    batch_size: int = 1024,
    device: str | torch.device | None = None,
    progress: bool = False,
) -> Tensor:
    """Class scores of a weighted kNN vote.

    Args:
        train_features: Memory bank features.
        train_labels: Labels of the memory bank.
        test_features: Query features.
        num_classes: Number of classes.
        k: Neighbours per query (clipped to the bank size).
        temperature: T in ``exp(cos / T)``, > 0.
        batch_size: Queries per similarity block.
        device: Where to compute (default: the features' device).
        progress: Show a tqdm bar.

    Returns:
        Summed vote weights per class.

    Shape:
        - train_features: ``(N, D)``; train_labels: ``(N,)``
        - test_features: ``(M, D)``
        - Output: ``(M, C)``
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if train_features.ndim != 2 or test_features.ndim != 2:
        raise ValueError(
            f"features must be 2-D, got {tuple(train_features.shape)} and "
            f"{tuple(test_features.shape)}"
        )
    if train_features.shape[1] != test_features.shape[1]:
        raise ValueError(
            f"test features have dimension {test_features.shape[1]}, expected "
            f"{train_features.shape[1]} (the train features')"
        )
    if train_labels.shape != (train_features.shape[0],):
        raise ValueError(
            f"train_labels must be ({train_features.shape[0]},), got {tuple(train_labels.shape)}"
        )
    if train_features.shape[0] == 0:
        raise ValueError("train_features is empty; expected a non-empty memory bank")
    dev = torch.device(device) if device is not None else train_features.device
    bank = F.normalize(train_features.to(dev, torch.float32), dim=1)
    bank_labels = train_labels.to(dev).long()
    k = min(k, bank.shape[0])
    out = []
    starts = range(0, test_features.shape[0], batch_size)
    for i in tqdm(starts, desc=f"kNN k={k}", disable=not progress, leave=False):
        q = F.normalize(test_features[i : i + batch_size].to(dev, torch.float32), dim=1)
        sim, idx = (q @ bank.T).topk(k, dim=1)
        weights = (sim / temperature).exp()
        votes = torch.zeros(q.shape[0], num_classes, device=dev)
        votes.scatter_add_(1, bank_labels[idx], weights)
        out.append(votes.cpu())
    return torch.cat(out) if out else torch.zeros(0, num_classes)


def knn_evaluate(
    train: tuple[Tensor, Tensor],
    test: tuple[Tensor, Tensor],
    num_classes: int,
    ks: tuple[int, ...] | list[int] = DEFAULT_KS,
    temperature: float = DEFAULT_TEMPERATURE,
    class_names: list[str] | None = None,
    device: str | torch.device | None = None,
) -> dict[str, Any]:
    """kNN metrics for every ``k`` in ``ks``.

    Returns:
        ``{"k20": summary, "k200": summary, "protocol": {...}}`` where each summary is a
        :func:`classification_summary` dict (top-1, top-5, macro-F1, per-class table).
    """
    result: dict[str, Any] = {}
    for k in ks:
        scores = knn_scores(train[0], train[1], test[0], num_classes, k, temperature, device=device)
        result[f"k{k}"] = classification_summary(scores, test[1], class_names)
    result["protocol"] = {
        "classifier": "weighted kNN, cosine similarity on L2-normalised features",
        "weights": "exp(cos / T), votes summed per class",
        "ks": list(ks),
        "temperature": temperature,
        "memory_bank": "train split",
        "train_size": int(train[0].shape[0]),
        "test_size": int(test[0].shape[0]),
    }
    return result
