"""Named RegionAugment presets, each with its source.

Every recipe is built on the same engine, so a comparison between two recipes isolates
what they do differently. Every recipe takes ``output_size`` and ``crop_scale`` (the
area range of its random resized crop, SimCLR's ``(0.08, 1)`` by default), so a study can
change the crop for all recipes alike. ``build(name, **kwargs)`` creates one by name (the trainer's
config uses this), and ``names()`` lists them.

Example:
    >>> from segaug import recipes
    >>> aug = recipes.thesis(output_size=32)
    >>> recipes.names()  # doctest: +NORMALIZE_WHITESPACE
    ['background_fill', 'background_swap', 'dcl', 'independent', 'independent_swap',
     'lightly_baseline', 'lorot', 'object_aware', 'orthogonality', 'simclr', 'thesis']

The transform sets of the methods × transform-sets study (``lightly_baseline``,
``orthogonality``, ``lorot``, ``dcl``) are global by default, as in that study: lightly's
photometric ops on every sample, each with its own geometry; ``region=True`` puts the
thesis's region ops on top of the same geometry instead.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from segaug.augment.geometry import (
    GeometricOp,
    LocalRotation,
    RandomResizedCropFlip,
    RandomRotation,
    RandomVerticalFlip,
    RegionShuffle,
)
from segaug.augment.ops import (
    FILL_MODES,
    ColorJitter,
    Fill,
    GaussianBlur,
    IntensityOp,
    RandomGrayscale,
)
from segaug.augment.region import RegionAugment
from segaug.constants import RELIABLE_COVERAGE
from segaug.registry import Registry

__all__ = [
    "simclr",
    "thesis",
    "object_aware",
    "background_swap",
    "independent",
    "independent_swap",
    "background_fill",
    "lightly_baseline",
    "orthogonality",
    "lorot",
    "dcl",
    "simclr_ops",
    "lightly_ops",
    "build",
    "names",
    "RECIPES",
]

RECIPES: Registry = Registry("recipe")


def _use_blur(output_size: int | tuple[int, int], blur: bool | None) -> bool:
    # Thesis 5.2.1 (after SimCLR's CIFAR-10 setup): no Gaussian blur at 32 px and below.
    if blur is not None:
        return bool(blur)
    side = output_size if isinstance(output_size, int) else min(output_size)
    return side > 32


def simclr_ops(
    output_size: int | tuple[int, int] = 224, blur: bool | None = None
) -> list[IntensityOp]:
    """SimCLR's global photometric ops: colour jitter 0.4/0.4/0.4/0.1 (p=0.8), grayscale
    (p=0.2), Gaussian blur (p=0.5, kernel 10% of the side; off at <= 32 px by default)."""
    ops: list[IntensityOp] = [ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.8), RandomGrayscale(p=0.2)]
    if _use_blur(output_size, blur):
        ops.append(GaussianBlur(p=0.5))
    return ops


@RECIPES.register("simclr")
def simclr(
    output_size: int | tuple[int, int] = 224,
    blur: bool | None = None,
    crop_scale: tuple[float, float] = (0.08, 1.0),
) -> RegionAugment:
    """The standard SimCLR pipeline, global only (masks are ignored).

    Random resized crop (scale 0.08-1) + flip, then :func:`simclr_ops`. Every sample
    takes this pipeline, so ``AugmentedBatch.fallback`` is all True.

    - [0]: SimCLR, 2020, https://arxiv.org/abs/2002.05709 (appendix A)
    """
    return RegionAugment(
        foreground=[],
        background=[],
        fallback=simclr_ops(output_size, blur),
        geometric=RandomResizedCropFlip(output_size, scale=crop_scale),
        region=False,
    )


def _thesis_kwargs(output_size: int | tuple[int, int], blur: bool | None) -> dict[str, Any]:
    return {
        "foreground": [ColorJitter(0.8, 0.8, 0.8, 0.2, p=0.8)],
        "background": [GaussianBlur(p=0.85), RandomGrayscale(p=0.3)],
        "fallback": simclr_ops(output_size, blur),
    }


@RECIPES.register("thesis")
def thesis(
    output_size: int | tuple[int, int] = 224,
    crop_scale: tuple[float, float] = (0.08, 1.0),
    blur: bool | None = None,
    coverage: tuple[float, float] = RELIABLE_COVERAGE,
    feather: float = 0.0,
) -> RegionAugment:
    """The SegAug-SimCLR recipe: strong colour jitter on the object, blur and grayscale
    on the background, SimCLR fallback for unreliable masks.

    Foreground ColorJitter(0.8, 0.8, 0.8, 0.2, p=0.8); background GaussianBlur p=0.85
    and grayscale p=0.3; crop + flip jointly; fallback :func:`simclr_ops` outside
    ``coverage``. ``blur`` only affects the fallback (the background blur is the recipe).

    - [0]: SegAug-SimCLR (bachelor thesis), sections 4.2 and 5.2.1
    """
    return RegionAugment(
        **_thesis_kwargs(output_size, blur),
        geometric=RandomResizedCropFlip(output_size, scale=crop_scale),
        coverage=coverage,
        feather=feather,
    )


@RECIPES.register("object_aware")
def object_aware(
    output_size: int | tuple[int, int] = 224,
    crop_scale: tuple[float, float] = (0.08, 1.0),
    blur: bool | None = None,
    coverage: tuple[float, float] = RELIABLE_COVERAGE,
) -> RegionAugment:
    """The thesis recipe with crops that keep the object.

    Crop centres are drawn inside the foreground's bounding box, so nearly every view
    contains part of the object, and the two views of a pair share it; in the spirit
    of ContrastiveCrop, which centres crops on the object's box from a heat map. Samples
    with an unreliable mask are cropped as in SimCLR.

    - [0]: Peng et al., Crafting Better Contrastive Views for Siamese Representation
      Learning (ContrastiveCrop), CVPR 2022, https://arxiv.org/abs/2202.03278
    """
    return RegionAugment(
        **_thesis_kwargs(output_size, blur),
        geometric=RandomResizedCropFlip(output_size, scale=crop_scale, object_centered=True),
        coverage=coverage,
    )


@RECIPES.register("background_swap")
def background_swap(
    output_size: int | tuple[int, int] = 224,
    crop_scale: tuple[float, float] = (0.08, 1.0),
    p: float = 0.5,
    blur: bool | None = None,
    coverage: tuple[float, float] = RELIABLE_COVERAGE,
) -> RegionAugment:
    """The thesis recipe where, with probability ``p``, a sample's foreground is pasted
    onto the (background-augmented) image of another sample in the batch.

    The two views then disagree on the background, which pushes the representation
    towards the object. Unlike the paper, the donor image is used whole (its own object
    may show through outside the pasted foreground); no inpainting is done.

    - [0]: Ryali, Schwab, Morcos, Characterizing and Improving the Robustness of
      Self-Supervised Learning through Background Augmentations, 2021,
      https://arxiv.org/abs/2103.12719
    """
    return RegionAugment(
        **_thesis_kwargs(output_size, blur),
        geometric=RandomResizedCropFlip(output_size, scale=crop_scale),
        coverage=coverage,
        background_swap=p,
    )


# ------------------------------------------------ recipes that target background reliance
def _independent_kwargs(
    output_size: int | tuple[int, int], blur: bool | None, *extra_background: IntensityOp
) -> dict[str, Any]:
    """SimCLR ops for object, background (then ``extra_background``) and fallback."""
    return {
        "foreground": simclr_ops(output_size, blur),
        "background": [*simclr_ops(output_size, blur), *extra_background],
        "fallback": simclr_ops(output_size, blur),
    }


@RECIPES.register("independent")
def independent(
    output_size: int | tuple[int, int] = 224,
    crop_scale: tuple[float, float] = (0.08, 1.0),
    blur: bool | None = None,
    coverage: tuple[float, float] = RELIABLE_COVERAGE,
) -> RegionAugment:
    """SimCLR's photometric ops drawn independently for the object and the background.

    Object and background each get :func:`simclr_ops` with their own random draws, so the
    colour of the background no longer moves with the colour of the object: a view can
    keep the object's colour and change the background's, or the other way round. Crop
    and flip are joint (one geometry per view). Unreliable masks fall back to SimCLR.
    This is the base of :func:`independent_swap` and :func:`background_fill`.

    - [0]: SimCLR, 2020, https://arxiv.org/abs/2002.05709 (the ops and their settings)
    - [1]: Ryali, Schwab, Morcos, 2021, https://arxiv.org/abs/2103.12719 (background
      augmentations on top of SimCLR-style ops)
    """
    return RegionAugment(
        **_independent_kwargs(output_size, blur),
        geometric=RandomResizedCropFlip(output_size, scale=crop_scale),
        coverage=coverage,
    )


@RECIPES.register("independent_swap")
def independent_swap(
    output_size: int | tuple[int, int] = 224,
    crop_scale: tuple[float, float] = (0.08, 1.0),
    p: float = 0.8,
    blur: bool | None = None,
    coverage: tuple[float, float] = RELIABLE_COVERAGE,
    swap_donor: str = "background",
    shared_donor: bool = False,
) -> RegionAugment:
    """:func:`independent`, plus an in-batch background swap with probability ``p``.

    Each view draws its own swap: with probability ``p`` the object is pasted on the
    (independently augmented) crop of another image of the batch, so the two views of a
    pair often show different backgrounds. Within a view, the donor's own image then
    shares the pasted image's background crop (before each row's own photometric draws):
    an in-batch negative with the same background, as in BG_Swaps. By default
    (``swap_donor="background"``) the other image's own object is first filled in from
    the background around it, so a swapped view shows one object; ``"image"`` keeps it
    (:class:`~segaug.RegionAugment`). ``shared_donor=True`` gives every swapped view of
    a batch the same donor, so that the background tells no two of them apart.

    The defaults, ``p = 0.8`` with the donor's object filled in, are the best of our
    measurements on both offline datasets: within seed noise of ``background_fill`` on
    SyntheticShapes and ahead of every other recipe on real objects on real photos, and
    they keep their gain with GrabCut's masks on both (docs/results/swap-donor.md). Those
    are SimCLR's numbers: with BYOL (no negatives) the swap gained about a third as much on
    SyntheticShapes and nothing on the photos, so sweep it for your method.
    Ryali et al. found p 0.1-0.3 best on ImageNet with far longer training; sweep it on
    your data (``segaug-compare --sweep independent_swap.p=0.2,0.5,0.8``).

    - [0]: Ryali, Schwab, Morcos, Characterizing and Improving the Robustness of
      Self-Supervised Learning through Background Augmentations, 2021,
      https://arxiv.org/abs/2103.12719 (BG_Random, BG_Swaps)
    """
    return RegionAugment(
        **_independent_kwargs(output_size, blur),
        geometric=RandomResizedCropFlip(output_size, scale=crop_scale),
        coverage=coverage,
        background_swap=p,
        swap_donor=swap_donor,
        shared_donor=shared_donor,
    )


def _fill(
    output_size: int | tuple[int, int],
    modes: tuple[str, ...],
    p: float,
    photos: str | os.PathLike[str] | None,
) -> Fill:
    """:class:`~segaug.augment.ops.Fill` for :func:`background_fill`, its photo pool at four
    times the view's side (64 to 512 px), so that most crops are shrunk, not enlarged."""
    if photos is None:
        return Fill(modes=modes, p=p)
    side = max(output_size) if isinstance(output_size, tuple) else output_size
    return Fill(modes=modes, p=p, photos=photos, photo_side=min(512, max(64, 4 * int(side))))


@RECIPES.register("background_fill")
def background_fill(
    output_size: int | tuple[int, int] = 224,
    crop_scale: tuple[float, float] = (0.08, 1.0),
    p: float = 0.8,
    modes: tuple[str, ...] = FILL_MODES,
    blur: bool | None = None,
    coverage: tuple[float, float] = RELIABLE_COVERAGE,
    swap: float = 0.0,
    object_centered: bool = False,
    swap_donor: str = "background",
    shared_donor: bool = False,
    photos: str | os.PathLike[str] | None = None,
) -> RegionAugment:
    """:func:`independent`, with the background replaced with probability ``p``.

    After the independent photometric ops, each view's background is replaced, with
    probability ``p``, by a flat random colour, uniform noise or a smooth random texture
    (:class:`~segaug.augment.ops.Fill`, mode drawn per view among ``modes``), or, with
    ``modes=("photos",)`` and ``photos`` a folder, by a random crop of a photo of that
    folder (real backgrounds from outside the dataset; the pool is stored at four times
    the view's side, 64 to 512 px). The object keeps its pixels. Views of one image
    then rarely share a background, and the background carries no instance identity.
    The default ``p = 0.8`` is the best of our sweep on the offline data (README, "The
    main job"); Ryali et al. found 0.1-0.3 best on ImageNet, so sweep it on your data.

    Two options combine the fill with the other background recipes: ``swap`` first
    pastes a view's object on another image's crop with that probability (as
    :func:`independent_swap`; the fill then replaces it in a share ``p`` of the views, so
    a share ``swap * (1 - p)`` of the views shows the object on a real foreign
    background; ``swap_donor`` and ``shared_donor`` as in :func:`independent_swap`), and
    ``object_centered`` keeps every crop on the object
    (:class:`~segaug.augment.geometry.RandomResizedCropFlip`), so that no view shows
    background only.

    - [0]: Ryali, Schwab, Morcos, 2021, https://arxiv.org/abs/2103.12719 (BG_RM,
      BG_Random)
    - [1]: Zhao et al., Distilling Localization for Self-Supervised Representation
      Learning (DiLo), AAAI 2021, https://arxiv.org/abs/2004.06638 (texture backgrounds)
    """
    return RegionAugment(
        **_independent_kwargs(output_size, blur, _fill(output_size, modes, p, photos)),
        geometric=RandomResizedCropFlip(
            output_size, scale=crop_scale, object_centered=object_centered
        ),
        coverage=coverage,
        background_swap=swap,
        swap_donor=swap_donor,
        shared_donor=shared_donor,
    )


# ----------------------------- the transform sets of the methods × transform-sets study
def lightly_ops(
    output_size: int | tuple[int, int] = 224, blur: bool | None = None
) -> list[IntensityOp]:
    """lightly's ``SimCLRTransform`` photometric defaults: colour jitter 0.8/0.8/0.8/0.2
    (``cj_strength`` 1, p=0.8), grayscale (p=0.2), Gaussian blur (p=0.5, sigma 0.1-2; off
    at <= 32 px by default, as in lightly's CIFAR-10 examples).

    - [0]: lightly, ``lightly/transforms/simclr_transform.py``,
      https://docs.lightly.ai/self-supervised-learning/lightly.transforms.html
    """
    ops: list[IntensityOp] = [ColorJitter(0.8, 0.8, 0.8, 0.2, p=0.8), RandomGrayscale(p=0.2)]
    if _use_blur(output_size, blur):
        ops.append(GaussianBlur(sigma=(0.1, 2.0), p=0.5))
    return ops


def _transform_set(
    geometric: list[GeometricOp],
    output_size: int | tuple[int, int],
    blur: bool | None,
    region: bool,
    coverage: tuple[float, float],
) -> RegionAugment:
    if region:
        return RegionAugment(
            **_thesis_kwargs(output_size, blur), geometric=geometric, coverage=coverage
        )
    return RegionAugment(
        foreground=[],
        background=[],
        fallback=lightly_ops(output_size, blur),
        geometric=geometric,
        region=False,
    )


@RECIPES.register("lightly_baseline")
def lightly_baseline(
    output_size: int | tuple[int, int] = 224,
    crop_scale: tuple[float, float] = (0.08, 1.0),
    rotation_p: float = 0.5,
    blur: bool | None = None,
    region: bool = False,
    coverage: tuple[float, float] = RELIABLE_COVERAGE,
) -> RegionAugment:
    """lightly's SimCLR baseline: crop, flip, rotation, colour, blur (the study's baseline).

    Random resized crop (``min_scale`` 0.08) + horizontal flip (p=0.5), a 90 degree turn
    with probability ``rotation_p``, then :func:`lightly_ops`. lightly's
    ``SimCLRTransform`` has ``rr_prob=0`` by default; the methods × transform-sets
    study's baseline rotates, so this recipe turns it on at 0.5 with lightly's
    ``rr_degrees=None`` meaning (a fixed 90 degree turn, lightly's ``RandomRotate``).
    ``rotation_p=0`` gives lightly's default.

    - [0]: lightly, ``SimCLRTransform`` defaults,
      https://docs.lightly.ai/self-supervised-learning/lightly.transforms.html
    - [1]: The methods × transform-sets benchmark report: 10 methods x 5 transform sets
    """
    geo = [
        RandomResizedCropFlip(output_size, scale=crop_scale, flip_p=0.5),
        RandomRotation(turns=(1,), p=rotation_p),
    ]
    return _transform_set(geo, output_size, blur, region, coverage)


@RECIPES.register("orthogonality")
def orthogonality(
    output_size: int | tuple[int, int] = 224,
    crop_scale: tuple[float, float] = (0.08, 1.0),
    flip_p: float = 0.5,
    vertical_flip_p: float = 0.5,
    blur: bool | None = None,
    region: bool = False,
    coverage: tuple[float, float] = RELIABLE_COVERAGE,
) -> RegionAugment:
    """The study's "orthogonality" set: horizontal and vertical flips.

    Random resized crop + horizontal flip (``flip_p``) + vertical flip
    (``vertical_flip_p``), each drawn per sample, composed into one resampling; then
    :func:`lightly_ops`.

    - [0]: The methods × transform-sets benchmark report, "the transformation based on the
      horizontal and vertical flip (orthogonality)"
    - [1]: lightly, ``SimCLRTransform(vf_prob=0.5, hf_prob=0.5)``
    """
    geo = [
        RandomResizedCropFlip(output_size, scale=crop_scale, flip_p=flip_p),
        RandomVerticalFlip(p=vertical_flip_p),
    ]
    return _transform_set(geo, output_size, blur, region, coverage)


@RECIPES.register("lorot")
def lorot(
    output_size: int | tuple[int, int] = 224,
    crop_scale: tuple[float, float] = (0.08, 1.0),
    size: tuple[float, float] = (0.25, 0.5),
    turns: Sequence[int] = (1, 2, 3),
    p: float = 1.0,
    blur: bool | None = None,
    region: bool = False,
    coverage: tuple[float, float] = RELIABLE_COVERAGE,
) -> RegionAugment:
    """LoRot-I: one random square of the view rotated by k x 90 degrees, k per sample.

    Random resized crop + flip, then :class:`~segaug.augment.geometry.LocalRotation`: a
    square of a quarter to a half of the view's side (``size``) at a random position,
    rotated by ``k`` quarter turns drawn from ``turns``, with probability ``p``; then
    :func:`lightly_ops`. The rotation is a point map inside the square, so it joins the
    crop's single resampling and the mask follows the pixels. LoRot-I uses ``k`` in 0-3 as
    a self-supervised label; as an augmentation the default draws only real turns.

    - [0]: Moon, Kim, Ahn, Lee, Tailoring Self-Supervision for Supervised Learning
      (LoRot-I), ECCV 2022, https://arxiv.org/abs/2207.10023
    - [1]: The methods × transform-sets benchmark report
    """
    geo = [
        RandomResizedCropFlip(output_size, scale=crop_scale),
        LocalRotation(size=size, turns=turns, p=p),
    ]
    return _transform_set(geo, output_size, blur, region, coverage)


@RECIPES.register("dcl")
def dcl(
    output_size: int | tuple[int, int] = 224,
    crop_scale: tuple[float, float] = (0.08, 1.0),
    grid: int = 7,
    k: int = 2,
    p: float = 1.0,
    blur: bool | None = None,
    region: bool = False,
    coverage: tuple[float, float] = RELIABLE_COVERAGE,
) -> RegionAugment:
    """DCL's region confusion: the view's cells shuffled on an N x N grid, a bounded distance.

    Random resized crop + flip, then :class:`~segaug.augment.geometry.RegionShuffle`:
    ``grid`` x ``grid`` cells (DCL: 7), reordered per row and then per column by keys
    jittered by up to ``k`` cells (DCL: 2), so a cell moves by less than ``2k`` cells
    along each axis; with probability ``p``. Then :func:`lightly_ops`. The shuffle is a
    translation per cell (a point map), so it joins the crop's single resampling and the
    mask moves with the pixels. The benchmark report attributes "DCL" to Maaz et al.
    2021; the region confusion it describes is Chen et al.'s.

    - [0]: Chen, Bai, Zhang, Mei, Destruction and Construction Learning for Fine-grained
      Image Recognition, CVPR 2019 (region confusion mechanism, N=7, k=2)
    - [1]: The methods × transform-sets benchmark report
    """
    geo = [
        RandomResizedCropFlip(output_size, scale=crop_scale),
        RegionShuffle(grid=grid, k=k, p=p),
    ]
    return _transform_set(geo, output_size, blur, region, coverage)


def build(name: str, **kwargs: Any) -> RegionAugment:
    """Build the recipe registered as ``name`` (see :func:`names`)."""
    return RECIPES.create(name, **kwargs)


def names() -> list[str]:
    """Names of the registered recipes."""
    return RECIPES.names()
