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
    ['background_fill', 'background_swap', 'independent', 'independent_swap',
     'object_aware', 'simclr', 'thesis']
"""

from __future__ import annotations

from typing import Any

from segaug.augment.geometry import RandomResizedCropFlip
from segaug.augment.ops import (
    FILL_MODES,
    ColorJitter,
    Fill,
    GaussianBlur,
    IntensityOp,
    RandomGrayscale,
)
from segaug.augment.region import RegionAugment
from segaug.registry import Registry

__all__ = [
    "simclr",
    "thesis",
    "object_aware",
    "background_swap",
    "independent",
    "independent_swap",
    "background_fill",
    "simclr_ops",
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
    coverage: tuple[float, float] = (0.05, 0.90),
    feather: float = 0.0,
) -> RegionAugment:
    """The SegAug-SimCLR recipe: strong colour jitter on the object, blur and grayscale
    on the background, SimCLR fallback for unreliable masks.

    Foreground ColorJitter(0.8, 0.8, 0.8, 0.2, p=0.8); background GaussianBlur p=0.85
    and grayscale p=0.3; crop + flip jointly; fallback :func:`simclr_ops` outside
    ``coverage``. ``blur`` only affects the fallback (the background blur is the recipe).

    - [0]: SegAug-SimCLR thesis (``shared/seeds/003``), sections 4.2 and 5.2.1
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
    coverage: tuple[float, float] = (0.05, 0.90),
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
    coverage: tuple[float, float] = (0.05, 0.90),
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
@RECIPES.register("independent")
def independent(
    output_size: int | tuple[int, int] = 224,
    crop_scale: tuple[float, float] = (0.08, 1.0),
    blur: bool | None = None,
    coverage: tuple[float, float] = (0.05, 0.90),
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
        foreground=simclr_ops(output_size, blur),
        background=simclr_ops(output_size, blur),
        fallback=simclr_ops(output_size, blur),
        geometric=RandomResizedCropFlip(output_size, scale=crop_scale),
        coverage=coverage,
    )


@RECIPES.register("independent_swap")
def independent_swap(
    output_size: int | tuple[int, int] = 224,
    crop_scale: tuple[float, float] = (0.08, 1.0),
    p: float = 0.2,
    blur: bool | None = None,
    coverage: tuple[float, float] = (0.05, 0.90),
) -> RegionAugment:
    """:func:`independent`, plus an in-batch background swap with probability ``p``.

    Each view draws its own swap: with probability ``p`` the object is pasted on the
    (independently augmented) crop of another image of the batch, so the two views of a
    pair often show different backgrounds. Within a view, the donor's own image then
    shares the pasted image's background crop (before each row's own photometric draws):
    an in-batch negative with the same background, as in BG_Swaps. The default
    ``p = 0.2`` is within the 0.1-0.3 Ryali et al. found best on ImageNet; sweep it
    (``segaug-compare --sweep independent_swap.p=0.2,0.5,0.8``).

    - [0]: Ryali, Schwab, Morcos, Characterizing and Improving the Robustness of
      Self-Supervised Learning through Background Augmentations, 2021,
      https://arxiv.org/abs/2103.12719 (BG_Random, BG_Swaps)
    """
    return RegionAugment(
        foreground=simclr_ops(output_size, blur),
        background=simclr_ops(output_size, blur),
        fallback=simclr_ops(output_size, blur),
        geometric=RandomResizedCropFlip(output_size, scale=crop_scale),
        coverage=coverage,
        background_swap=p,
    )


@RECIPES.register("background_fill")
def background_fill(
    output_size: int | tuple[int, int] = 224,
    crop_scale: tuple[float, float] = (0.08, 1.0),
    p: float = 0.8,
    modes: tuple[str, ...] = FILL_MODES,
    blur: bool | None = None,
    coverage: tuple[float, float] = (0.05, 0.90),
) -> RegionAugment:
    """:func:`independent`, with the background replaced with probability ``p``.

    After the independent photometric ops, each view's background is replaced, with
    probability ``p``, by a flat random colour, uniform noise or a smooth random texture
    (:class:`~segaug.augment.ops.Fill`, mode drawn per view among ``modes``). The object
    keeps its pixels. Views of one image then rarely share a background, and the
    background carries no instance identity. The default ``p = 0.8`` is the best of our
    sweep on the offline data (README, "The main job"); Ryali et al. found 0.1-0.3 best
    on ImageNet, so sweep it on your data.

    - [0]: Ryali, Schwab, Morcos, 2021, https://arxiv.org/abs/2103.12719 (BG_RM,
      BG_Random)
    - [1]: Zhao et al., Distilling Localization for Self-Supervised Representation
      Learning (DiLo), AAAI 2021, https://arxiv.org/abs/2004.06638 (texture backgrounds)
    """
    return RegionAugment(
        foreground=simclr_ops(output_size, blur),
        background=[*simclr_ops(output_size, blur), Fill(modes=modes, p=p)],
        fallback=simclr_ops(output_size, blur),
        geometric=RandomResizedCropFlip(output_size, scale=crop_scale),
        coverage=coverage,
    )


def build(name: str, **kwargs: Any) -> RegionAugment:
    """Build the recipe registered as ``name`` (see :func:`names`)."""
    return RECIPES.create(name, **kwargs)


def names() -> list[str]:
    """Names of the registered recipes."""
    return RECIPES.names()
