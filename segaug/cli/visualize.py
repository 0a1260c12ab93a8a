"""``segaug-visualize``: a PNG grid of what an augmentation recipe does to your data.

Each row shows one image: original | mask overlay with its coverage | view 1 | view 2.
Views of samples whose mask fell back to the global pipeline are framed in orange.

Examples::

    segaug-visualize --dataset synthetic --masks gt --out pairs.png
    segaug-visualize --dataset cifar10 --root data --masks masks/cifar10 --recipe object_aware
    segaug-visualize --images photos/ --segmenter classical --size 224 -n 6
    segaug-visualize --images photos/ --segmenter deeplabv3 --checkpoint deeplab.pth

The command is a thin layer over :func:`visualize`, which tests and notebooks call.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from PIL import Image

from segaug import recipes
from segaug.errors import USER_ERRORS, one_line_warnings, report_error
from segaug.helptext import DefaultsHelpFormatter
from segaug.viz import save_pair_grid

if TYPE_CHECKING:
    from segaug.masks.resolve import ResolvedMasks

__all__ = ["build_parser", "main", "visualize"]

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


class _ImageList(torch.utils.data.Dataset):
    """A flat list of image files as a ``(PIL image, 0)`` dataset."""

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[Image.Image, int]:
        with Image.open(self.paths[i]) as im:
            return im.convert("RGB"), 0


def _mask_source(
    masks: str | None, segmenter: str | None, checkpoint: str | None, device: str
) -> ResolvedMasks:
    """``segmenter`` (built, with its checkpoint and device) or else ``masks`` (parsed)."""
    from segaug.masks.resolve import resolve_masks

    if segmenter is not None:
        return resolve_masks(
            segmenter, argument="segmenter", kinds=("segmenter",), checkpoint=checkpoint,
            device=device,
        )  # fmt: skip
    if masks is None:
        raise ValueError("give --masks (gt, files:DIR or a cache directory) or --segmenter NAME")
    return resolve_masks(masks, argument="masks", build=False)  # the dataset binds gt


def visualize(
    out: str | Path,
    dataset: str | None = None,
    root: str = "data",
    split: str = "train",
    images: str | Path | None = None,
    masks: str | None = None,
    segmenter: str | None = None,
    checkpoint: str | None = None,
    recipe: str = "thesis",
    n: int = 8,
    size: int = 96,
    output_size: int | None = None,
    seed: int = 0,
    device: str = "cpu",
    download: bool = False,
) -> Path:
    """Write a pair grid of ``n`` samples to ``out``.

    Args:
        out: PNG path to write.
        dataset: Name in segaug's dataset registry (or use ``images``).
        root: Dataset root.
        split: Dataset split.
        images: A folder of images (flat, or class sub-folders) instead of a dataset.
        masks: ``gt``, ``files:MASK_DIR[?...]`` (annotation files, with ``images``),
            a mask-cache directory or a segmenter name (read by
            :func:`segaug.masks.resolve.resolve_masks`).
        segmenter: A segmenter name run on the fly (``classical``, ``deeplabv3``, ``sam``).
        checkpoint: Weights for the segmenter.
        recipe: Name in ``segaug.recipes``.
        n: Number of rows.
        size: Side the images and masks are resized to before augmentation.
        output_size: Side of the views (default ``size``).
        seed: Seed for picking samples and for the augmentation.
        device: Where the segmenter runs.
        download: Let torchvision download the dataset.

    Returns:
        The path written.

    Raises:
        ValueError: For a bad combination of arguments or an empty source.
    """
    from segaug.data import build_dataset
    from segaug.data.masked import MaskedDataset, MaskedImageFolder

    if (dataset is None) == (images is None):
        raise ValueError("give exactly one of dataset (--dataset NAME) or images (--images FOLDER)")
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    source = _mask_source(masks, segmenter, checkpoint, device)
    if images is not None:
        folder = Path(images)
        if not folder.is_dir():
            raise ValueError(f"images must be an existing folder, got {str(folder)!r}")
        if any(p.is_dir() for p in folder.iterdir()):
            ds = MaskedImageFolder(folder, masks=source, size=size)
        else:
            paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not paths:
                raise ValueError(f"images folder {str(folder)!r} has no image files")
            keys = [p.name for p in paths] if source.by_path else None  # files: keyed by name
            ds = MaskedDataset(_ImageList(paths), masks=source, size=size, keys=keys)
    else:
        base = build_dataset(dataset, root=root, split=split, download=download)
        ds = MaskedDataset(base, masks=source, size=size)
    if len(ds) == 0:
        raise ValueError("the source has no samples")
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(ds), generator=g)[: min(n, len(ds))].tolist()
    items = [ds[i] for i in idx]
    imgs = torch.stack([it[0] for it in items])
    msks = torch.stack([it[1] for it in items])
    if getattr(ds, "label_maps", False):  # region ids: the recipe's foreground is every region
        msks = (msks > 0).to(torch.uint8)
    aug = recipes.build(recipe, output_size=output_size or size)
    torch.manual_seed(seed)
    title = f"recipe '{recipe}' on {dataset or Path(images).name}"
    return save_pair_grid(out, imgs, msks, aug, panel=max(size, 96), title=title)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``segaug-visualize``."""
    p = argparse.ArgumentParser(
        prog="segaug-visualize",
        description="Draw original | mask | view 1 | view 2 for a few samples into a PNG.",
        formatter_class=DefaultsHelpFormatter,
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--dataset",
        help="dataset name (segaug registry), e.g. synthetic, cifar10 (required: this or --images)",
    )
    src.add_argument(
        "--images",
        help="a folder of images, flat or class sub-folders (required: this or --dataset)",
    )
    p.add_argument("--root", default="data", help="dataset root")
    p.add_argument("--split", default="train", help="dataset split")
    p.add_argument("--download", action="store_true", help="let torchvision download the dataset")
    p.add_argument(
        "--masks",
        help="'gt', 'files:MASK_DIR[?foreground=1,3]' or a mask-cache directory (required "
        "unless --segmenter; default: none)",
    )
    p.add_argument(
        "--segmenter",
        help="segmenter run on the fly: classical, deeplabv3, sam (default: none, the masks "
        "come from --masks)",
    )
    p.add_argument(
        "--checkpoint",
        help="segmenter weights, state dict / SAM checkpoint (default: none; deeplabv3 then "
        "uses torchvision's downloaded weights)",
    )
    p.add_argument("--device", default="cpu", help="device for the segmenter (cpu or cuda)")
    p.add_argument("--recipe", default="thesis", help=f"one of {', '.join(recipes.names())}")
    p.add_argument("-n", type=int, default=8, help="number of rows")
    p.add_argument("--size", type=int, default=96, help="input side in pixels")
    p.add_argument(
        "--output-size", type=int, default=None, help="view side (default: the same as --size)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the samples and the views")
    p.add_argument("--out", default="pairs.png", help="PNG to write")
    return p


@one_line_warnings("segaug-visualize")
def main(argv: list[str] | None = None) -> int:
    """Console entry point of ``segaug-visualize``."""
    p = build_parser()
    args = p.parse_args(argv)
    try:
        path = visualize(
            args.out,
            dataset=args.dataset,
            root=args.root,
            split=args.split,
            images=args.images,
            masks=args.masks,
            segmenter=args.segmenter,
            checkpoint=args.checkpoint,
            recipe=args.recipe,
            n=args.n,
            size=args.size,
            output_size=args.output_size,
            seed=args.seed,
            device=args.device,
            download=args.download,
        )
    except USER_ERRORS as err:  # bad value, missing dataset/file/weights: one line, 2
        return report_error("segaug-visualize", err)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
