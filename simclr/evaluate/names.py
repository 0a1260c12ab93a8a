"""Names shared by the evaluation modules: dataset groups, protocols, floors, plots.

Both :mod:`simclr.evaluate.suite` (which runs the suite) and
:mod:`simclr.evaluate.report` (which renders and compares reports) read these; keeping
them here means neither imports the other for a constant.

Example:
    >>> TABLE4_DATASETS[:2], "dtd" in TRANSFER_DATASETS
    (('cifar10', 'cifar100'), True)
"""

from __future__ import annotations

__all__ = [
    "CLASSIFIER_FEATURES",
    "CLASSIFIER_PROBES",
    "FLOORS",
    "PLOTS",
    "PROTOCOLS",
    "TABLE4_DATASETS",
    "TRANSFER_DATASETS",
]

TABLE4_DATASETS: tuple[str, ...] = (
    "cifar10",
    "cifar100",
    "flowers102",
    "oxford_iiit_pet",
    "sun397",
    "caltech101",
)
"""The thesis's Table 4 transfer datasets, in its column order."""

TRANSFER_DATASETS: tuple[str, ...] = TABLE4_DATASETS + ("stl10", "dtd")
"""Table 4 plus STL-10 and DTD (``imagefolder`` works too, with its own root)."""

PROTOCOLS: tuple[str, ...] = ("linear", "knn", "finetune")
"""Evaluation protocols of ``simclr-eval --protocols``."""

FLOORS: tuple[str, ...] = ("raw_pixels", "random_encoder")
"""Baselines evaluated like the encoder (``--floors``)."""

PLOTS: tuple[str, ...] = ("confusion", "pca", "tsne", "umap")
"""Plots of ``--plots``."""

CLASSIFIER_PROBES: tuple[str, ...] = ("linear", "mlp")
"""Classifiers of the classifier comparison (``--probes``)."""

CLASSIFIER_FEATURES: tuple[str, ...] = ("raw", "embeddings", "pca", "tsne")
"""Feature sets of the classifier comparison (``--features``)."""
