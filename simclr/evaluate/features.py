"""Frozen features: rebuild an encoder from a checkpoint, preprocess, extract, cache.

The evaluation protocols (linear probe, kNN, plots) work on features extracted once:

- :func:`load_encoder` rebuilds the pretrained backbone of a ``simclr-train``
  checkpoint (a ``.pt`` file or a run directory meaning its ``last.pt``) from the
  config stored inside it, loads its weights, and checks the method and backbone
  against what the caller expects.
- :class:`Preprocess` is the transfer preprocessing of SimCLR [0] / Kornblith et al. [1]:
  resize the shorter side to ``resize_size`` with bicubic resampling, centre-crop
  ``image_size``, scale to [0, 1], normalise with the pretraining statistics.
- :func:`extract_features` runs the encoder in eval mode over a dataset.
- :class:`FeatureCache` stores features on disk keyed by the checkpoint's content hash,
  the dataset, the split, the dataset options and the preprocessing; writes are atomic.

Floors use the same path: :class:`RawPixels` (downsampled, flattened pixels) and
:func:`random_encoder` (the same architecture, randomly initialised).

References:
    - [0]: SimCLR, 2020, https://arxiv.org/abs/2002.05709
    - [1]: Do Better ImageNet Models Transfer Better?, 2019, https://arxiv.org/abs/1805.08974

Example:
    >>> import torch
    >>> from torch import nn
    >>> from segaug.data import build_dataset
    >>> ds = build_dataset("synthetic", split="test", num_samples=4, size=16)
    >>> enc = RawPixels(4)
    >>> feats, labels = extract_features(enc, ds, Preprocess(16), progress=False)
    >>> tuple(feats.shape), tuple(labels.shape)
    ((4, 48), (4,))
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from segaug.constants import IMAGENET_MEAN, IMAGENET_STD
from segaug.data.unreadable import UnreadableImages, describe_item
from segaug.io import load_torch_file, save_torch_file

# -------------------------------------------------------------------------- encoders


@dataclass
class LoadedEncoder:
    """A pretrained backbone rebuilt from a checkpoint.

    Attributes:
        encoder: The backbone (``forward(images) -> (B, feature_dim)``), in eval mode.
        feature_dim: Output dimension.
        config: The run config stored in the checkpoint (nested dict).
        checkpoint: Path of the checkpoint file that was read.
        checkpoint_hash: SHA-256 of the checkpoint file's bytes (the feature-cache key).
        epoch: Completed pretraining epochs recorded in the checkpoint.
    """

    encoder: nn.Module
    feature_dim: int
    config: dict[str, Any]
    checkpoint: Path
    checkpoint_hash: str
    epoch: int

    @property
    def image_size(self) -> int:
        """Side length of the pretraining views (``augment.output_size``)."""
        return int(self.config["augment"]["output_size"])

    @property
    def mean_std(self) -> tuple[list[float], list[float]]:
        """Normalisation statistics the encoder was trained with."""
        from simclr.config import DataConfig
        from simclr.data import normalization_stats

        d = self.config.get("data", {})
        cfg = DataConfig(
            dataset=d.get("dataset", "synthetic"), mean=d.get("mean"), std=d.get("std")
        )
        return normalization_stats(cfg)


def file_hash(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file's content."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def build_encoder_from_config(config: dict[str, Any], image_size: int | None = None) -> nn.Module:
    """The backbone described by a run config (random initialisation).

    Args:
        config: A nested run config (``Config.to_dict()``).
        image_size: Evaluation input size. It matters for ViTs only (their fixed
            sin-cos position embedding is rebuilt for the new grid; the weights do not
            depend on it). ResNets are always built at the pretraining size, because
            ``stem="auto"`` picks the stem from it and the weights depend on the stem.
    """
    from simclr.models import build_backbone

    m = config["model"]
    size = int(config["augment"]["output_size"])
    if image_size is not None and m["backbone"].startswith("vit"):
        patch = int(m.get("patch_size", 16))
        if image_size % patch != 0:
            raise ValueError(
                f"image_size = {image_size}: expected a multiple of the ViT patch size {patch}"
            )
        size = int(image_size)
    return build_backbone(
        m["backbone"],
        image_size=size,
        width=m.get("width", 1.0),
        stem=m.get("stem", "auto"),
        norm=m.get("norm", "batch"),
        patch_size=m.get("patch_size", 16),
        depth=m.get("depth"),
        zero_init_residual=m.get("zero_init_residual", False),
    )


def backbone_state_dict(model_state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Backbone weights out of a trainer state dict (keys ``method.backbone.*``).

    Also accepts ``module.``-prefixed (DDP) keys and bare backbone state dicts.
    """
    for prefix in ("method.backbone.", "module.method.backbone.", "backbone."):
        picked = {k[len(prefix) :]: v for k, v in model_state.items() if k.startswith(prefix)}
        if picked:
            return picked
    return dict(model_state)


def load_encoder(
    checkpoint: str | os.PathLike,
    method: str | None = None,
    backbone: str | None = None,
    device: str | torch.device = "cpu",
    image_size: int | None = None,
) -> LoadedEncoder:
    """Rebuild the pretrained backbone of a ``simclr-train`` checkpoint.

    Args:
        checkpoint: A ``.pt`` file or a run directory (its ``last.pt``).
        method: Expected pretraining method (``simclr``, ``mae``); ``None`` accepts any.
        backbone: Expected backbone name (``resnet50``, ...); ``None`` accepts any.
        device: Where the encoder is placed.
        image_size: Evaluation input size (rebuilds a ViT's position embedding for it;
            ignored by ResNets, which accept any size).

    Returns:
        The encoder in eval mode with its config, epoch and content hash.

    Raises:
        ValueError: No readable checkpoint, no config inside, or a method/backbone
            other than the one requested.

    Example:
        >>> enc = load_encoder("runs/synthetic_simclr", method="simclr")  # doctest: +SKIP
        >>> enc.feature_dim  # doctest: +SKIP
        512
    """
    from simclr.checkpoint import load_checkpoint, resolve_checkpoint

    path = resolve_checkpoint(checkpoint, context="checkpoint")
    state = load_checkpoint(path, context="checkpoint")
    if not isinstance(state, dict) or "config" not in state or "model" not in state:
        raise ValueError(
            f"checkpoint {str(path)!r}: expected a simclr-train checkpoint with 'model' and "
            f"'config' entries, got keys {sorted(state) if isinstance(state, dict) else '?'}"
        )
    config = state["config"]
    got_method = config["method"]["name"]
    got_backbone = config["model"]["backbone"]
    if method is not None and method != got_method:
        raise ValueError(
            f"method: checkpoint {str(path)!r} was pretrained with {got_method!r}, "
            f"expected {method!r}"
        )
    if backbone is not None and backbone != got_backbone:
        raise ValueError(
            f"backbone: checkpoint {str(path)!r} has backbone {got_backbone!r}, "
            f"expected {backbone!r}"
        )
    encoder = build_encoder_from_config(config, image_size)
    weights = backbone_state_dict(state["model"])
    missing, unexpected = encoder.load_state_dict(weights, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"checkpoint {str(path)!r}: backbone weights do not match {got_backbone!r} "
            f"(missing {missing[:5]}, unexpected {unexpected[:5]})"
        )
    encoder.to(device).eval()
    return LoadedEncoder(
        encoder=encoder,
        feature_dim=int(encoder.num_features),
        config=config,
        checkpoint=path,
        checkpoint_hash=file_hash(path),
        epoch=int(state.get("epoch", 0)),
    )


def random_encoder(
    config: dict[str, Any], seed: int = 0, image_size: int | None = None
) -> nn.Module:
    """The same architecture as a run, randomly initialised with ``seed`` (a floor)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        enc = build_encoder_from_config(config, image_size)
    return enc.eval()


class RawPixels(nn.Module):
    """Floor encoder: area-downsample to ``size`` x ``size`` and flatten.

    Args:
        size: Side length after downsampling (16 or 32 are usual).

    Shape:
        - Input: ``(B, 3, H, W)``
        - Output: ``(B, 3 * size * size)``
    """

    def __init__(self, size: int = 16) -> None:
        super().__init__()
        if size < 1:
            raise ValueError(f"size must be >= 1, got {size}")
        self.size = size
        self.num_features = 3 * size * size

    def forward(self, x: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(x, self.size).flatten(1)


# ---------------------------------------------------------------------- preprocessing


@dataclass(frozen=True)
class Preprocess:
    """Deterministic evaluation preprocessing (no augmentation).

    Resize the shorter side to ``resize_size`` (bicubic), centre-crop ``image_size``,
    scale to [0, 1] and normalise with ``mean``/``std``.

    Attributes:
        image_size: Crop side length fed to the encoder.
        resize_size: Shorter side after resizing; ``None`` = ``image_size`` (the SimCLR
            transfer protocol: resize to 224, crop 224).
        interpolation: ``bicubic`` (default), ``bilinear`` or ``nearest``.
        mean: Per-channel mean.
        std: Per-channel std.

    Shape:
        - Output of ``__call__``: ``(3, image_size, image_size)`` float32
    """

    image_size: int
    resize_size: int | None = None
    interpolation: str = "bicubic"
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD

    def __post_init__(self) -> None:
        if self.image_size < 1:
            raise ValueError(f"image_size must be >= 1, got {self.image_size}")
        if self.resize_size is not None and self.resize_size < self.image_size:
            raise ValueError(
                f"resize_size must be None or >= image_size={self.image_size}, "
                f"got {self.resize_size}"
            )
        if self.interpolation not in _RESAMPLE:
            raise ValueError(
                f"interpolation must be one of {sorted(_RESAMPLE)}, got {self.interpolation!r}"
            )
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError(f"mean/std must be 3 numbers (std > 0), got {self.mean}/{self.std}")
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))

    def resize_crop(self, image: Image.Image) -> Image.Image:
        """Shorter side to ``resize_size`` (bicubic), then the centre ``image_size`` crop."""
        image = image.convert("RGB")
        short = self.resize_size or self.image_size
        w, h = image.size
        if min(w, h) != short:
            scale = short / min(w, h)
            nw, nh = max(short, round(w * scale)), max(short, round(h * scale))
            image = image.resize((nw, nh), _RESAMPLE[self.interpolation])
        w, h = image.size
        s = self.image_size
        left, top = (w - s) // 2, (h - s) // 2
        return image.crop((left, top, left + s, top + s))

    def to_tensor(self, image: Image.Image) -> Tensor:
        """PIL RGB -> normalised float tensor ``(3, H, W)``."""
        x = torch.from_numpy(_as_array(image)).permute(2, 0, 1).float().div_(255.0)
        mean = torch.tensor(self.mean).view(3, 1, 1)
        std = torch.tensor(self.std).view(3, 1, 1)
        return (x - mean) / std

    def __call__(self, image: Image.Image) -> Tensor:
        return self.to_tensor(self.resize_crop(image))

    def describe(self) -> str:
        """One line for reports."""
        short = self.resize_size or self.image_size
        return (
            f"resize shorter side to {short} ({self.interpolation}), centre crop "
            f"{self.image_size}x{self.image_size}, normalise mean={list(self.mean)} "
            f"std={list(self.std)}"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (also the cache key part)."""
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d


_RESAMPLE = {
    "bicubic": Image.BICUBIC,
    "bilinear": Image.BILINEAR,
    "nearest": Image.NEAREST,
}


def _as_array(image: Image.Image):
    import numpy as np

    return np.asarray(image, dtype=np.uint8).copy()


class TransformedDataset(Dataset):
    """``(transform(image), label)`` view of a ``(PIL image, label)`` dataset, optionally
    restricted to ``indices``.

    An image file that cannot be read is left out with one warning, the next readable
    item taking its place (:class:`segaug.data.unreadable.UnreadableImages`).
    """

    def __init__(
        self,
        base: Dataset,
        transform: Callable[[Image.Image], Tensor],
        indices: list[int] | None = None,
    ) -> None:
        self.base, self.transform = base, transform
        self.indices = list(range(len(base))) if indices is None else list(indices)
        self.unreadable = UnreadableImages("skip", describe=self.describe)

    def describe(self, i: int) -> str:
        """The file of item ``i`` (its path when the base dataset lists paths)."""
        return describe_item(self.base, self.indices[i])

    def __len__(self) -> int:
        return len(self.indices)

    def _item(self, i: int) -> tuple[Tensor, int]:
        image, label = self.base[self.indices[i]]
        return self.transform(image), int(label)

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        return self.unreadable.read(i, len(self), self._item)


def dataset_targets(ds: Dataset) -> list[int]:
    """Labels of a dataset without decoding images when it offers ``targets``."""
    targets = getattr(ds, "targets", None)
    if targets is not None and len(targets) == len(ds):
        return [int(t) for t in targets]
    return [int(ds[i][1]) for i in range(len(ds))]


# -------------------------------------------------------------------------- extraction


@torch.no_grad()
def extract_features(
    encoder: nn.Module,
    dataset: Dataset,
    preprocess: Callable[[Image.Image], Tensor],
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    num_workers: int = 0,
    progress: bool = True,
    desc: str = "features",
) -> tuple[Tensor, Tensor]:
    """Run ``encoder`` (eval mode, no grad) over ``dataset`` after ``preprocess``.

    Args:
        encoder: ``forward(images) -> (B, D)``.
        dataset: ``ds[i] -> (PIL image, label)``.
        preprocess: Image -> ``(3, S, S)`` tensor (a :class:`Preprocess`).
        batch_size: Images per forward pass.
        device: Where the encoder runs.
        num_workers: DataLoader workers (decode + resize).
        progress: Show a tqdm bar.
        desc: Progress-bar label.

    Returns:
        ``(features float32 on CPU, labels int64)``.

    Shape:
        - Output: ``(N, D)`` and ``(N,)``
    """
    loader = _loader(dataset, preprocess, batch_size, num_workers)
    return _encode(encoder, tqdm(loader, desc=desc, disable=not progress, leave=False), device)


def _loader(
    dataset: Dataset,
    preprocess: Callable[[Image.Image], Tensor],
    batch_size: int,
    num_workers: int,
) -> DataLoader:
    """Preprocessed ``(images, labels)`` batches of ``dataset`` in order."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if len(dataset) == 0:
        raise ValueError("dataset is empty; expected at least one image")
    return DataLoader(
        TransformedDataset(dataset, preprocess),
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
    )


def _encode(
    encoder: nn.Module, batches: Iterable[tuple[Tensor, Tensor]], device: str | torch.device
) -> tuple[Tensor, Tensor]:
    """``encoder`` (eval mode) over ``batches``: (features float32 on CPU, labels int64)."""
    was_training = encoder.training
    encoder.eval()
    feats, labels = [], []
    for images, y in batches:
        feats.append(encoder(images.to(device, non_blocking=True)).float().flatten(1).cpu())
        labels.append(y.long())
    encoder.train(was_training)
    return torch.cat(feats), torch.cat(labels)


class InputCache:
    """Preprocessed input batches kept in memory, so several encoders see one decode.

    A study evaluates many encoders on the same splits; decoding, rendering and
    resizing the images again for each of them can cost more than the forward pass.
    :meth:`extract` stores the preprocessed batches of a split under its key (the
    dataset, split, subset and preprocessing, never the encoder) while the total stays
    within ``max_bytes``; a split that would exceed it (estimated from its first batch)
    is streamed as :func:`extract_features` does and not kept, so it is decoded again
    for the next encoder. Features are the same either way: the
    same batches go through the encoder.

    Args:
        max_bytes: Memory budget for the kept inputs (float32 tensors).

    Example:
        >>> import torch.utils.data as tud
        >>> class Tiny(tud.Dataset):
        ...     def __len__(self): return 4
        ...     def __getitem__(self, i): return Image.new("RGB", (8, 8), (60 * i,) * 3), i
        >>> cache = InputCache(max_bytes=1 << 20)
        >>> pre = Preprocess(4)
        >>> a = cache.extract(RawPixels(2), Tiny(), pre, {"split": "t"}, progress=False)
        >>> b = cache.extract(RawPixels(2), Tiny(), pre, {"split": "t"}, progress=False)
        >>> cache.hits, cache.used_bytes, torch.equal(a[0], b[0])
        (1, 768, True)
    """

    def __init__(self, max_bytes: int = 2 << 30) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes: expected an int >= 0, got {max_bytes!r}")
        self.max_bytes = max_bytes
        self.used_bytes = 0
        self.hits = 0
        self._store: dict[str, tuple[list[Tensor], list[Tensor]]] = {}

    @torch.no_grad()
    def extract(
        self,
        encoder: nn.Module,
        dataset: Dataset,
        preprocess: Callable[[Image.Image], Tensor],
        parts: dict[str, Any],
        batch_size: int = 256,
        device: str | torch.device = "cpu",
        num_workers: int = 0,
        progress: bool = True,
        desc: str = "features",
    ) -> tuple[Tensor, Tensor]:
        """:func:`extract_features`, reading the split's inputs from memory when kept.

        Args:
            parts: Identity of the inputs (dataset, split, subset); the preprocessing's
                ``to_dict()`` and the dataset's length are added to it.
            Others: As :func:`extract_features`.
        """
        describe = getattr(preprocess, "to_dict", None)
        key = cache_key(
            {
                **parts,
                "_preprocess": describe() if describe is not None else repr(preprocess),
                "_len": len(dataset),
            }
        )
        if key in self._store:
            self.hits += 1
            images, labels = self._store[key]
            return _encode(encoder, zip(images, labels, strict=True), device)
        loader = _loader(dataset, preprocess, batch_size, num_workers)
        it = iter(tqdm(loader, desc=desc, disable=not progress, leave=False))
        first = next(it)
        estimate = first[0].numel() * first[0].element_size() * len(loader)
        if self.used_bytes + estimate > self.max_bytes:  # too big to keep: stream it
            return _encode(encoder, itertools.chain([first], it), device)
        batches = [(x, y.long()) for x, y in itertools.chain([first], it)]
        self._store[key] = ([x for x, _ in batches], [y for _, y in batches])
        self.used_bytes += sum(x.numel() * x.element_size() for x, _ in batches)
        return _encode(encoder, batches, device)


@torch.no_grad()
def extract_tensor_features(
    encoder: nn.Module,
    images: Tensor,
    mean: list[float] | tuple[float, ...],
    std: list[float] | tuple[float, ...],
    batch_size: int = 512,
    device: str | torch.device = "cpu",
) -> Tensor:
    """Features of in-memory images already at the evaluation size (no resize, no crop).

    The tensor counterpart of :func:`extract_features`, for generated test sets (the
    backgrounds challenge): ``images`` are scaled to [0, 1] and normalised with
    ``mean``/``std`` exactly as the training views were.

    Shape:
        - images: :math:`(N, 3, S, S)` uint8.
        - Output: :math:`(N, D)` float32 on the CPU.

    Example:
        >>> enc = RawPixels(2)
        >>> x = torch.full((3, 3, 4, 4), 255, dtype=torch.uint8)
        >>> extract_tensor_features(enc, x, [0.5] * 3, [0.5] * 3)[0].tolist()
        [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    """
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(
            f"images must be uint8 (N, 3, S, S), got {images.dtype} {tuple(images.shape)}"
        )
    was_training = encoder.training
    encoder.eval()
    m = torch.tensor(mean, dtype=torch.float32, device=device).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32, device=device).view(1, 3, 1, 1)
    out = []
    for i in range(0, images.shape[0], batch_size):
        x = images[i : i + batch_size].to(device).float().div_(255).sub_(m).div_(s)
        out.append(encoder(x).float().flatten(1).cpu())
    encoder.train(was_training)
    return torch.cat(out)


# ------------------------------------------------------------------------------ cache


def cache_key(parts: dict[str, Any]) -> str:
    """A stable hex key for a JSON-serialisable mapping."""
    blob = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


class FeatureCache:
    """On-disk feature store: one ``.pt`` file per (encoder, dataset, split, preprocessing).

    Keys are built from a mapping with at least the encoder identity (the checkpoint's
    content hash, or a description of a floor encoder), the dataset name and options,
    the split and :meth:`Preprocess.to_dict`; changing any of them (e.g. a new
    checkpoint file) is a miss. Files are written to a temporary name and moved into
    place with ``os.replace``, so a crash never leaves a truncated entry.

    Args:
        root: Cache directory; ``None`` disables caching.

    Example:
        >>> import tempfile
        >>> cache = FeatureCache(tempfile.mkdtemp())
        >>> calls = []
        >>> f = lambda: (calls.append(1), (torch.ones(2, 3), torch.zeros(2).long()))[1]
        >>> _ = cache.get_or_compute({"encoder": "x"}, f)
        >>> _ = cache.get_or_compute({"encoder": "x"}, f)
        >>> len(calls)
        1
    """

    def __init__(self, root: str | os.PathLike | None) -> None:
        self.root = Path(root) if root is not None else None
        self.hits = 0
        self.misses = 0

    def path(self, parts: dict[str, Any]) -> Path | None:
        """Where the entry for ``parts`` lives (``None`` when caching is disabled)."""
        return None if self.root is None else self.root / f"{cache_key(parts)}.pt"

    def get_or_compute(
        self, parts: dict[str, Any], compute: Callable[[], tuple[Tensor, Tensor]]
    ) -> tuple[Tensor, Tensor]:
        """Load the cached ``(features, labels)`` for ``parts`` or compute and store them."""
        path = self.path(parts)
        if path is not None and path.is_file():
            try:
                blob = load_torch_file(path)
                if blob.get("parts") == json.loads(json.dumps(parts, default=str)):
                    self.hits += 1
                    return blob["features"], blob["labels"]
            except Exception:  # unreadable entry: recompute and overwrite
                pass
        self.misses += 1
        feats, labels = compute()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            blob = {
                "features": feats.contiguous(),
                "labels": labels.contiguous(),
                "parts": json.loads(json.dumps(parts, default=str)),
            }
            save_torch_file(blob, path, fsync=False)
        return feats, labels
