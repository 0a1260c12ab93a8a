"""Redraw the pair grids of the transform sets in ``docs/images/``.

The transform sets are those of the methods × transform-sets study (``lightly_baseline``,
``orthogonality``, ``lorot``, ``dcl`` in :mod:`segaug.augment.recipes`).

Run: ``python docs/make_transform_set_pictures.py`` (CPU, a few seconds). Three
scikit-image photos at 128 px with a centred elliptic mask; views at 128 px (shown at
112 px) with
``crop_scale=(0.5, 1)`` so the geometric op of each set stays visible.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from skimage import data

from segaug import recipes
from segaug.viz import save_pair_grid

SETS = {
    "lightly_baseline": "lightly's SimCLR baseline (crop, flip, 90° turn, colour, blur)",
    "orthogonality": "orthogonality (horizontal + vertical flips)",
    "lorot": "LoRot-I (one square turned by k x 90°)",
    "dcl": "DCL region confusion (7 x 7 cells, range 2)",
}


def photos(size: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    out = []
    for p in (data.astronaut(), data.chelsea(), data.coffee()):
        t = torch.from_numpy(np.ascontiguousarray(p)).permute(2, 0, 1)[None].float()
        t = F.interpolate(t, size=(size, size), mode="bilinear", antialias=True)
        out.append(t.round().clamp(0, 255).to(torch.uint8))
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    c = (size - 1) / 2
    ellipse = ((xx - c) / (0.32 * size)) ** 2 + ((yy - c) / (0.4 * size)) ** 2 <= 1
    masks = ellipse[None, None].expand(3, 1, size, size).to(torch.uint8)
    return torch.cat(out), masks


def main() -> None:
    images, masks = photos()
    folder = Path(__file__).parent / "images"
    for i, (name, title) in enumerate(SETS.items()):
        torch.manual_seed(i)
        aug = recipes.build(name, output_size=128, crop_scale=(0.5, 1.0))
        path = save_pair_grid(
            folder / f"pairs_{name}.png", images, masks, aug, panel=112, title=title
        )
        # A 128-colour palette keeps each PNG well under 150 KB.
        Image.open(path).convert("RGB").quantize(128).save(path, optimize=True)
        print(path, path.stat().st_size // 1024, "KiB")


if __name__ == "__main__":
    main()
