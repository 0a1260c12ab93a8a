"""Tiny folders of RGBA cutouts and two-tone photos for the ObjectsOnPhotos tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from segaug.data.photos import TRAIN_REGION_SHARE, _object_side

CANVAS = 112  # source cutouts are drawn on this square canvas
SOFT = 96  # the soft disc's alpha > 0 box: at image size SOFT the store is the source itself
PHOTO_W, PHOTO_H = 200, 120
CUT = round(TRAIN_REGION_SHARE * PHOTO_W)
LEFT_COLOUR, RIGHT_COLOUR = (250, 10, 10), (10, 10, 250)


def stems(side: str, n: int) -> list[str]:
    """The first ``n`` names ``item<j>`` whose objects land on ``side``."""
    out, j = [], 0
    while len(out) < n:
        if _object_side(f"item{j}") == side:
            out.append(f"item{j}")
        j += 1
    return out


def soft_disc(colour: tuple[int, int, int]) -> np.ndarray:
    """A disc of one colour whose alpha falls off over ~5 px; alpha > 0 spans SOFT px."""
    centre = (SOFT - 1) / 2
    yy, xx = np.mgrid[:SOFT, :SOFT]
    d = np.hypot(yy - centre, xx - centre)
    alpha = np.clip((SOFT / 2 - 3 - d) * 48 + 128, 0, 255).astype(np.uint8)
    rgba = np.zeros((CANVAS, CANVAS, 4), np.uint8)
    pad = (CANVAS - SOFT) // 2
    rgba[pad : pad + SOFT, pad + 4 : pad + 4 + SOFT] = np.dstack(
        [np.broadcast_to(np.uint8(c), (SOFT, SOFT)) for c in colour] + [alpha]
    )
    return rgba


def colour_of(c: int, k: int) -> tuple[int, int, int]:
    """A colour per (class, object), far from the photos' colours and from gray."""
    return (40 + 50 * c, 60 + 9 * k, 200 - 40 * c)


def save_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def make_folders(
    root: Path, num_classes: int = 2, num_photos: int = 3, train: int = 4, test: int = 3
) -> tuple[Path, Path]:
    """``root/objects/<class>/<stem>.png`` soft discs, ``root/photos/p<k>.png`` two-tone."""
    objects, photos = root / "objects", root / "photos"
    for c in range(num_classes):
        for k, stem in enumerate(stems("train", train) + stems("test", test)):
            save_png(objects / f"class{c}" / f"{stem}.png", soft_disc(colour_of(c, k)))
    for k in range(num_photos):
        photo = np.empty((PHOTO_H, PHOTO_W, 3), np.uint8)
        photo[:, :CUT] = LEFT_COLOUR
        photo[:, CUT:] = RIGHT_COLOUR
        photo[:, :, 1] = 10 + 30 * k  # one green level per family
        save_png(photos / f"p{k}.png", photo)
    return objects, photos
