"""Ground-truth masks from dataset annotations: the ``gt`` mask source.

Ground truth is not a function of the image but of the dataset index, so
:class:`GroundTruthMasks` is a :class:`~segaug.masks.sources.MaskSource`: it answers
``mask(index)`` (and ``lookup(index, key)``) instead of segmenting a batch.
``create_mask_source("gt", dataset=ds)`` builds it (``create_segmenter("gt",
dataset=ds)`` too: both go through :func:`segaug.masks.resolve.resolve_masks`).
Supported datasets:

* anything with ``get_mask(index) -> np.ndarray`` uint8 ``(H, W)`` in ``{0, 1}`` (for
  example :class:`segaug.data.synthetic.SyntheticShapes`);
* :class:`torchvision.datasets.OxfordIIITPet` (any ``target_types``): its trimaps
  (1 pet, 2 background, 3 border) become pet + border = foreground.

Example:
    >>> from segaug.data.synthetic import SyntheticShapes
    >>> from segaug.masks import create_mask_source
    >>> ds = SyntheticShapes("test", size=32, num_samples=2)
    >>> gt = create_mask_source("gt", dataset=ds)
    >>> gt.mask(0).shape
    (32, 32)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image

from segaug.masks.sources import MASK_SOURCES, MaskSource

_PET_FOREGROUND = (1, 3)


@MASK_SOURCES.register("gt")
class GroundTruthMasks(MaskSource):
    """Masks read from a dataset's annotations, by index.

    Args:
        dataset: A dataset with ``get_mask(index)`` or a torchvision ``OxfordIIITPet``.

    Shape:
        - ``mask(index)``: uint8 :math:`(H, W)` in ``{0, 1}``, the size of image ``index``.

    Raises:
        ValueError: If the dataset provides no masks.

    Example:
        >>> class Two:
        ...     def __len__(self): return 2
        ...     def get_mask(self, i): return np.eye(3, dtype=np.uint8)
        >>> int(GroundTruthMasks(Two()).mask(1).sum())
        3
    """

    name = "gt"
    spec_form = "gt"

    def __init__(self, dataset: Any) -> None:
        if dataset is None:
            raise ValueError(
                "gt needs dataset=... (a dataset with get_mask(index) or OxfordIIITPet), got None"
            )
        self._pet_segs = _pet_segmentation_files(dataset)
        if self._pet_segs is None and not callable(getattr(dataset, "get_mask", None)):
            raise ValueError(
                "dataset must provide ground-truth masks through get_mask(index) or be a "
                f"torchvision OxfordIIITPet, got {type(dataset).__name__}"
            )
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def _config(self) -> dict[str, Any]:
        return {"dataset": type(self.dataset).__name__}

    def mask(self, index: int) -> np.ndarray:
        """The ground-truth mask of item ``index``: uint8 ``(H, W)`` in ``{0, 1}``."""
        if not isinstance(index, (int, np.integer)) or not 0 <= index < len(self.dataset):
            raise ValueError(f"index must be an int in [0, {len(self.dataset)}), got {index!r}")
        if self._pet_segs is not None:
            with Image.open(self._pet_segs[index]) as im:
                trimap = np.asarray(im)
            return np.isin(trimap, _PET_FOREGROUND).astype(np.uint8)
        mask = np.asarray(self.dataset.get_mask(int(index)))
        if mask.ndim == 3 and mask.shape[0] == 1:
            mask = mask[0]
        if mask.ndim != 2:
            raise ValueError(
                f"{type(self.dataset).__name__}.get_mask({index}) must return (H, W), "
                f"got shape {mask.shape}"
            )
        return (mask > 0).astype(np.uint8)

    def lookup(
        self, index: int, key: str = "", image_size: tuple[int, int] | None = None
    ) -> np.ndarray:
        """:meth:`mask` of ``index`` (the key and the image size are not needed)."""
        return self.mask(index)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        raise TypeError(
            "the 'gt' mask source reads annotations by dataset index, not from pixels: use "
            "GroundTruthMasks(dataset).mask(index), MaskedDataset(base, masks='gt'), or "
            "segaug-precompute-masks DATASET_NAME --source gt"
        )


def _pet_segmentation_files(dataset: Any) -> list[Any] | None:
    try:
        from torchvision.datasets import OxfordIIITPet
    except ImportError:  # pragma: no cover
        return None
    if isinstance(dataset, OxfordIIITPet):
        return list(dataset._segs)
    return None
