"""Plots for evaluation reports (matplotlib, Agg backend): confusion matrix, 2-D
embeddings (PCA, t-SNE, UMAP when installed) and the comparison bar chart.

References:
    - [0]: t-SNE, 2008, https://www.jmlr.org/papers/v9/vandermaaten08a.html
    - [1]: UMAP, 2018, https://arxiv.org/abs/1802.03426

Example:
    >>> import torch, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "cm.png")
    >>> plot_confusion_matrix(torch.eye(3, dtype=torch.long), ["a", "b", "c"], p)
    >>> os.path.exists(p)
    True
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor


def _plt():
    from segaug.env import pyplot

    return pyplot()


def plot_confusion_matrix(
    cm: Tensor | list[list[int]],
    class_names: list[str],
    path: str | os.PathLike,
    title: str = "",
    normalize: bool = True,
) -> None:
    """Row-normalised confusion matrix heat map (class names shown up to 40 classes).

    Shape:
        - cm: ``(C, C)`` counts, rows true classes, columns predictions
    """
    plt = _plt()
    m = torch.as_tensor(cm, dtype=torch.float64).numpy()
    if normalize:
        m = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    c = m.shape[0]
    size = min(4 + 0.25 * c, 24)
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    im = ax.imshow(m, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    if c <= 40:
        ax.set_xticks(range(c), class_names, rotation=90, fontsize=7)
        ax.set_yticks(range(c), class_names, fontsize=7)
    if c <= 12:
        for i in range(c):
            for j in range(c):
                ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if m[i, j] > 0.5 else "black")  # fmt: skip
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or "confusion matrix" + (" (row-normalised)" if normalize else ""))
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def pca_2d(features: Tensor) -> np.ndarray:
    """Project centred features on their two leading principal axes.

    Shape:
        - features: ``(N, D)``
        - Output: ``(N, 2)``
    """
    x = features.double()
    x = x - x.mean(0)
    _, _, v = torch.linalg.svd(x, full_matrices=False)
    return (x @ v[:2].T).numpy() if v.shape[0] >= 2 else np.c_[x @ v.T, np.zeros(len(x))]


def tsne_2d(features: Tensor, seed: int = 0, perplexity: float = 30.0) -> np.ndarray:
    """t-SNE (scikit-learn, PCA initialisation) to 2-D; perplexity clipped to N/3.

    Shape:
        - features: ``(N, D)``
        - Output: ``(N, 2)``
    """
    from sklearn.manifold import TSNE

    n = features.shape[0]
    if n < 5:
        raise ValueError(f"t-SNE needs at least 5 samples, got {n}")
    perp = float(min(perplexity, max(2.0, (n - 1) / 3)))
    tsne = TSNE(2, perplexity=perp, init="pca", random_state=seed)
    return tsne.fit_transform(features.double().numpy())


def umap_2d(features: Tensor, seed: int = 0) -> np.ndarray | None:
    """UMAP to 2-D when ``umap-learn`` is installed, else ``None``."""
    try:
        import umap
    except ImportError:
        return None
    return umap.UMAP(n_components=2, random_state=seed).fit_transform(features.numpy())


def plot_embeddings(
    features: Tensor,
    labels: Tensor,
    class_names: list[str],
    out_dir: str | os.PathLike,
    prefix: str = "",
    methods: tuple[str, ...] = ("pca", "tsne", "umap"),
    max_points: int = 2000,
    seed: int = 0,
    title: str = "",
) -> dict[str, str]:
    """Scatter plots of 2-D projections coloured by class.

    A seeded random subset of ``max_points`` samples is drawn first (t-SNE is O(N^2)).

    Args:
        features: Features to project.
        labels: Class of each sample.
        class_names: Legend names (legend shown up to 20 classes).
        out_dir: Folder for ``{prefix}embedding_{method}.png``.
        prefix: File-name prefix.
        methods: Any of ``pca``, ``tsne``, ``umap`` (skipped when not installed).
        max_points: Subsample size.
        seed: Seed of the subsample and of t-SNE/UMAP.
        title: Plot title prefix (e.g. the dataset and split).

    Returns:
        Method -> written file path.

    Shape:
        - features: ``(N, D)``; labels: ``(N,)``
    """
    plt = _plt()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    n = features.shape[0]
    if n > max_points:
        idx = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:max_points]
        features, labels = features[idx], labels[idx]
    written: dict[str, str] = {}
    for method in methods:
        if method == "pca":
            xy = pca_2d(features)
        elif method == "tsne":
            xy = tsne_2d(features, seed)
        elif method == "umap":
            xy = umap_2d(features, seed)
            if xy is None:
                continue
        else:
            raise ValueError(f"methods: unknown {method!r}; expected 'pca', 'tsne' or 'umap'")
        fig, ax = plt.subplots(figsize=(6, 5))
        c = len(class_names)
        cmap = plt.get_cmap("tab10" if c <= 10 else "tab20" if c <= 20 else "nipy_spectral")
        y = labels.numpy()
        for k in np.unique(y):
            sel = y == k
            color = cmap(k % 20 if c <= 20 else k / max(c - 1, 1))
            ax.scatter(xy[sel, 0], xy[sel, 1], s=6, color=color, label=class_names[k])
        if c <= 20:
            ax.legend(fontsize=6, markerscale=2, loc="best", frameon=False)
        label = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}[method]
        ax.set_title(f"{title} {label} ({len(y)} points)".strip())
        ax.set_xticks([])
        ax.set_yticks([])
        fig.tight_layout()
        path = out / f"{prefix}embedding_{method}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written[method] = str(path)
    return written


def plot_comparison(
    pipelines: list[str],
    datasets: list[str],
    means: np.ndarray,
    stds: np.ndarray,
    path: str | os.PathLike,
    ylabel: str = "accuracy (%)",
) -> None:
    """Grouped bar chart: one group per dataset, one bar per pipeline, std error bars.

    Shape:
        - means, stds: ``(len(pipelines), len(datasets))``; NaN = no result
    """
    plt = _plt()
    p, d = len(pipelines), len(datasets)
    fig, ax = plt.subplots(figsize=(max(5, 1.4 * d * max(p, 1) / 2 + 2), 4))
    width = 0.8 / max(p, 1)
    x = np.arange(d)
    for i, name in enumerate(pipelines):
        m = np.nan_to_num(means[i], nan=0.0)
        s = np.nan_to_num(stds[i], nan=0.0)
        ax.bar(x + (i - (p - 1) / 2) * width, m, width, yerr=s, capsize=3, label=name)
    ax.set_xticks(x, datasets)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
