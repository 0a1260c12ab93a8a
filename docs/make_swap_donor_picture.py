"""Redraw ``docs/images/swap_donor.png``: what a swapped view shows of the other image.

Run: ``python docs/make_swap_donor_picture.py`` (CPU, a few seconds; needs Debian's
``openclipart-png`` and ``mate-backgrounds``, the default folders of ``ObjectsOnPhotos``).
Eight training images of ``objects_on_photos`` at 64 px, then one view of each with
``independent_swap(p=1.0)``, the same random draws for both rows: the other image used
whole (``swap_donor="image"``), and with its own object filled in from its background
(``swap_donor="background"``).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from segaug import recipes  # noqa: E402
from segaug.data.photos import ObjectsOnPhotos  # noqa: E402


def main() -> None:
    ds = ObjectsOnPhotos("train", size=64, num_samples=8, bias=0.7, seed=0)
    images, masks, _ = ds.get_batch(range(8))
    x = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    m = torch.from_numpy(masks)[:, None]
    rows = {"images": x.float() / 255}
    for donor in ("image", "background"):
        torch.manual_seed(0)
        aug = recipes.independent_swap(output_size=64, p=1.0, crop_scale=(0.2, 1.0),
                                       swap_donor=donor)  # fmt: skip
        rows[f'swap_donor=\n"{donor}"'] = aug(x, m).images
    fig, axes = plt.subplots(3, 8, figsize=(9, 3.4), dpi=100)
    for r, (title, batch) in enumerate(rows.items()):
        for c in range(8):
            ax = axes[r, c]
            ax.imshow(batch[c].permute(1, 2, 0).numpy(), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(title, fontsize=8, rotation=0, ha="right", va="center")
    fig.suptitle("independent_swap(p=1.0): each view on another image's background", fontsize=9)
    fig.tight_layout()
    path = Path(__file__).parent / "images" / "swap_donor.png"
    fig.savefig(path)
    # A 256-colour palette keeps the PNG small.
    Image.open(path).convert("RGB").quantize(256).save(path, optimize=True)
    print(path, path.stat().st_size // 1024, "KiB")


if __name__ == "__main__":
    main()
