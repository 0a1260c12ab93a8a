"""The backgrounds challenge: test sets that separate object from background, and its scores.

Xiao et al. (2020) measure how much a classifier relies on the background by recombining
the objects and backgrounds of a test set with exact masks (ImageNet-9). Every variant
keeps the object's label:

- ``original``: the images as they are (backgrounds follow the class as in training);
- ``only_fg``: the object on a neutral gray background;
- ``only_bg``: the background alone, the object removed (our offline data renders the
  exact background, so no hole has to be filled);
- ``mixed_same``: the object on the background of another image whose background
  family is the one the object's class owns (what training mostly showed);
- ``mixed_rand``: the object on the background of another image, of a family drawn
  uniformly at random.

**BG-Gap** = accuracy on ``mixed_same`` minus accuracy on ``mixed_rand``: the accuracy a
classifier owes to a background that agrees with its class. All five go through one
probe fitted on the biased training set.

Two diagnostics need no biased probe. On a test split whose backgrounds are independent
of the class, a linear probe fitted on one half and scored on the other predicts the
class (*object info*: how much object information the features hold) or the background
family (*background info*). Neither probe can lean on a class-background correlation.

Example:
    >>> import torch
    >>> images = torch.randint(0, 256, (20, 3, 8, 8), dtype=torch.uint8)
    >>> masks = torch.zeros(20, 1, 8, 8, dtype=torch.uint8)
    >>> masks[:, :, 2:6, 2:6] = 1
    >>> backgrounds = torch.randint(0, 256, (20, 3, 8, 8), dtype=torch.uint8)
    >>> labels = torch.arange(20) % 2
    >>> families = labels.clone()
    >>> sets = background_challenge(images, masks, backgrounds, labels, families)
    >>> sorted(sets)
    ['mixed_rand', 'mixed_same', 'only_bg', 'only_fg', 'original']
    >>> bool((sets["only_fg"][:, :, 0, 0] == 128).all())
    True

References:
    - [0]: Xiao, Engstrom, Ilyas, Madry, Noise or Signal: The Role of Image Backgrounds
      in Object Recognition, ICLR 2021, https://arxiv.org/abs/2006.09994
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

__all__ = [
    "CHALLENGE_SPLITS",
    "background_challenge",
    "composite",
    "bg_gap",
    "half_split_probe",
    "l2_selected_fit",
    "background_metrics",
]

CHALLENGE_SPLITS: tuple[str, ...] = ("original", "only_fg", "only_bg", "mixed_same", "mixed_rand")
"""The variants :func:`background_challenge` builds, in report order."""


def composite(foreground: Tensor, masks: Tensor, background: Tensor) -> Tensor:
    """Object pixels (mask 1) from ``foreground``, the others from ``background``.

    Shape:
        - foreground, background: :math:`(N, 3, H, W)`, any dtype (the same).
        - masks: :math:`(N, 1, H, W)`, nonzero on the object.
        - Output: :math:`(N, 3, H, W)`.
    """
    if foreground.shape != background.shape:
        raise ValueError(
            f"foreground and background must have one shape, got {tuple(foreground.shape)} "
            f"and {tuple(background.shape)}"
        )
    if masks.shape != (foreground.shape[0], 1, *foreground.shape[-2:]):
        raise ValueError(
            f"masks must be (N, 1, H, W) = {(foreground.shape[0], 1, *foreground.shape[-2:])}, "
            f"got {tuple(masks.shape)}"
        )
    return torch.where(masks.bool(), foreground, background)


def _donors(families: np.ndarray, wanted: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each row i, a donor j != i with ``families[j] == wanted[i]``."""
    by_family = {int(f): np.flatnonzero(families == f) for f in np.unique(families)}
    out = np.empty(len(wanted), dtype=np.int64)
    for i, f in enumerate(wanted):
        pool = by_family.get(int(f))
        if pool is None or len(pool) == 0 or (len(pool) == 1 and pool[0] == i):
            raise ValueError(
                f"families: no other image has background family {int(f)}, needed for row {i}; "
                "use more images or a lower bias"
            )
        j = i
        while j == i:
            j = int(pool[rng.integers(len(pool))])
        out[i] = j
    return out


def background_challenge(
    images: Tensor,
    masks: Tensor,
    backgrounds: Tensor,
    labels: Tensor,
    families: Tensor,
    neutral: int | float = 128,
    seed: int = 0,
) -> dict[str, Tensor]:
    """Build the five backgrounds-challenge variants of a test set (labels unchanged).

    Args:
        images: The test images (uint8 or float).
        masks: Exact object masks.
        backgrounds: Each image with its object never drawn (same dtype as ``images``).
        labels: Class of each image; class ``k`` owns background family ``k``.
        families: Background family of each image.
        neutral: Value of the ``only_fg`` background, in the images' units.
        seed: Seed of the donor draws (the variants are deterministic given it).

    Returns:
        ``{name: images}`` for the names in :data:`CHALLENGE_SPLITS`; every tensor has
        the shape of ``images`` and row i keeps the object (or background) of row i.

    Shape:
        - images, backgrounds: :math:`(N, 3, H, W)`; masks: :math:`(N, 1, H, W)`.
        - labels, families: :math:`(N,)`.

    Raises:
        ValueError: On mismatched shapes, or when some family has no donor image.
    """
    n = images.shape[0]
    for name, t in (("labels", labels), ("families", families)):
        if t.shape != (n,):
            raise ValueError(f"{name} must have shape ({n},), got {tuple(t.shape)}")
    rng = np.random.default_rng(seed)
    fam = families.cpu().numpy()
    lab = labels.cpu().numpy()
    num_families = int(max(fam.max(), lab.max())) + 1
    same = _donors(fam, lab, rng)
    rand = _donors(fam, rng.integers(num_families, size=n), rng)
    return {
        "original": images.clone(),
        "only_fg": composite(images, masks, torch.full_like(images, neutral)),
        "only_bg": backgrounds.clone(),
        "mixed_same": composite(images, masks, backgrounds[torch.from_numpy(same)]),
        "mixed_rand": composite(images, masks, backgrounds[torch.from_numpy(rand)]),
    }


def bg_gap(accuracy: dict[str, float]) -> float:
    """BG-Gap = ``mixed_same`` - ``mixed_rand`` accuracy (Xiao et al. 2020)."""
    return accuracy["mixed_same"] - accuracy["mixed_rand"]


def half_split_probe(
    features: Tensor,
    targets: Tensor,
    fit: Callable[[Tensor, Tensor, int], Callable[[Tensor], Tensor]],
) -> float:
    """Fit a probe on the first half, return its top-1 on the second half.

    ``fit(x, y, num_classes)`` returns a ``predict(x) -> labels`` callable. Used for
    *object info* (targets = classes) and *background info* (targets = families) on a
    split whose backgrounds are independent of the class.

    Shape:
        - features: :math:`(N, D)`; targets: :math:`(N,)` int.
    """
    if features.shape[0] != targets.shape[0] or features.shape[0] < 4:
        raise ValueError(
            f"features and targets need the same number of rows (>= 4), got "
            f"{features.shape[0]} and {targets.shape[0]}"
        )
    half = features.shape[0] // 2
    k = int(targets.max()) + 1
    predict = fit(features[:half], targets[:half], k)
    return float((predict(features[half:]) == targets[half:]).float().mean())


def l2_selected_fit(
    l2_grid: Sequence[float], **fit_options: Any
) -> Callable[[Tensor, Tensor, int], Callable[[Tensor], Tensor]]:
    """A ``fit`` for :func:`half_split_probe` that chooses its own L2 penalty.

    The returned ``fit(x, y, num_classes)`` fits a logistic regression on the first
    four fifths of its rows for each penalty of ``l2_grid``, keeps the one that scores
    best on the last fifth, refits on all rows and returns ``predict(x) -> labels``. So
    a probe is never judged with a penalty chosen for another task.

    Args:
        l2_grid: Candidate penalties.
        **fit_options: Options of :func:`~simclr.evaluate.linear.fit_logistic_regression`
            (``max_iter``, ``tol``, ...).

    Shape:
        - x: :math:`(N, D)`; y: :math:`(N,)` int; ``predict``'s output: :math:`(M,)`.

    Example:
        >>> y = torch.arange(20) % 2
        >>> x = y[:, None].float().repeat(1, 2)
        >>> predict = l2_selected_fit((1e-3, 1e-2), max_iter=50)(x, y, 2)
        >>> predict(torch.tensor([[0.0, 0.0], [1.0, 1.0]])).tolist()
        [0, 1]
    """
    from simclr.evaluate.linear import fit_logistic_regression, linear_probe

    def fit(x: Tensor, y: Tensor, num_classes: int) -> Callable[[Tensor], Tensor]:
        cut = int(0.8 * x.shape[0])
        probe = linear_probe(
            (x[:cut], y[:cut]),
            (x[cut:], y[cut:]),
            (x[cut:], y[cut:]),
            num_classes,
            l2_grid=tuple(l2_grid),
            **fit_options,
            progress=False,
        )
        clf = fit_logistic_regression(x, y, num_classes, probe.best_l2, **fit_options)
        return lambda f: clf.predict(f).argmax(dim=1)

    return fit


def background_metrics(
    encoder: nn.Module,
    sets: dict[str, tuple[Tensor, Tensor]],
    mean: Sequence[float],
    std: Sequence[float],
    num_classes: int,
    l2_grid: Sequence[float],
    fit_options: dict[str, Any],
    knn_k: int,
    knn_temperature: float,
    device: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Every background-reliance number of one frozen encoder.

    The challenge probe is a logistic regression fitted on ``train``, its L2 chosen on
    ``val`` from ``l2_grid`` and refitted on both; it scores the five
    :data:`CHALLENGE_SPLITS`. A weighted kNN on the same memory bank scores
    ``original``. Object info, background info and object info on gray are
    :func:`half_split_probe` with :func:`l2_selected_fit`.

    Args:
        encoder: The frozen encoder (any module mapping images to features).
        sets: ``{name: (uint8 images, labels)}`` at the evaluation size: ``train`` and
            ``val`` (biased), the five :data:`CHALLENGE_SPLITS`, ``random`` (random
            backgrounds) with ``random_families`` (the same images, labelled by
            background family) and ``neutral`` (the same objects on gray).
        mean: Normalisation mean of the encoder's training views.
        std: Normalisation standard deviation.
        num_classes: Classes of the labels.
        l2_grid: Candidate L2 penalties of every probe.
        fit_options: :func:`~simclr.evaluate.linear.fit_logistic_regression` options of
            every probe (``max_iter``, ``tol``).
        knn_k: kNN neighbours.
        knn_temperature: kNN temperature.
        device: Where features are extracted.

    Returns:
        ``{"challenge": {split: top1}, "knn_original", "bg_gap", "object_info",
        "bg_info", "object_info_neutral", "best_l2"}``; accuracies in [0, 1].

    Shape:
        - every image tensor: :math:`(N, 3, S, S)` uint8; labels: :math:`(N,)` int.

    Example:
        >>> from simclr.evaluate.features import RawPixels
        >>> g = torch.Generator().manual_seed(0)
        >>> def split(n=20):
        ...     return (torch.randint(0, 256, (n, 3, 8, 8), generator=g, dtype=torch.uint8),
        ...             torch.arange(n) % 2)
        >>> names = ("train", "val", *CHALLENGE_SPLITS, "random", "random_families", "neutral")
        >>> sets = {name: split() for name in names}
        >>> out = background_metrics(RawPixels(2), sets, [0.5] * 3, [0.5] * 3, 2,
        ...                          (1e-3,), {"max_iter": 20}, knn_k=5, knn_temperature=0.1)
        >>> sorted(out["challenge"]) == sorted(CHALLENGE_SPLITS), 0 <= out["object_info"] <= 1
        (True, True)
    """
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
        num_classes,
        l2_grid=tuple(l2_grid),
        progress=False,
        **fit_options,
    )
    xtv = torch.cat([feats["train"][0], feats["val"][0]])
    ytv = torch.cat([feats["train"][1], feats["val"][1]])
    clf = fit_logistic_regression(xtv, ytv, num_classes, probe.best_l2, **fit_options)
    challenge = {
        k: float((clf.predict(feats[k][0]).argmax(1) == feats[k][1]).float().mean())
        for k in CHALLENGE_SPLITS
    }
    fit = l2_selected_fit(l2_grid, **fit_options)
    x_rand = feats["random"][0]
    knn = knn_scores(xtv, ytv, feats["original"][0], num_classes, knn_k, knn_temperature)
    return {
        "challenge": challenge,
        "knn_original": float((knn.argmax(dim=1) == feats["original"][1]).float().mean()),
        "bg_gap": bg_gap(challenge),
        "object_info": half_split_probe(x_rand, feats["random"][1], fit),
        "bg_info": half_split_probe(x_rand, sets["random_families"][1], fit),
        "object_info_neutral": half_split_probe(feats["neutral"][0], feats["neutral"][1], fit),
        "best_l2": probe.best_l2,
    }
