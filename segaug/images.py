"""The one check of an image batch: :class:`~segaug.RegionAugment` and every segmenter use it.

A batch is a tensor ``(B, 3, H, W)``: ``uint8`` in ``[0, 255]`` (divided by 255) or
floating point in ``[0, 1]``. NaN and inf, floats outside ``[0, 1]``, other dtypes and
other shapes are refused with one ``ValueError`` that names the argument, says what it
got and what it expects.

Example:
    >>> import torch
    >>> x = torch.tensor([0, 51, 255], dtype=torch.uint8).view(1, 3, 1, 1)
    >>> float_images(x).flatten().tolist()
    [0.0, 0.20000000298023224, 1.0]
    >>> float_images(torch.full((1, 3, 2, 2), float("nan")))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: images contains NaN or inf (12 NaN, 0 inf of 12 values); expected finite ...
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["float_images", "plain_tensor"]


def plain_tensor(t: object, name: str) -> Tensor:
    """``t`` as a plain ``torch.Tensor`` (``torchvision.tv_tensors`` subclasses unwrapped).

    Raises:
        ValueError: If ``t`` is not a tensor.
    """
    if not isinstance(t, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    return t.as_subclass(Tensor) if type(t) is not Tensor else t


def float_images(
    images: object, name: str = "images", *, min_side: int = 1, tolerance: float = 0.0
) -> Tensor:
    """Check a batch of RGB images and return it as floating point in ``[0, 1]``.

    Args:
        images: ``(B, 3, H, W)``, ``uint8`` in ``[0, 255]`` or floating point in ``[0, 1]``
            (a ``torchvision.tv_tensors.Image`` too).
        name: The argument's name in error messages.
        min_side: The smallest ``H`` and ``W`` accepted.
        tolerance: How far float values may lie outside ``[0, 1]`` (rounding of a resize);
            they are passed on as they are.

    Returns:
        Float images on the input's device: ``uint8`` as ``float32`` divided by 255 (the
        same values as ``images.float() / 255``), floating point input unchanged.

    Raises:
        ValueError: Not a tensor, another shape, an empty batch or a side under
            ``min_side``, NaN or inf, float values outside ``[0, 1]``, or a dtype other
            than ``uint8`` and floating point; the message names ``name``, what it got and
            what it expects.
    """
    x = plain_tensor(images, name)
    if x.ndim != 4 or x.shape[1] != 3:
        hint = (
            f" (one image: add the batch dimension, {name}[None])"
            if x.ndim == 3 and x.shape[0] == 3
            else ""
        )
        raise ValueError(f"{name} must have shape (B, 3, H, W), got {tuple(x.shape)}{hint}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch (B=0); expected at least one sample")
    if x.shape[2] < min_side or x.shape[3] < min_side:
        raise ValueError(
            f"{name} must be at least {min_side}x{min_side} pixels, got {tuple(x.shape[2:])}"
        )
    if x.dtype == torch.uint8:
        return x.to(torch.float32).div_(255.0)
    if not x.is_floating_point():
        raise ValueError(
            f"{name} must be uint8 or floating point, got dtype {x.dtype}; expected uint8 in "
            "[0, 255] or float in [0, 1]"
        )
    lo, hi = (float(v) for v in torch.aminmax(x))
    if not (abs(lo) < float("inf") and abs(hi) < float("inf")):  # NaN fails both
        nan, inf = int(torch.isnan(x).sum()), int(torch.isinf(x).sum())
        raise ValueError(
            f"{name} contains NaN or inf ({nan} NaN, {inf} inf of {x.numel()} values); "
            "expected finite float values in [0, 1] or uint8 in [0, 255]"
        )
    if lo < -tolerance or hi > 1.0 + tolerance:
        raise ValueError(
            f"float {name} must lie in [0, 1], got values in [{lo:.4g}, {hi:.4g}] "
            "(pass uint8 images or divide by 255)"
        )
    return x
