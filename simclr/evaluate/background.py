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

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "CHALLENGE_SPLITS",
    "background_challenge",
    "composite",
    "bg_gap",
    "half_split_probe",
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
