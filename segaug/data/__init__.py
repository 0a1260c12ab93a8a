"""segaug.data: the dataset registry, the offline synthetic dataset and the objects on photos.

Example:
    >>> from segaug.data import build_dataset
    >>> ds = build_dataset("synthetic", split="test", num_samples=4)
    >>> len(ds), ds.get_mask(0).dtype
    (4, dtype('uint8'))
"""

from segaug.data.photos import ObjectsOnPhotos
from segaug.data.registry import (
    DATASET_INFO,
    DATASETS,
    DatasetInfo,
    DatasetNotFoundError,
    LabeledImageDataset,
    OxfordPetDataset,
    build_dataset,
    get_dataset_info,
    list_datasets,
)
from segaug.data.synthetic import BACKGROUND_FAMILIES, SHAPE_CLASSES, SyntheticShapes

__all__ = [
    "BACKGROUND_FAMILIES",
    "DATASETS",
    "DATASET_INFO",
    "DatasetInfo",
    "DatasetNotFoundError",
    "LabeledImageDataset",
    "ObjectsOnPhotos",
    "OxfordPetDataset",
    "SHAPE_CLASSES",
    "SyntheticShapes",
    "build_dataset",
    "get_dataset_info",
    "list_datasets",
]
