"""Mask pooling: region ids of a view, sampled regions, and features averaged over each.

DetCon (Hénaff et al. 2021) pools the backbone's last feature map within each region
of a segmentation and contrasts the pooled vectors across views. The regions of a view
come with the view: the masks of :class:`segaug.AugmentedBatch`, after the same
geometry as the pixels.

* :func:`region_ids` turns what the trainer passes as a view's masks into region ids:
  binary masks give two regions (0 background, 1 foreground); label maps
  (``AugmentedBatch.regions``) keep their ids; ``-1`` marks pixels outside the image,
  which belong to no region.
* :func:`region_cell_weights` measures the area of each region in each cell of the
  feature grid (the region masks downsampled by area).
* :func:`sample_regions` draws a fixed number of regions per image, uniformly among
  the regions present, with replacement (the reference implementation's sampling).
* :func:`mask_pool` averages the features of each sampled region, weighted by area.

Example:
    >>> import torch
    >>> masks = torch.zeros(2, 1, 8, 8); masks[:, :, :4] = 1.0  # top half foreground
    >>> ids = region_ids(masks)
    >>> weights = region_cell_weights(ids, (2, 2))
    >>> tuple(weights.shape), weights[0, :, 0].tolist()  # (n, regions, cells); cell 0
    ((2, 2, 4), [0.0, 1.0])
    >>> picked = sample_regions(weights, 4, torch.Generator().manual_seed(0))
    >>> feats = torch.randn(2, 3, 2, 2)
    >>> mask_pool(feats, weights, picked).shape
    torch.Size([2, 4, 3])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["mask_pool", "region_cell_weights", "region_ids", "sample_regions"]

MAX_REGIONS = 256
"""Region ids are ``0..255`` (label maps are uint8)."""


def region_ids(masks: Tensor) -> Tensor:
    """Region ids ``(n, H, W)`` int64 of a view's masks; ``-1`` where there is no region.

    Args:
        masks: ``(n, 1, H, W)``: a float binary mask in ``[0, 1]`` (two regions: 0 where
            ``< 0.5``, 1 elsewhere), or integer region ids (``-1`` outside the image).

    Raises:
        ValueError: On another shape, or integer ids outside ``-1..255``.

    Example:
        >>> region_ids(torch.tensor([[[[0.0, 0.9]]]])).tolist()
        [[[0, 1]]]
    """
    if masks.ndim != 4 or masks.shape[1] != 1:
        raise ValueError(f"masks must have shape (n, 1, H, W), got {tuple(masks.shape)}")
    if masks.is_floating_point():
        return (masks[:, 0] >= 0.5).long()
    ids = masks[:, 0].long()
    if ids.numel() and (int(ids.min()) < -1 or int(ids.max()) >= MAX_REGIONS):
        raise ValueError(
            f"region ids must lie in -1..{MAX_REGIONS - 1}, got "
            f"[{int(ids.min())}, {int(ids.max())}]"
        )
    return ids


def region_cell_weights(ids: Tensor, grid: tuple[int, int]) -> Tensor:
    """Area of every region id in every cell of a ``grid`` over the image.

    Each cell's weights are the fractions of its pixels that belong to each region
    (what average-pooling each region's binary mask to the grid gives, as
    ``F.adaptive_avg_pool2d`` does); pixels with id ``-1`` count for no region.

    Args:
        ids: ``(n, H, W)`` int64 region ids from :func:`region_ids`.
        grid: ``(h, w)``, the feature map's spatial size.

    Returns:
        ``(n, K, h * w)`` float32, ``K = max id + 1`` (at least 1).

    Shape:
        - ids: :math:`(n, H, W)`; output: :math:`(n, K, h w)`.
    """
    n, height, width = ids.shape
    h, w = grid
    k = max(int(ids.max()) + 1, 1) if ids.numel() else 1
    valid = ids >= 0
    if height % h == 0 and width % w == 0:  # a partition into equal cells: one scatter
        ch, cw = height // h, width // w
        cell = (torch.arange(height, device=ids.device) // ch)[:, None] * w + (
            torch.arange(width, device=ids.device) // cw
        )[None, :]
        index = (ids.clamp_min(0) * (h * w) + cell).reshape(n, -1)
        out = torch.zeros(n, k * h * w, device=ids.device)
        out.scatter_add_(1, index, valid.reshape(n, -1).float())
        return out.view(n, k, h * w) / float(ch * cw)
    one_hot = F.one_hot(ids.clamp_min(0), k).permute(0, 3, 1, 2).float()
    one_hot = one_hot * valid[:, None].float()
    return F.adaptive_avg_pool2d(one_hot, (h, w)).flatten(2)


def sample_regions(
    weights: Tensor, num_samples: int, generator: torch.Generator | None = None
) -> Tensor:
    """Draw ``num_samples`` region ids per image, uniformly among those present.

    A region is present when it covers some of the grid (weight above 1e-3 of a cell).
    Draws are with replacement, as in DetCon: with two regions (background and
    foreground), 16 draws repeat each one about 8 times. An image with no region at
    all (not produced by the crops) draws id 0.

    Args:
        weights: ``(n, K, cells)`` from :func:`region_cell_weights`.
        num_samples: Draws per image (>= 1).
        generator: Random generator (default: torch's global one).

    Returns:
        ``(n, num_samples)`` int64 ids.
    """
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    present = (weights.sum(-1) > 1e-3).float()
    present[present.sum(1) == 0, 0] = 1.0
    return torch.multinomial(present, num_samples, replacement=True, generator=generator)


def mask_pool(features: Tensor, weights: Tensor, picked: Tensor) -> Tensor:
    """Area-weighted mean of ``features`` over each picked region.

    Args:
        features: ``(n, C, h, w)`` feature map.
        weights: ``(n, K, h * w)`` from :func:`region_cell_weights` on the same grid.
        picked: ``(n, M)`` int64 region ids from :func:`sample_regions`.

    Returns:
        ``(n, M, C)``; a region without area pools to zeros.

    Shape:
        - features: :math:`(n, C, h, w)`; weights: :math:`(n, K, hw)`; picked:
          :math:`(n, M)`; output: :math:`(n, M, C)`.
    """
    n, c, h, w = features.shape
    if weights.shape[0] != n or weights.shape[2] != h * w:
        raise ValueError(
            f"weights {tuple(weights.shape)} do not match features {tuple(features.shape)}"
        )
    sel = torch.gather(weights, 1, picked[:, :, None].expand(-1, -1, h * w))  # (n, M, hw)
    sel = sel.to(features.dtype)
    total = sel.sum(-1, keepdim=True).clamp_min(1e-6)
    return torch.einsum("nmc,ndc->nmd", sel, features.flatten(2)) / total
