"""The pair grid has the documented layout and the PNG is valid."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from segaug import recipes
from segaug.viz import overlay_mask, pair_grid, save_pair_grid


def test_pair_grid_layout_and_content(photos, center_masks):
    aug = recipes.thesis(output_size=32)
    grid = pair_grid(photos, center_masks, aug, panel=64, gap=4)
    assert grid.shape == (4 * 68 - 4, 4 * 68 - 4, 3) and grid.dtype == np.uint8
    # first column is the original photo, untouched
    first = torch.from_numpy(grid[:64, :64]).permute(2, 0, 1)
    assert (first.int() - photos[0].int()).abs().max() <= 1
    # gaps are white
    assert (grid[64:68] == 255).all() and (grid[:, 64:68] == 255).all()


def test_fallback_views_are_framed(photos):
    aug = recipes.thesis(output_size=32)
    masks = torch.zeros(4, 1, 64, 64)  # all fall back
    grid = pair_grid(photos, masks, aug, panel=64, gap=4)
    corner = grid[0, 2 * 68]  # top-left pixel of view 1, first row
    assert tuple(corner) == (255, 140, 0)


def test_overlay_marks_the_outline():
    img = torch.zeros(3, 16, 16)
    m = torch.zeros(1, 16, 16)
    m[:, 4:12, 4:12] = 1
    out = overlay_mask(img, m)
    assert out[0, 4, 8] == 1.0 and out[0, 8, 8] < 1.0 and out[0, 0, 0] == 0.0


def test_save_pair_grid_writes_a_png(tmp_path, photos, center_masks):
    path = save_pair_grid(
        tmp_path / "grid.png", photos, center_masks, recipes.thesis(output_size=32), panel=48
    )
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size[0] > 4 * 48 and im.size[1] > 4 * 48
