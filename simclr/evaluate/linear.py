"""Linear probe: multinomial logistic regression on frozen features.

Protocol (SimCLR [0] transfer / Kornblith et al. [1]): features are extracted once from
the frozen encoder (no augmentation); a multinomial logistic regression is fitted by
minimising

.. math::
    \\frac{1}{N}\\sum_i \\mathrm{CE}(W x_i + b, y_i) + \\frac{\\lambda}{2}\\lVert W\\rVert_F^2

with full-batch L-BFGS (strong-Wolfe line search; a torch implementation that runs on
CPU and GPU), or with mini-batch SGD for large sets (``solver="sgd"``, weight decay
``lambda``). Features are standardised with the training mean/std (stated in the
report). ``lambda`` is chosen on a held-out validation split from a log-spaced grid,
warm-starting from the strongest regularisation; the classifier is then refitted on
train + validation with the chosen ``lambda`` and evaluated once on the test split.

References:
    - [0]: SimCLR, 2020, https://arxiv.org/abs/2002.05709
    - [1]: Do Better ImageNet Models Transfer Better?, 2019, https://arxiv.org/abs/1805.08974

Example:
    >>> import torch
    >>> x = torch.cat([torch.randn(50, 2) - 3, torch.randn(50, 2) + 3])
    >>> y = torch.cat([torch.zeros(50), torch.ones(50)]).long()
    >>> clf = fit_logistic_regression(x, y, 2, l2=1e-4)
    >>> bool((clf.predict(x).argmax(1) == y).float().mean() > 0.95)
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

from simclr.evaluate.metrics import classification_summary, headline

DEFAULT_L2_GRID: tuple[float, ...] = tuple(float(v) for v in np.logspace(-6, 5, 12))
"""Default lambda grid: 12 log-spaced values in [1e-6, 1e5] (Kornblith et al. use 45)."""

SOLVERS = ("lbfgs", "sgd")


@dataclass
class LinearClassifier:
    """A fitted multinomial logistic regression with its input standardisation.

    Attributes:
        weight: ``(C, D)``.
        bias: ``(C,)``.
        mean: ``(D,)`` feature mean subtracted before the linear map.
        std: ``(D,)`` feature std divided before the linear map.
        l2: The regularisation strength it was fitted with.
        iterations: Optimiser iterations (L-BFGS) or epochs (SGD) run.
    """

    weight: Tensor
    bias: Tensor
    mean: Tensor
    std: Tensor
    l2: float
    iterations: int = 0

    def predict(self, features: Tensor) -> Tensor:
        """Logits.

        Shape:
            - features: ``(N, D)``
            - Output: ``(N, C)``
        """
        x = (features.to(self.weight) - self.mean) / self.std
        return x @ self.weight.T + self.bias


def _standardiser(x: Tensor, standardize: bool) -> tuple[Tensor, Tensor]:
    if not standardize:
        return torch.zeros(x.shape[1], dtype=x.dtype, device=x.device), torch.ones(
            x.shape[1], dtype=x.dtype, device=x.device
        )
    mean = x.mean(0)
    std = x.std(0, unbiased=False)
    return mean, torch.where(std > 1e-8, std, torch.ones_like(std))


def _check_xy(features: Tensor, labels: Tensor, num_classes: int) -> None:
    if features.ndim != 2:
        raise ValueError(f"features must be (N, D), got shape {tuple(features.shape)}")
    if labels.ndim != 1 or labels.shape[0] != features.shape[0]:
        raise ValueError(
            f"labels must be (N,) with N={features.shape[0]}, got shape {tuple(labels.shape)}"
        )
    if features.shape[0] == 0:
        raise ValueError("features is empty; expected at least one sample")
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(
            f"labels must lie in [0, {num_classes - 1}], got [{int(labels.min())}, "
            f"{int(labels.max())}]"
        )


def fit_logistic_regression(
    features: Tensor,
    labels: Tensor,
    num_classes: int,
    l2: float,
    solver: str = "lbfgs",
    max_iter: int = 500,
    standardize: bool = True,
    init: LinearClassifier | None = None,
    sgd_epochs: int = 100,
    sgd_lr: float = 0.1,
    sgd_batch_size: int = 1024,
    seed: int = 0,
    device: str | torch.device | None = None,
    tol: float = 1e-6,
) -> LinearClassifier:
    """Fit multinomial logistic regression with L2 penalty ``l2/2 * ||W||^2`` (no bias term).

    Args:
        features: Training features.
        labels: Training labels in ``[0, num_classes)``.
        num_classes: Number of classes (columns of the logits).
        l2: Regularisation strength lambda >= 0 (the loss is the mean cross-entropy).
        solver: ``lbfgs`` (full batch, strong-Wolfe line search) or ``sgd`` (mini-batch,
            momentum 0.9, cosine learning rate, weight decay ``l2``).
        max_iter: L-BFGS iterations.
        standardize: Standardise features with their training mean/std first.
        init: Warm start (weights of a previous fit on the same features).
        sgd_epochs: SGD epochs.
        sgd_lr: SGD peak learning rate.
        sgd_batch_size: SGD batch size.
        seed: Seed of the SGD shuffling.
        device: Where to fit (default: the features' device).
        tol: L-BFGS gradient/step tolerance.

    Returns:
        The fitted :class:`LinearClassifier` (on ``device``).

    Shape:
        - features: ``(N, D)``
        - labels: ``(N,)``
    """
    _check_xy(features, labels, num_classes)
    if not (isinstance(l2, (int, float)) and l2 >= 0 and math.isfinite(l2)):
        raise ValueError(f"l2 must be a finite number >= 0, got {l2!r}")
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
    dev = torch.device(device) if device is not None else features.device
    x = features.to(dev, torch.float32)
    y = labels.to(dev).long()
    mean, std = _standardiser(x, standardize)
    x = (x - mean) / std
    d = x.shape[1]
    if init is not None and init.weight.shape == (num_classes, d):
        w = init.weight.detach().clone().to(dev).requires_grad_(True)
        b = init.bias.detach().clone().to(dev).requires_grad_(True)
    else:
        w = torch.zeros(num_classes, d, device=dev, requires_grad=True)
        b = torch.zeros(num_classes, device=dev, requires_grad=True)

    if solver == "lbfgs":
        opt = torch.optim.LBFGS(
            [w, b],
            lr=1.0,
            max_iter=max_iter,
            history_size=20,
            tolerance_grad=tol,
            tolerance_change=tol * 1e-3,
            line_search_fn="strong_wolfe",
        )

        onehot = F.one_hot(y, num_classes).to(x.dtype)
        n = x.shape[0]

        def closure() -> Tensor:
            # loss and analytic gradient (softmax - onehot), cheaper than autograd here
            with torch.no_grad():
                logits = x @ w.T + b
                logp = logits.log_softmax(dim=1)
                loss = -(logp * onehot).sum() / n + 0.5 * l2 * (w * w).sum()
                delta = (logp.exp() - onehot) / n
                w.grad = delta.T @ x + l2 * w
                b.grad = delta.sum(0)
            return loss

        opt.step(closure)
        iterations = int(opt.state[w].get("n_iter", 0))
    else:
        gen = torch.Generator().manual_seed(seed)
        opt = torch.optim.SGD([w, b], lr=sgd_lr, momentum=0.9)
        n = x.shape[0]
        steps_per_epoch = max(1, math.ceil(n / sgd_batch_size))
        total = sgd_epochs * steps_per_epoch
        step = 0
        for _ in range(sgd_epochs):
            perm = torch.randperm(n, generator=gen).to(dev)
            for i in range(0, n, sgd_batch_size):
                idx = perm[i : i + sgd_batch_size]
                for g in opt.param_groups:
                    g["lr"] = sgd_lr * 0.5 * (1 + math.cos(math.pi * step / total))
                opt.zero_grad()
                loss = F.cross_entropy(x[idx] @ w.T + b, y[idx]) + 0.5 * l2 * (w * w).sum()
                loss.backward()
                opt.step()
                step += 1
        iterations = sgd_epochs
    return LinearClassifier(w.detach(), b.detach(), mean, std, float(l2), iterations)


@dataclass
class LinearProbeResult:
    """Outcome of :func:`linear_probe`.

    Attributes:
        test: Metrics on the test split (see :func:`classification_summary`).
        best_l2: The chosen lambda.
        val_scores: lambda -> validation metric for every grid value.
        protocol: What was done, in words and numbers, for the report.
        test_scores: Test logits ``(N, C)`` (for plots; not serialised).
    """

    test: dict[str, Any]
    best_l2: float
    val_scores: dict[float, float]
    protocol: dict[str, Any]
    test_scores: Tensor | None = field(default=None, repr=False)


def linear_probe(
    train: tuple[Tensor, Tensor],
    val: tuple[Tensor, Tensor],
    test: tuple[Tensor, Tensor],
    num_classes: int,
    metric: str = "top1",
    l2_grid: tuple[float, ...] | list[float] = DEFAULT_L2_GRID,
    solver: str = "lbfgs",
    refit_on_train_val: bool = True,
    class_names: list[str] | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
    **fit_kwargs: Any,
) -> LinearProbeResult:
    """Choose lambda on ``val``, refit, report test metrics.

    Args:
        train: ``(features, labels)`` used to fit.
        val: Held-out ``(features, labels)`` used only to choose lambda.
        test: ``(features, labels)`` evaluated once with the chosen lambda.
        num_classes: Number of classes.
        metric: Selection metric, the dataset's convention: ``top1`` or ``mean_per_class``.
        l2_grid: Candidate lambdas (tried from the largest down, warm-started).
        solver: ``lbfgs`` or ``sgd``.
        refit_on_train_val: Refit on train + val with the chosen lambda (SimCLR protocol).
        class_names: Names for the per-class table.
        device: Where to fit.
        progress: Show a tqdm bar over the grid.
        **fit_kwargs: Passed to :func:`fit_logistic_regression` (``max_iter``, ...).

    Returns:
        A :class:`LinearProbeResult`.

    Shape:
        - features: ``(N, D)`` each; labels ``(N,)``
    """
    if len(l2_grid) == 0:
        raise ValueError("l2_grid is empty; expected at least one lambda")
    if metric not in ("top1", "mean_per_class"):
        raise ValueError(f"metric must be 'top1' or 'mean_per_class', got {metric!r}")
    for name, (f, y) in (("train", train), ("val", val), ("test", test)):
        _check_xy(f, y, num_classes)
        if f.shape[1] != train[0].shape[1]:
            raise ValueError(
                f"{name} features have dimension {f.shape[1]}, expected {train[0].shape[1]}"
            )
    grid = sorted((float(v) for v in l2_grid), reverse=True)
    val_scores: dict[float, float] = {}
    prev: LinearClassifier | None = None
    best_l2, best_score = grid[0], -1.0
    for lam in tqdm(grid, desc="linear probe: lambda", disable=not progress, leave=False):
        clf = fit_logistic_regression(
            train[0], train[1], num_classes, lam, solver=solver, init=prev, device=device,
            **fit_kwargs,
        )  # fmt: skip
        prev = clf
        summ = classification_summary(clf.predict(val[0]).cpu(), val[1])
        score = headline(summ, metric)
        val_scores[lam] = score
        if score > best_score + 1e-12:  # ties keep the stronger regularisation
            best_l2, best_score = lam, score
    if refit_on_train_val:
        x = torch.cat([train[0], val[0]])
        y = torch.cat([train[1], val[1]])
    else:
        x, y = train
    final = fit_logistic_regression(
        x, y, num_classes, best_l2, solver=solver, device=device, **fit_kwargs
    )
    scores = final.predict(test[0]).cpu()
    summary = classification_summary(scores, test[1], class_names)
    protocol = {
        "probe": "multinomial logistic regression on frozen features",
        "solver": solver,
        "loss": "mean cross-entropy + lambda/2 * ||W||^2 (bias not penalised)",
        "standardize": bool(fit_kwargs.get("standardize", True)),
        "l2_grid": grid,
        "l2_selected": best_l2,
        "selection_metric": metric,
        "selected_on": "validation split",
        "refit_on_train_val": refit_on_train_val,
        "train_size": int(train[0].shape[0]),
        "val_size": int(val[0].shape[0]),
        "test_size": int(test[0].shape[0]),
        "feature_dim": int(train[0].shape[1]),
        "max_iter": int(fit_kwargs.get("max_iter", 500)),
    }
    return LinearProbeResult(summary, best_l2, val_scores, protocol, scores)
