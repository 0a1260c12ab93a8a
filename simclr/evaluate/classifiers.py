"""The classifier comparison: linear probe and a small MLP on four feature sets.

Each probe runs on each feature set with the same splits and seeds:

- ``raw``: raw pixels (the preprocessed image area-downsampled and flattened, as the
  raw-pixel floor);
- ``embeddings``: the frozen encoder's features;
- ``pca``: PCA of the embeddings, fitted on the training split only (centred with the
  training mean), ``min(components, dim, n_train)`` components (default 50);
- ``tsne``: 2-D t-SNE of the embeddings. t-SNE has no transform for new points, so the
  training and test embeddings are embedded **together** in one run; the labels are
  not given to t-SNE, and only the training labels are used, by the probes.

Probes:

- ``linear``: :func:`simclr.evaluate.linear.linear_probe` (lambda chosen on the
  validation rows, refitted on train + validation);
- ``mlp``: one hidden layer (default 256 units) with ReLU, trained on train +
  validation with AdamW (lr 1e-3, fixed weight decay 1e-4, batch 64, fixed 100
  epochs, no early stopping), on features standardised with the training mean/std.

Example:
    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(80, 4, generator=g)
    >>> y = (x[:, 0] > 0).long()
    >>> clf = fit_mlp(x[:60], y[:60], 2, hidden=16, epochs=30, lr=1e-2, batch_size=16)
    >>> bool((clf.predict(x[60:]).argmax(1) == y[60:]).float().mean() > 0.8)
    True
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from simclr.evaluate.linear import DEFAULT_L2_GRID, linear_probe
from simclr.evaluate.metrics import classification_summary
from simclr.evaluate.names import CLASSIFIER_FEATURES, CLASSIFIER_PROBES
from simclr.evaluate.plots import tsne_2d

__all__ = [
    "ClassifierSettings",
    "MLPClassifier",
    "classifier_comparison",
    "fit_mlp",
    "pca_project",
    "tsne_joint",
]


@dataclass
class ClassifierSettings:
    """Sizes and optimisation of the comparison (written into the report).

    Attributes:
        mlp_hidden: Hidden units of the MLP's single hidden layer.
        mlp_epochs: Training epochs (fixed; no early stopping).
        mlp_lr: AdamW learning rate.
        mlp_weight_decay: AdamW weight decay (fixed, not tuned).
        mlp_batch_size: Mini-batch size.
        pca_components: Requested PCA components (capped by dim and training size).
        tsne_perplexity: t-SNE perplexity (capped at ``(N - 1) / 3``).
        l2_grid: Lambdas of the linear probe.
        solver: Linear probe solver.
        max_iter: Linear probe L-BFGS iterations.
        standardize: Standardise features with the training mean/std (both probes).
        seed: Seed of the MLP initialisation and shuffling, and of t-SNE.
    """

    mlp_hidden: int = 256
    mlp_epochs: int = 100
    mlp_lr: float = 1e-3
    mlp_weight_decay: float = 1e-4
    mlp_batch_size: int = 64
    pca_components: int = 50
    tsne_perplexity: float = 30.0
    l2_grid: tuple[float, ...] = DEFAULT_L2_GRID
    solver: str = "lbfgs"
    max_iter: int = 500
    standardize: bool = True
    seed: int = 0

    def validate(self) -> None:
        """Raise ``ValueError`` naming the field, the value and what was expected."""
        for name in ("mlp_hidden", "mlp_epochs", "mlp_batch_size", "pca_components"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} = {v!r}: expected an integer >= 1")
        for name in ("mlp_lr", "tsne_perplexity"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} = {getattr(self, name)!r}: expected a number > 0")
        if not self.mlp_weight_decay >= 0:
            raise ValueError(f"mlp_weight_decay = {self.mlp_weight_decay!r}: expected >= 0")


@dataclass
class MLPClassifier:
    """A trained one-hidden-layer MLP with its input standardisation.

    Attributes:
        model: ``Linear(D, H) -> ReLU -> Linear(H, C)``.
        mean: ``(D,)`` training feature mean.
        std: ``(D,)`` training feature std.
    """

    model: nn.Sequential
    mean: Tensor
    std: Tensor

    @torch.no_grad()
    def predict(self, features: Tensor) -> Tensor:
        """Logits.

        Shape:
            - features: ``(N, D)``
            - Output: ``(N, C)``
        """
        x = (features.to(self.mean) - self.mean) / self.std
        return self.model(x)


def fit_mlp(
    features: Tensor,
    labels: Tensor,
    num_classes: int,
    hidden: int = 256,
    epochs: int = 100,
    lr: float = 1e-3,
    weight_decay: float = 1e-4,
    batch_size: int = 64,
    standardize: bool = True,
    seed: int = 0,
    device: str | torch.device | None = None,
) -> MLPClassifier:
    """Train ``Linear(D, hidden) -> ReLU -> Linear(hidden, C)`` with AdamW, cross-entropy.

    The initialisation and the order of the mini-batches depend on ``seed`` only (the
    global torch RNG is left untouched).

    Args:
        features: Training features.
        labels: Training labels in ``[0, num_classes)``.
        num_classes: Number of classes.
        hidden: Hidden units.
        epochs: Passes over the data (fixed).
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay.
        batch_size: Mini-batch size.
        standardize: Standardise with the training mean/std.
        seed: Initialisation and shuffling seed.
        device: Where to train (default: the features' device).

    Returns:
        An :class:`MLPClassifier` (in eval mode).

    Raises:
        ValueError: On mismatched or empty inputs, labels out of range, bad sizes.

    Shape:
        - features: ``(N, D)``; labels: ``(N,)``

    Example:
        >>> clf = fit_mlp(torch.randn(8, 3), torch.tensor([0, 1] * 4), 2, hidden=4, epochs=2)
        >>> tuple(clf.predict(torch.randn(5, 3)).shape)
        (5, 2)
    """
    if features.ndim != 2 or features.shape[0] == 0:
        raise ValueError(f"features must be a non-empty (N, D) tensor, got {tuple(features.shape)}")
    if labels.shape != (features.shape[0],):
        raise ValueError(
            f"labels must have shape ({features.shape[0]},), got {tuple(labels.shape)}"
        )
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(
            f"labels must lie in [0, {num_classes}), got {labels.min()}..{labels.max()}"
        )
    for name, v in (("hidden", hidden), ("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be an int >= 1, got {v!r}")
    dev = torch.device(device) if device is not None else features.device
    x = features.to(dev, torch.float32)
    y = labels.to(dev, torch.long)
    if standardize:
        mean = x.mean(0)
        std = x.std(0, unbiased=False).clamp_min(1e-6)
    else:
        mean, std = torch.zeros(x.shape[1], device=dev), torch.ones(x.shape[1], device=dev)
    x = (x - mean) / std
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = nn.Sequential(
            nn.Linear(x.shape[1], hidden), nn.ReLU(), nn.Linear(hidden, num_classes)
        ).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(seed)
    n = x.shape[0]
    model.train()
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen).to(dev)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    model.eval()
    return MLPClassifier(model, mean, std)


def pca_project(train: Tensor, test: Tensor, n_components: int) -> tuple[Tensor, Tensor, dict]:
    """PCA fitted on ``train`` only; both splits projected on its components.

    The data are centred with the training mean; the components are the top right
    singular vectors of the centred training matrix (float64). The number kept is
    ``min(n_components, D, N_train)``.

    Returns:
        ``(train_projected, test_projected, info)``; ``info`` has ``components`` (kept),
        ``requested`` and ``explained_variance`` (share of the training variance kept).

    Raises:
        ValueError: If ``n_components < 1`` or the feature dimensions differ.

    Shape:
        - train: ``(N, D)``; test: ``(M, D)``
        - Output: ``(N, K)``, ``(M, K)`` with ``K = min(n_components, D, N)``

    Example:
        >>> a, b, info = pca_project(torch.randn(20, 8), torch.randn(5, 8), 3)
        >>> tuple(a.shape), tuple(b.shape), info["components"]
        ((20, 3), (5, 3), 3)
    """
    if isinstance(n_components, bool) or not isinstance(n_components, int) or n_components < 1:
        raise ValueError(f"n_components must be an int >= 1, got {n_components!r}")
    if train.ndim != 2 or test.ndim != 2 or train.shape[1] != test.shape[1]:
        raise ValueError(
            f"train and test must be (N, D) and (M, D), got {tuple(train.shape)} and "
            f"{tuple(test.shape)}"
        )
    tr = train.detach().cpu().double()
    mean = tr.mean(0)
    centred = tr - mean
    _, s, vh = torch.linalg.svd(centred, full_matrices=False)
    k = min(n_components, tr.shape[1], tr.shape[0])
    comps = vh[:k]
    total = float((s**2).sum())
    info = {
        "components": k,
        "requested": n_components,
        "explained_variance": float((s[:k] ** 2).sum()) / total if total > 0 else 1.0,
    }
    proj_tr = (centred @ comps.T).float()
    proj_te = ((test.detach().cpu().double() - mean) @ comps.T).float()
    return proj_tr, proj_te, info


def tsne_joint(
    train: Tensor, test: Tensor, seed: int = 0, perplexity: float = 30.0
) -> tuple[Tensor, Tensor]:
    """2-D t-SNE of train and test embedded together (one run, no labels).

    t-SNE has no transform for new points, so the test points are embedded in the same
    run as the training points; the split is restored afterwards. No label enters.

    Shape:
        - train: ``(N, D)``; test: ``(M, D)``
        - Output: ``(N, 2)``, ``(M, 2)``

    Example:
        >>> a, b = tsne_joint(torch.randn(12, 4), torch.randn(6, 4), perplexity=3.0)
        >>> tuple(a.shape), tuple(b.shape)
        ((12, 2), (6, 2))
    """
    joint = torch.cat([train.detach().cpu(), test.detach().cpu()])
    emb = torch.from_numpy(np.ascontiguousarray(tsne_2d(joint, seed, perplexity))).float()
    return emb[: train.shape[0]], emb[train.shape[0] :]


def _strip(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in summary.items() if k != "confusion_matrix"}


def classifier_comparison(
    train_labels: Tensor,
    test_labels: Tensor,
    val_mask: Tensor,
    num_classes: int,
    embeddings: tuple[Tensor, Tensor] | None,
    raw: tuple[Tensor, Tensor] | None = None,
    probes: tuple[str, ...] = CLASSIFIER_PROBES,
    features: tuple[str, ...] = CLASSIFIER_FEATURES,
    settings: ClassifierSettings | None = None,
    metric: str = "top1",
    class_names: list[str] | None = None,
    device: str | torch.device | None = None,
) -> dict[str, Any]:
    """Every probe on every feature set, same splits and seeds; a table and the details.

    The training rows (``train_labels``) include the validation rows marked by
    ``val_mask``: the linear probe chooses lambda on them and is refitted on all
    training rows; the MLP trains on all training rows. Test labels are only scored.

    Args:
        train_labels: Labels of the training rows (train + validation).
        test_labels: Labels of the test rows.
        val_mask: Boolean, ``True`` on the training rows that form the validation split.
        num_classes: Number of classes.
        embeddings: ``(train, test)`` encoder features (``embeddings``, ``pca``, ``tsne``).
        raw: ``(train, test)`` raw-pixel features (``raw``).
        probes: Subset of ``linear``, ``mlp``.
        features: Subset of ``raw``, ``embeddings``, ``pca``, ``tsne``.
        settings: Sizes and optimisation (default :class:`ClassifierSettings`).
        metric: The dataset's headline metric (``top1`` or ``mean_per_class``).
        class_names: Names for the per-class tables.
        device: Where to fit.

    Returns:
        ``{"table": {feature: {probe: headline}}, "results": {feature: {probe: test
        metrics}}, "features": {feature: {"dim", ...}}, "protocol": {...}}``.

    Raises:
        ValueError: Unknown probe or feature, a feature set without its input, or
            mismatched shapes.

    Shape:
        - train features ``(N, D)``, test features ``(M, D)``; labels ``(N,)``, ``(M,)``;
          val_mask ``(N,)``

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> x = torch.randn(40, 6, generator=g)
        >>> y = (x[:, 0] > 0).long()
        >>> mask = torch.arange(30) % 5 == 0
        >>> s = ClassifierSettings(mlp_hidden=8, mlp_epochs=5, pca_components=2,
        ...                        l2_grid=(1e-2,), max_iter=20, tsne_perplexity=5.0)
        >>> out = classifier_comparison(y[:30], y[30:], mask, 2, (x[:30], x[30:]),
        ...                             features=("embeddings", "pca"), settings=s)
        >>> sorted(out["table"]), sorted(out["table"]["pca"]), out["features"]["pca"]["dim"]
        (['embeddings', 'pca'], ['linear', 'mlp'], 2)
    """
    s = settings or ClassifierSettings()
    s.validate()
    bad = [p for p in probes if p not in CLASSIFIER_PROBES]
    if bad or not probes:
        raise ValueError(
            f"probes = {list(probes)!r}: expected a non-empty subset of {CLASSIFIER_PROBES}"
        )
    bad = [f for f in features if f not in CLASSIFIER_FEATURES]
    if bad or not features:
        raise ValueError(
            f"features = {list(features)!r}: expected a non-empty subset of {CLASSIFIER_FEATURES}"
        )
    if "raw" in features and raw is None:
        raise ValueError("raw = None: expected (train, test) raw-pixel features for 'raw'")
    if any(f != "raw" for f in features) and embeddings is None:
        raise ValueError("embeddings = None: expected (train, test) encoder features")
    n_train = train_labels.shape[0]
    if val_mask.shape != (n_train,) or val_mask.dtype != torch.bool:
        raise ValueError(
            f"val_mask must be a bool tensor of shape ({n_train},), got "
            f"{val_mask.dtype} {tuple(val_mask.shape)}"
        )
    if not bool(val_mask.any()) or bool(val_mask.all()):
        raise ValueError("val_mask must mark some, but not all, training rows")
    for name, pair in (("embeddings", embeddings), ("raw", raw)):
        if pair is not None and (
            pair[0].shape[0] != n_train or pair[1].shape[0] != test_labels.shape[0]
        ):
            raise ValueError(
                f"{name} must have {n_train} training and {test_labels.shape[0]} test rows, "
                f"got {pair[0].shape[0]} and {pair[1].shape[0]}"
            )

    sets: dict[str, tuple[Tensor, Tensor]] = {}
    described: dict[str, dict[str, Any]] = {}
    for f in features:
        if f == "raw":
            assert raw is not None
            sets[f] = (raw[0].float().cpu(), raw[1].float().cpu())
            described[f] = {"dim": int(raw[0].shape[1]), "source": "raw pixels"}
        elif f == "embeddings":
            assert embeddings is not None
            sets[f] = (embeddings[0].float().cpu(), embeddings[1].float().cpu())
            described[f] = {"dim": int(embeddings[0].shape[1]), "source": "encoder features"}
        elif f == "pca":
            assert embeddings is not None
            tr, te, info = pca_project(embeddings[0], embeddings[1], s.pca_components)
            sets[f] = (tr, te)
            described[f] = {"dim": info["components"], **info,
                            "source": "PCA of the embeddings, fitted on train only"}  # fmt: skip
        else:
            assert embeddings is not None
            sets[f] = tsne_joint(embeddings[0], embeddings[1], s.seed, s.tsne_perplexity)
            described[f] = {
                "dim": 2,
                "source": "t-SNE of train and test embeddings together (one run, no "
                "labels); probes fitted on the training points' labels only",
            }

    fit_rows = ~val_mask
    table: dict[str, dict[str, float]] = {}
    results: dict[str, dict[str, Any]] = {}
    for f, (tr_x, te_x) in sets.items():
        table[f], results[f] = {}, {}
        for p in probes:
            if p == "linear":
                res = linear_probe(
                    (tr_x[fit_rows], train_labels[fit_rows]),
                    (tr_x[val_mask], train_labels[val_mask]),
                    (te_x, test_labels), num_classes, metric=metric, l2_grid=s.l2_grid,
                    solver=s.solver, class_names=class_names, device=device, progress=False,
                    max_iter=s.max_iter, standardize=s.standardize, seed=s.seed,
                )  # fmt: skip
                summary = res.test
                results[f][p] = {"test": _strip(summary), "l2_selected": res.best_l2}
            else:
                clf = fit_mlp(
                    tr_x, train_labels, num_classes, hidden=s.mlp_hidden, epochs=s.mlp_epochs,
                    lr=s.mlp_lr, weight_decay=s.mlp_weight_decay, batch_size=s.mlp_batch_size,
                    standardize=s.standardize, seed=s.seed, device=device,
                )  # fmt: skip
                summary = classification_summary(clf.predict(te_x).cpu(), test_labels, class_names)
                results[f][p] = {"test": _strip(summary)}
            table[f][p] = float(summary[metric])

    protocol = {
        **{k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(s).items()},
        "probes": list(probes),
        "features": list(features),
        "metric": metric,
        "train_size": int(n_train),
        "val_size": int(val_mask.sum()),
        "test_size": int(test_labels.shape[0]),
        "linear": "multinomial logistic regression; lambda chosen on the validation rows, "
        "refitted on train + validation",
        "mlp": f"Linear(D, {s.mlp_hidden}) -> ReLU -> Linear({s.mlp_hidden}, C), AdamW "
        f"(lr {s.mlp_lr:g}, weight decay {s.mlp_weight_decay:g}, fixed), batch "
        f"{s.mlp_batch_size}, {s.mlp_epochs} epochs, trained on train + validation",
        "tsne": "t-SNE has no transform for new points: train and test embeddings are "
        "embedded together in one run without labels; only training labels are used",
    }
    return {"table": table, "results": results, "features": described, "protocol": protocol}
