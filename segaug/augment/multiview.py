"""Per-sample adapter: use RegionAugment inside DataLoader workers.

Batched augmentation on the training device is the fast path. Some pipelines (lightly's
``MultiViewTransform``, torchvision datasets with a ``transform=``) want a per-sample
callable instead; :class:`RegionMultiViewTransform` is that callable.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from segaug.augment.region import RegionAugment

__all__ = ["RegionMultiViewTransform"]


def _image_tensor(image: Any) -> Tensor:
    if isinstance(image, Image.Image):
        image = np.array(image.convert("RGB"))
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"image array must be (H, W, 3), got shape {image.shape}")
        return torch.from_numpy(np.array(image, copy=True)).permute(2, 0, 1)
    if isinstance(image, Tensor):
        t = image.as_subclass(Tensor)
        if t.ndim != 3 or t.shape[0] != 3:
            raise ValueError(f"image tensor must be (3, H, W), got shape {tuple(t.shape)}")
        return t
    raise ValueError(
        f"image must be a PIL image, numpy array or tensor, got {type(image).__name__}"
    )


def _mask_tensor(mask: Any) -> Tensor:
    if isinstance(mask, Image.Image):
        mask = np.array(mask.convert("L"))
    if isinstance(mask, np.ndarray):
        mask = torch.from_numpy(np.array(mask, copy=True))
    if not isinstance(mask, Tensor):
        raise ValueError(
            f"mask must be a PIL image, numpy array or tensor, got {type(mask).__name__}"
        )
    t = mask.as_subclass(Tensor)
    if t.ndim == 3 and t.shape[0] == 1:
        t = t[0]
    if t.ndim != 2:
        raise ValueError(f"mask must be (H, W) or (1, H, W), got shape {tuple(t.shape)}")
    return t


class RegionMultiViewTransform:
    """Per-sample callable ``(image, mask) -> [view_1, ..., view_n]``.

    Drop-in where lightly's ``MultiViewTransform`` or a torchvision transform is
    expected, when the dataset yields the mask with the image. Each view is a
    (3, h, w) float tensor in [0, 1].

    Args:
        augment: The RegionAugment to draw views from.
        n_views: Number of views per sample.

    Shape:
        - image: PIL RGB, (H, W, 3) uint8 array, or (3, H, W) tensor.
        - mask: PIL, (H, W) array/tensor, (1, H, W) tensor or ``tv_tensors.Mask``.
        - Output: list of ``n_views`` tensors :math:`(3, h, w)`.

    Example:
        >>> from segaug import recipes
        >>> t = RegionMultiViewTransform(recipes.thesis(output_size=16))
        >>> img = np.zeros((24, 24, 3), np.uint8)
        >>> mask = np.zeros((24, 24), np.uint8); mask[6:18, 6:18] = 1
        >>> [v.shape for v in t(img, mask)]
        [torch.Size([3, 16, 16]), torch.Size([3, 16, 16])]
    """

    def __init__(self, augment: RegionAugment, n_views: int = 2) -> None:
        if not isinstance(augment, RegionAugment):
            raise ValueError(f"augment must be a RegionAugment, got {type(augment).__name__}")
        if not isinstance(n_views, int) or n_views < 1:
            raise ValueError(f"n_views must be a positive int, got {n_views!r}")
        self.augment = augment
        self.n_views = n_views

    def __call__(self, image: Any, mask: Any = None) -> list[Tensor]:
        if mask is None and isinstance(image, (tuple, list)) and len(image) == 2:
            image, mask = image
        if mask is None:
            raise ValueError(
                "mask is required: call transform(image, mask) or transform((image, mask))"
            )
        img = _image_tensor(image)[None]
        m = _mask_tensor(mask)[None, None]
        with torch.no_grad():
            return [self.augment(img, m).images[0] for _ in range(self.n_views)]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_views={self.n_views}, augment={self.augment!r})"
