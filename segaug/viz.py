"""Pictures of what RegionAugment does: pair grids and mask overlays.

Example:
    >>> import torch
    >>> from segaug import recipes
    >>> from segaug.viz import pair_grid
    >>> images = torch.rand(2, 3, 48, 48)
    >>> masks = torch.zeros(2, 1, 48, 48); masks[:, :, 12:36, 12:36] = 1
    >>> grid = pair_grid(images, masks, recipes.thesis(output_size=32))
    >>> grid.shape  # 2 rows x 4 panels of 48x48 with 4-pixel gaps, RGB
    (100, 204, 3)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from segaug.augment.region import RegionAugment, prepare_inputs

__all__ = ["overlay_mask", "pair_grid", "save_pair_grid"]

_RED = torch.tensor([1.0, 0.15, 0.1]).view(3, 1, 1)
_ORANGE = torch.tensor([1.0, 0.55, 0.0]).view(3, 1, 1)


def overlay_mask(image: Tensor, mask: Tensor, alpha: float = 0.45) -> Tensor:
    """Tint the foreground red and draw its outline.

    Shape:
        - image: :math:`(3, H, W)` float in [0, 1].
        - mask: :math:`(1, H, W)` float in [0, 1].
        - Output: :math:`(3, H, W)`.
    """
    m = mask.float().clamp(0, 1)
    tinted = image * (1 - alpha * m) + _RED * (alpha * m)
    hard = (m > 0.5).float()[None]
    edge = (F.max_pool2d(hard, 3, 1, 1) - (-F.max_pool2d(-hard, 3, 1, 1)))[0]
    return torch.where(edge > 0, _RED.expand_as(image), tinted)


def _panel(t: Tensor, size: int) -> Tensor:
    if t.shape[-1] != size or t.shape[-2] != size:
        t = F.interpolate(t[None], size=(size, size), mode="bilinear", align_corners=False)[0]
    return t.clamp(0, 1)


def _frame(t: Tensor, color: Tensor, width: int = 2) -> Tensor:
    t = t.clone()
    t[:, :width, :] = color
    t[:, -width:, :] = color
    t[:, :, :width] = color
    t[:, :, -width:] = color
    return t


def pair_grid(
    images: Tensor,
    masks: Tensor,
    augment: RegionAugment,
    panel: int | None = None,
    gap: int = 4,
) -> np.ndarray:
    """A grid, one row per image: original | mask overlay | view 1 | view 2.

    Views of samples that took the fallback pipeline get an orange frame.

    Args:
        images: Images as RegionAugment takes them.
        masks: Masks as RegionAugment takes them.
        augment: The augmentation to draw the two views from.
        panel: Side of each panel in pixels (default: the input side).
        gap: White space between panels.

    Returns:
        (rows * (panel + gap) - gap, 4 * (panel + gap) - gap, 3) uint8 array.

    Shape:
        - images: :math:`(B, 3, H, W)`.
        - masks: :math:`(B, 1, H, W)` or :math:`(B, H, W)`.
    """
    x, m, _ = prepare_inputs(images, masks)
    x, m = x.detach().float().cpu(), m.detach().float().cpu()
    v1, v2 = augment.pair(x, m)
    side = panel or x.shape[-1]
    rows = []
    for i in range(x.shape[0]):
        fb = bool(v1.fallback[i])
        views = [_panel(v.images[i].float().cpu(), side) for v in (v1, v2)]
        if fb:
            views = [_frame(v, _ORANGE) for v in views]
        cells = [_panel(x[i], side), _panel(overlay_mask(x[i], m[i]), side), *views]
        rows.append(cells)
    h = len(rows) * (side + gap) - gap
    w = 4 * (side + gap) - gap
    canvas = torch.ones(3, h, w)
    for r, cells in enumerate(rows):
        for c, cell in enumerate(cells):
            y0, x0 = r * (side + gap), c * (side + gap)
            canvas[:, y0 : y0 + side, x0 : x0 + side] = cell
    return (canvas.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def save_pair_grid(
    path: str | Path,
    images: Tensor,
    masks: Tensor,
    augment: RegionAugment,
    panel: int = 128,
    title: str | None = None,
) -> Path:
    """Write :func:`pair_grid` as a labelled PNG (column titles, coverage per row).

    Returns:
        The path written.
    """
    from segaug.env import pyplot

    plt = pyplot()
    x, m, _ = prepare_inputs(images, masks)
    grid = pair_grid(x, m, augment, panel=panel)
    coverage = m.float().mean(dim=(1, 2, 3)).cpu()
    fallback = augment.falls_back(coverage)
    n = x.shape[0]
    fig_w = 4 * panel / 60 + 1.5
    fig_h = n * panel / 60 + 0.8
    fig, ax = plt.subplots(figsize=(fig_w, fig_h), dpi=90)
    ax.imshow(grid)
    ax.set_xticks([(panel + 4) * c + panel / 2 for c in range(4)])
    ax.set_xticklabels(["original", "mask overlay", "view 1", "view 2"])
    ax.xaxis.tick_top()
    ax.set_yticks([(panel + 4) * r + panel / 2 for r in range(n)])
    ax.set_yticklabels(
        [
            f"cov {float(c):.0%}" + ("\nfallback" if bool(f) else "")
            for c, f in zip(coverage, fallback, strict=True)
        ]
    )
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title:
        ax.set_title(title, pad=24)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
