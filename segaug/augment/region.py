"""RegionAugment: batched segmentation-aware augmentation.

The engine takes a batch of images and their foreground masks, on any device, and
for every sample:

1. measures the input mask's foreground coverage and decides whether the mask is
   reliable (coverage inside ``coverage``; the thesis uses 5% and 90%);
2. applies the geometry (crop, resize and flip by default, or any list of
   :class:`~segaug.augment.geometry.GeometricOp`) to image and mask together, composed
   into one resampling per sample (bilinear for the image, nearest for the mask);
3. for reliable samples, runs the ``foreground`` ops and the ``background`` ops and
   composites them with the (cropped) mask; for unreliable samples, runs the global
   ``fallback`` ops instead.

Geometry comes first, as in SimCLR, whose colour jitter and blur act on the crop (the
blur kernel is 10% of the *output* side). Pixel-wise ops (colour jitter, grayscale)
commute with crop-and-resize, so for them this equals the thesis's order (composite,
then crop) up to interpolation at the mask boundary, and it spends the colour work on
output pixels only.

Every op runs only on the rows that need it: the rows of its region where it fired.
There is no Python loop over samples. All random parameters are drawn on the CPU from
the global torch generator, returned in :class:`AugmentParams`, and can be passed back
to replay a call exactly.

References:
    - [0]: SimCLR, 2020, https://arxiv.org/abs/2002.05709
    - [1]: SegAug-SimCLR (bachelor thesis), sections 4.2 and 5.2.1
"""

from __future__ import annotations

from collections.abc import Sequence
from copy import deepcopy
from dataclasses import dataclass, field
from typing import Any

import kornia
import torch
from torch import Tensor, nn

from segaug.augment.geometry import (
    GeometricOp,
    GeometrySequence,
    RandomResizedCropFlip,
    as_geometric,
    foreground_boxes,
)
from segaug.augment.ops import (
    ColorJitter,
    GaussianBlur,
    IntensityOp,
    OpParams,
    RandomGrayscale,
    as_op,
    fill_holes,
)
from segaug.constants import RELIABLE_COVERAGE
from segaug.images import float_images, plain_tensor

__all__ = ["RegionAugment", "AugmentedBatch", "AugmentParams", "prepare_inputs", "prepare_regions"]

SWAP_DONORS = ("image", "background")
"""What a swapped view shows of the other image (``RegionAugment(swap_donor=...)``)."""


@dataclass
class AugmentParams:
    """Every random choice of one :class:`RegionAugment` call, on the CPU.

    Pass it back as ``aug(images, masks, params=...)`` to replay the call.

    Attributes:
        batch_size: B of the call.
        input_size: (H, W) of the call's inputs.
        geometry: The geometric op's parameters (one row per sample), or None without
            geometry. For the default crop: ``{"boxes": (B, 4) long (x0, y0, w, h),
            "flip": (B,) bool}``; for a list of ops, op ``i``'s keys as ``"i.name"``
            (:meth:`~segaug.augment.geometry.GeometrySequence.split` separates them).
        foreground: One dict per foreground op: ``"fire"`` (B,) bool plus the op's
            per-row parameters.
        background: Likewise for the background ops.
        fallback: Likewise for the fallback ops.
        swap: ``{"fire": (B,) bool, "donor": (B,) long}`` when background swapping is on.
    """

    batch_size: int
    input_size: tuple[int, int]
    geometry: dict[str, Tensor] | None
    foreground: list[OpParams] = field(default_factory=list)
    background: list[OpParams] = field(default_factory=list)
    fallback: list[OpParams] = field(default_factory=list)
    swap: dict[str, Tensor] | None = None


@dataclass
class AugmentedBatch:
    """What :class:`RegionAugment` returns: one augmented view of a batch.

    Attributes:
        images: (B, 3, h, w) float in [0, 1].
        masks: (B, 1, h, w) float, the input masks after the same geometry (nearest).
        coverage: (B,) foreground fraction of the *input* masks.
        fallback: (B,) bool, True where the sample took the global (fallback) pipeline.
        params: The random parameters of this call, for inspection and replay.
        regions: (B, 1, h, w) int64 region ids after the same geometry (nearest), ``-1``
            where the view shows no input pixel; ``None`` when the call got no
            ``regions`` (label maps, for objectives that pool features per region).
    """

    images: Tensor
    masks: Tensor
    coverage: Tensor
    fallback: Tensor
    params: AugmentParams
    regions: Tensor | None = None

    @property
    def fallback_rate(self) -> float:
        """Fraction of the batch that took the fallback pipeline."""
        return float(self.fallback.float().mean())


def prepare_inputs(images: Tensor, masks: Tensor) -> tuple[Tensor, Tensor, bool]:
    """Validate images and masks and convert them to float.

    Args:
        images: (B, 3, H, W), float in [0, 1] or uint8 in [0, 255].
        masks: (B, 1, H, W) or (B, H, W): bool, integer in {0, 1} or {0, 255}, float in
            [0, 1] (soft), or ``torchvision.tv_tensors.Mask``; on the images' device.

    Returns:
        ``(images, masks, soft)``: float images, float masks (B, 1, H, W) of the images'
        dtype, and whether the masks are soft (floating point input).

    Raises:
        ValueError: For any violation, naming the argument, what it got and what it expects.
    """
    images = plain_tensor(images, "images")
    masks = plain_tensor(masks, "masks")
    x = float_images(images, "images", min_side=2)  # the check every segmenter shares

    if masks.ndim == 3:
        masks = masks.unsqueeze(1)
    if masks.ndim != 4 or masks.shape[1] != 1:
        raise ValueError(
            f"masks must have shape (B, 1, H, W) or (B, H, W), got {tuple(masks.shape)}"
        )
    if masks.shape[0] != images.shape[0]:
        raise ValueError(
            f"masks has batch size {masks.shape[0]} but images has {images.shape[0]}; "
            "expected one mask per image"
        )
    if masks.shape[2:] != images.shape[2:]:
        raise ValueError(
            f"masks has spatial size {tuple(masks.shape[2:])} but images has "
            f"{tuple(images.shape[2:])}; expected the same H, W"
        )
    if masks.device != images.device:
        raise ValueError(
            f"masks is on {masks.device} but images is on {images.device}; "
            "expected both on the same device"
        )
    soft = masks.is_floating_point()
    if masks.dtype == torch.bool:
        m = masks.to(x.dtype)
    elif soft:
        lo, hi = torch.aminmax(masks)
        lo, hi = float(lo), float(hi)
        if not (lo == lo and hi == hi) or lo < 0.0 or hi > 1.0:
            raise ValueError(
                f"float masks must be finite and lie in [0, 1], got values in [{lo:.4g}, {hi:.4g}]"
            )
        m = masks.to(x.dtype)
    elif not masks.dtype.is_complex and masks.dtype != torch.bool:
        lo, hi = torch.aminmax(masks)
        lo, hi = int(lo), int(hi)
        if lo >= 0 and hi <= 1:
            m = masks.to(x.dtype)
        elif lo >= 0 and hi == 255 and bool(((masks == 0) | (masks == 255)).all()):
            m = (masks == 255).to(x.dtype)
        else:
            raise ValueError(
                f"integer masks must hold {{0, 1}} or {{0, 255}}, got values in [{lo}, {hi}]"
            )
    else:
        raise ValueError(f"masks must be bool, integer or floating point, got dtype {masks.dtype}")
    return x, m, soft


def prepare_regions(regions: Tensor | None, images: Tensor) -> Tensor | None:
    """Validate a label map of region ids for ``images``; ``None`` passes through.

    Args:
        regions: (B, 1, H, W) or (B, H, W) integer region ids in ``0..255`` (uint8 label
            maps), on the images' device.
        images: The batch they belong to, (B, 3, H, W).

    Returns:
        (B, 1, H, W) int64, or ``None``.

    Raises:
        ValueError: For a wrong type, dtype, shape, device or value range.
    """
    if regions is None:
        return None
    regions = plain_tensor(regions, "regions")
    if regions.ndim == 3:
        regions = regions.unsqueeze(1)
    if regions.is_floating_point() or regions.dtype == torch.bool or regions.is_complex():
        raise ValueError(f"regions must be an integer tensor of region ids, got {regions.dtype}")
    if regions.ndim != 4 or regions.shape[1] != 1 or regions.shape[0] != images.shape[0]:
        raise ValueError(
            f"regions must have shape (B, 1, H, W) or (B, H, W) with B={images.shape[0]}, "
            f"got {tuple(regions.shape)}"
        )
    if regions.shape[2:] != images.shape[2:] or regions.device != images.device:
        raise ValueError(
            f"regions must have the images' size {tuple(images.shape[2:])} and device "
            f"{images.device}, got {tuple(regions.shape[2:])} on {regions.device}"
        )
    lo, hi = (int(v) for v in torch.aminmax(regions))
    if lo < 0 or hi > 255:
        raise ValueError(f"regions must hold ids in 0..255, got values in [{lo}, {hi}]")
    return regions.long()


def _default_foreground() -> list[IntensityOp]:
    # Thesis 5.2.1: strong colour jitter on the object.
    return [ColorJitter(0.8, 0.8, 0.8, 0.2, p=0.8)]


def _default_background() -> list[IntensityOp]:
    # Thesis 5.2.1: blur p=0.85 (kernel ~10% of the side) and grayscale p=0.3.
    return [GaussianBlur(p=0.85), RandomGrayscale(p=0.3)]


def _default_fallback() -> list[IntensityOp]:
    # Thesis 4.1 / SimCLR: colour jitter 0.4/0.4/0.4/0.1 p=0.8, grayscale p=0.2, blur p=0.5.
    return [ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.8), RandomGrayscale(p=0.2), GaussianBlur(p=0.5)]


class RegionAugment(nn.Module):
    """Segmentation-aware augmentation: different ops inside and outside the mask.

    Defaults reproduce the thesis recipe: strong colour jitter on the foreground,
    Gaussian blur (p=0.85) and grayscale (p=0.3) on the background, random resized crop
    (scale 0.08-1) and flip on image and mask together, and the standard SimCLR
    pipeline for samples whose mask covers under 5% or over 90% of the image.

    Args:
        foreground: Ops applied only inside the mask (segaug ops or kornia intensity
            augmentations). None: the thesis default; ``[]``: none.
        background: Ops applied only outside the mask. None: the thesis default.
        fallback: Global ops for samples with an unreliable mask. None: SimCLR's.
        geometric: True for a random resized crop + flip to ``output_size``; a
            :class:`~segaug.augment.geometry.GeometricOp` (e.g. a configured
            :class:`RandomResizedCropFlip`) or a kornia geometric augmentation; a list of
            them, applied in order and composed into one resampling; False or ``[]`` for
            no geometry (the output keeps the input size and the pixels).
        output_size: Output side or (height, width) when ``geometric`` is True
            (default 224).
        coverage: (min, max) input foreground fraction for which the mask is trusted.
        feather: Soften the composite's mask edge with a Gaussian of this sigma, in
            output pixels (0: hard edges). The returned masks stay hard.
        background_swap: Probability that a sample's background comes from another
            image of the batch (its foreground pasted onto that image).
        swap_donor: What a swapped view shows of the other image: ``"image"`` (default),
            its whole view, its own object included (BG_Swaps-like); ``"background"``,
            its view with its own object (its mask, reliable or not, one pixel wider)
            filled in from the background around it
            (:func:`~segaug.augment.ops.fill_holes`), so the swapped view shows one
            object only (BG_Random-like).
        shared_donor: False (default): each swapped sample draws its own donor. True:
            every swapped sample of a call takes the same donor (the donor itself takes
            the next row), so within a view all swapped samples show one background and
            it tells none of them apart: the in-batch negatives share the positive's
            background, as BG_Swaps' hard negatives do, for the whole batch.
        region: False makes every sample take the fallback pipeline: a global-only
            baseline on the same engine (``recipes.simclr()``).
        select_rows: True (default) runs each op only on the rows where it fired
            (gather, transform, scatter back). False computes it on every row of its
            region and keeps the result where it fired (``torch.where``), as kornia
            does; same output, different cost (see ``benchmarks/augment_throughput.py``).

    Shape:
        - images: :math:`(B, 3, H, W)`, uint8 or float in [0, 1].
        - masks: :math:`(B, 1, H, W)` or :math:`(B, H, W)`.
        - Output: :class:`AugmentedBatch` with images :math:`(B, 3, h, w)`.

    Example:
        >>> import torch
        >>> from segaug import RegionAugment
        >>> aug = RegionAugment(output_size=32)
        >>> images = torch.rand(4, 3, 48, 48)
        >>> masks = torch.zeros(4, 1, 48, 48)
        >>> masks[:, :, 12:36, 12:36] = 1
        >>> v1, v2 = aug.pair(images, masks)
        >>> v1.images.shape, v1.fallback.tolist()
        (torch.Size([4, 3, 32, 32]), [False, False, False, False])
    """

    def __init__(
        self,
        foreground: Sequence[IntensityOp | nn.Module] | None = None,
        background: Sequence[IntensityOp | nn.Module] | None = None,
        fallback: Sequence[IntensityOp | nn.Module] | None = None,
        geometric: bool | GeometricOp | nn.Module | Sequence[GeometricOp | nn.Module] = True,
        output_size: int | tuple[int, int] | None = None,
        coverage: tuple[float, float] = RELIABLE_COVERAGE,
        feather: float = 0.0,
        background_swap: float = 0.0,
        swap_donor: str = "image",
        shared_donor: bool = False,
        region: bool = True,
        select_rows: bool = True,
    ) -> None:
        super().__init__()
        self.foreground = self._ops(foreground, _default_foreground, "foreground")
        self.background = self._ops(background, _default_background, "background")
        self.fallback = self._ops(fallback, _default_fallback, "fallback")
        self.geometric: GeometricOp | None = self._geometry(geometric, output_size)
        if not (
            isinstance(coverage, (tuple, list))
            and len(coverage) == 2
            and 0.0 <= coverage[0] <= coverage[1] <= 1.0
        ):
            raise ValueError(
                f"coverage must be (min, max) with 0 <= min <= max <= 1, got {coverage!r}"
            )
        if not isinstance(feather, (int, float)) or feather < 0:
            raise ValueError(f"feather must be a non-negative number of pixels, got {feather!r}")
        if not isinstance(background_swap, (int, float)) or not 0.0 <= background_swap <= 1.0:
            raise ValueError(
                f"background_swap must be a probability in [0, 1], got {background_swap!r}"
            )
        if swap_donor not in SWAP_DONORS:
            raise ValueError(f"swap_donor must be one of {SWAP_DONORS}, got {swap_donor!r}")
        self.coverage = (float(coverage[0]), float(coverage[1]))
        self.feather = float(feather)
        self.background_swap = float(background_swap)
        self.swap_donor = swap_donor
        if not isinstance(shared_donor, bool):
            raise ValueError(f"shared_donor must be True or False, got {shared_donor!r}")
        self.shared_donor = shared_donor
        self.region = bool(region)
        self.select_rows = bool(select_rows)

    @staticmethod
    def _geometry(
        geometric: bool | GeometricOp | nn.Module | Sequence[GeometricOp | nn.Module],
        output_size: int | tuple[int, int] | None,
    ) -> GeometricOp | None:
        if geometric is True:
            return RandomResizedCropFlip(224 if output_size is None else output_size)
        if geometric is False:
            return None
        if isinstance(geometric, nn.Module):
            op = as_geometric(geometric, "geometric")
        elif isinstance(geometric, (list, tuple)):
            if len(geometric) == 0:
                return None
            ops = [as_geometric(g, f"geometric[{i}]") for i, g in enumerate(geometric)]
            op = ops[0] if len(ops) == 1 else GeometrySequence(ops)
        else:
            raise ValueError(
                "geometric must be True, False, a GeometricOp (e.g. RandomResizedCropFlip), "
                f"a kornia geometric augmentation or a list of them, got {geometric!r}"
            )
        fixed = (
            getattr(op, "output_size", None)
            if not isinstance(op, GeometrySequence)
            else (op.crop.output_size if op.crop is not None else None)
        )
        if output_size is not None and fixed is not None:
            if RandomResizedCropFlip(output_size).output_size != fixed:
                raise ValueError(
                    f"output_size={output_size!r} conflicts with geometric.output_size="
                    f"{fixed}; give one of them"
                )
        return op

    @staticmethod
    def _ops(ops: Sequence[IntensityOp | nn.Module] | None, default, name: str) -> nn.ModuleList:
        if ops is None:
            return nn.ModuleList(default())
        if isinstance(ops, nn.Module) or not isinstance(ops, Sequence):
            raise ValueError(
                f"{name} must be a sequence of ops (use [op] for one), got {type(ops).__name__}"
            )
        return nn.ModuleList(as_op(op, f"{name}[{i}]") for i, op in enumerate(ops))

    def compile_kernels(self, **kwargs: Any) -> RegionAugment:
        """Compile every op's pixel kernels with ``torch.compile`` from the first call (see
        :meth:`IntensityOp.compile_kernels`; by default the colour kernels compile on the
        CPU once they have done enough work, ``SEGAUG_COMPILE``). Costs a few seconds once;
        ``benchmarks/augment_throughput.py --eager`` measures the gain. Returns ``self``."""
        for op in (*self.foreground, *self.background, *self.fallback):
            op.compile_kernels(**kwargs)
        return self

    def with_crop(self, size: int | tuple[int, int], scale: tuple[float, float]) -> RegionAugment:
        """A copy whose random resized crop goes to ``size`` from ``scale`` of the area.

        Everything else is kept: the foreground, background and fallback ops, the
        coverage, feather, background swap and region settings, and the crop's
        ``ratio``, ``flip_p`` and ``object_centered``. In a
        :class:`~segaug.augment.geometry.GeometrySequence` the other geometric ops stay
        where they are. Without a crop (no geometry, or geometric ops that are not a
        :class:`RandomResizedCropFlip`) the new crop, with its default ratio and flip,
        comes first. Multi-crop methods build their small local views this way.

        Args:
            size: Output side of the new crop, or (height, width).
            scale: Range of the new crop's area as a fraction of the image area.

        Returns:
            A new module; ``self`` is unchanged.

        Example:
            >>> aug = RegionAugment(geometric=RandomResizedCropFlip(32, flip_p=0.3))
            >>> local = aug.with_crop(8, scale=(0.05, 0.14))
            >>> local.geometric.output_size, local.geometric.scale, local.geometric.flip_p
            ((8, 8), (0.05, 0.14), 0.3)
            >>> aug.geometric.output_size
            (32, 32)
        """
        copy_ = deepcopy(self)
        geo = copy_.geometric
        old = geo.crop if isinstance(geo, GeometrySequence) else geo
        kept = (
            {"ratio": old.ratio, "flip_p": old.flip_p, "object_centered": old.object_centered}
            if isinstance(old, RandomResizedCropFlip)
            else {}
        )
        crop = RandomResizedCropFlip(size, scale=scale, **kept)
        if isinstance(geo, GeometrySequence):
            copy_.geometric = geo.with_crop(crop)
        elif geo is None or isinstance(geo, RandomResizedCropFlip):
            copy_.geometric = crop
        else:
            copy_.geometric = GeometrySequence([crop, geo])
        return copy_

    # ----------------------------------------------------------------- parameters
    def draw(
        self,
        batch_size: int,
        input_size: tuple[int, int],
        fallback: Tensor,
        masks: Tensor | None = None,
    ) -> AugmentParams:
        """Draw every random parameter of a call, on the CPU.

        Args:
            batch_size: B.
            input_size: Input (H, W).
            fallback: (B,) bool, which samples take the fallback pipeline.
            masks: Input masks (B, 1, H, W); needed only for object-centred crops.
        """
        geometry = None
        if self.geometric is not None:
            boxes = None
            if getattr(self.geometric, "object_centered", False) and masks is not None:
                boxes = foreground_boxes(masks)
                boxes[fallback.cpu()] = -1
            geometry = self.geometric.draw(batch_size, input_size, boxes)
        out_size = self.geometric.out_size(input_size) if self.geometric is not None else input_size
        swap = None
        if self.background_swap > 0:
            if self.shared_donor:
                shared = torch.randint(0, batch_size, (1,))
                donor = shared.expand(batch_size).clone()
                donor[shared] = (shared + 1) % batch_size  # never the own background
            else:
                offset = torch.randint(1, max(batch_size, 2), (batch_size,))
                donor = (torch.arange(batch_size) + offset) % batch_size
            swap = {
                "fire": (torch.rand(batch_size) < self.background_swap) & (batch_size > 1),
                "donor": donor,
            }
        return AugmentParams(
            batch_size=batch_size,
            input_size=tuple(input_size),
            geometry=geometry,
            foreground=[op.draw(batch_size, out_size) for op in self.foreground],
            background=[op.draw(batch_size, out_size) for op in self.background],
            fallback=[op.draw(batch_size, out_size) for op in self.fallback],
            swap=swap,
        )

    def _check_params(
        self, params: AugmentParams, batch_size: int, input_size: tuple[int, int]
    ) -> None:
        if not isinstance(params, AugmentParams):
            raise ValueError(
                "params must be AugmentParams (from AugmentedBatch.params), "
                f"got {type(params).__name__}"
            )
        if params.batch_size != batch_size or tuple(params.input_size) != tuple(input_size):
            raise ValueError(
                f"params were drawn for batch size {params.batch_size} and input size "
                f"{tuple(params.input_size)}, got {batch_size} and {tuple(input_size)}"
            )
        for name in ("foreground", "background", "fallback"):
            if len(getattr(params, name)) != len(getattr(self, name)):
                raise ValueError(
                    f"params.{name} has {len(getattr(params, name))} entries, "
                    f"this module has {len(getattr(self, name))} ops"
                )
        if (params.geometry is None) != (self.geometric is None):
            raise ValueError("params.geometry does not match this module's geometric setting")

    # ----------------------------------------------------------------- execution
    @staticmethod
    def _row_params(p: OpParams, rows: Tensor) -> OpParams:
        """An op's parameters for batch rows ``rows``; kornia's own record passes through."""
        sub = {k: v[rows] for k, v in p.items() if k not in ("fire", "kornia")}
        if "kornia" in p:
            sub["kornia"] = p["kornia"]
        return sub

    def _run(
        self,
        ops: nn.ModuleList,
        x: Tensor,
        op_params: list[OpParams],
        rows: Tensor,
        skip: Tensor | None = None,
    ) -> Tensor:
        """Apply ``ops`` to ``x``, whose k rows are batch rows ``rows`` (CPU), where they fire.

        No op touches the rows where ``skip`` (k,) is True, and an op is skipped on the
        rows where a later op that ignores its input
        (:attr:`~segaug.augment.ops.IntensityOp.ignores_input`, as ``Fill``) fires.
        """
        replaced = torch.zeros(rows.numel(), dtype=torch.bool) if skip is None else skip
        skipped = []
        for op, p in zip(reversed(ops), reversed(op_params), strict=True):
            skipped.append(replaced)
            if op.ignores_input:
                replaced = replaced | p["fire"][rows]
        for op, p, not_here in zip(ops, op_params, reversed(skipped), strict=True):
            fire = p["fire"][rows] & ~not_here
            sel = torch.nonzero(fire).squeeze(1)
            if sel.numel() == 0:
                continue
            if sel.numel() == x.shape[0]:
                sub = self._row_params(p, rows)
                x = op.apply(x, sub)
            elif self.select_rows:  # gather the rows that fired, transform, scatter back
                sub = self._row_params(p, rows[sel])
                sel_dev = sel.to(x.device)
                if op.ignores_input:  # nothing to gather
                    given = x.new_empty((sel.numel(), *x.shape[1:]))
                else:
                    given = x.index_select(0, sel_dev)
                x.index_copy_(0, sel_dev, op.apply(given, sub))
            else:  # branchless: transform every row, keep it where the op fired
                sub = self._row_params(p, rows)
                y = op.apply(x.clone(), sub)
                x = torch.where(fire.to(x.device).view(-1, 1, 1, 1), y, x)
            if "kornia" in sub and "kornia" not in p:
                p["kornia"] = sub["kornia"]
        return x

    def _remove_donor_objects(
        self,
        bg_src: Tensor,
        x: Tensor,
        m: Tensor,
        soft: bool,
        donor: Tensor,
        swap: Tensor,
        params: AugmentParams,
        skip: Tensor | None,
    ) -> None:
        """Fill the donor's own object in ``bg_src`` (in place; ``x`` is the batch it was
        taken from, ``bg_src[i] == x[donor[i]]``) on the swapped rows, except
        where a background op that ignores its input (``Fill``) or the fallback replaces
        the row anyway."""
        rows = swap.clone()
        for op, p in zip(self.background, params.background, strict=True):
            if op.ignores_input:
                rows &= ~p["fire"]
        if skip is not None:
            rows &= ~skip
        sel = torch.nonzero(rows).squeeze(1)
        if sel.numel() == 0:
            return
        # Fill each distinct donor once, from the unswapped batch, and hand it to every
        # row that takes it (one fill per view with ``shared_donor``).
        donors, which = torch.unique(donor[sel], return_inverse=True)
        donors = donors.to(m.device)
        donor_masks = m.index_select(0, donors)
        if not soft:
            donor_masks = (donor_masks > 0.5).to(x.dtype)
        # one pixel wider: the object's anti-aliased rim lies just outside a hard mask
        known = 1.0 - torch.nn.functional.max_pool2d(donor_masks, 3, stride=1, padding=1)
        filled = fill_holes(x.index_select(0, donors.to(x.device)), known)
        bg_src.index_copy_(0, sel.to(bg_src.device), filled.index_select(0, which.to(x.device)))

    def _composite(
        self, x: Tensor, m: Tensor, soft: bool, params: AugmentParams, skip: Tensor | None = None
    ) -> Tensor:
        """Foreground ops inside, background ops outside the mask, on every row of the
        batch; no op touches the rows where ``skip`` (B,) is True. Works on ``x`` in place."""
        rows = torch.arange(x.shape[0])
        fg = self._run(self.foreground, x.clone(), params.foreground, rows, skip)
        bg_src = x
        if params.swap is not None:
            swap = params.swap["fire"]
            if bool(swap.any()):
                donor = torch.where(swap, params.swap["donor"], rows)
                bg_src = x.index_select(0, donor.to(x.device))
                if self.swap_donor == "background":
                    self._remove_donor_objects(bg_src, x, m, soft, donor, swap, params, skip)
        bg = self._run(self.background, bg_src, params.background, rows, skip)
        if self.feather > 0:
            k = 2 * int(round(3 * self.feather)) + 1
            m = kornia.filters.gaussian_blur2d(
                m, (k, k), (self.feather, self.feather), border_type="replicate"
            )
            soft = True
        # lerp is exact at weights 0 and 1 and, on CPU, several times faster than where
        return torch.lerp(bg, fg, m if soft else (m > 0.5).to(fg.dtype))

    def _augment(
        self,
        x: Tensor,
        m: Tensor,
        soft: bool,
        coverage: Tensor,
        fallback: Tensor,
        params: AugmentParams,
        regions: Tensor | None = None,
    ) -> AugmentedBatch:
        if self.geometric is not None and regions is not None:
            # The ids ride along as a second mask channel (nearest), shifted by one so
            # that pixels from outside the input (0 after resampling) read -1.
            both = torch.cat([m, (regions + 1).to(m.dtype)], dim=1)
            x, both = self.geometric.apply(x, both, params.geometry)
            m, regions = both[:, :1], both[:, 1:].round().long() - 1
        elif self.geometric is not None:
            x, m = self.geometric.apply(x, m, params.geometry)
        fb = fallback.cpu()
        fb_rows = torch.nonzero(fb).squeeze(1)
        if fb_rows.numel() == 0:
            out = self._composite(x, m, soft, params)
        elif fb_rows.numel() == x.shape[0]:
            out = self._run(self.fallback, x, params.fallback, fb_rows)
        else:
            # The composite runs on every row, its ops skipping the fallback rows, which
            # then get the fallback ops: cheaper than gathering and scattering the rest.
            fb_dev = fb_rows.to(x.device)
            fb_x = x.index_select(0, fb_dev)  # before the composite's in-place ops
            out = self._composite(x, m, soft, params, skip=fb)
            out.index_copy_(0, fb_dev, self._run(self.fallback, fb_x, params.fallback, fb_rows))
        return AugmentedBatch(
            images=out, masks=m, coverage=coverage, fallback=fallback, params=params,
            regions=regions,
        )  # fmt: skip

    def _prepare(
        self, images: Tensor, masks: Tensor
    ) -> tuple[Tensor, Tensor, bool, Tensor, Tensor]:
        x, m, soft = prepare_inputs(images, masks)
        if self.geometric is None and x.data_ptr() == images.data_ptr():
            x = x.clone()  # the ops work in place; never touch the caller's memory
        coverage = m.mean(dim=(1, 2, 3))
        return x, m, soft, coverage, self.falls_back(coverage)

    def falls_back(self, coverage: Tensor) -> Tensor:
        """Which samples take the fallback pipeline, given their input mask coverage.

        Shape:
            - coverage: :math:`(B,)`. Output: :math:`(B,)` bool.
        """
        if not self.region:
            return torch.ones_like(coverage, dtype=torch.bool)
        return (coverage < self.coverage[0]) | (coverage > self.coverage[1])

    def forward(
        self,
        images: Tensor,
        masks: Tensor,
        params: AugmentParams | None = None,
        regions: Tensor | None = None,
    ) -> AugmentedBatch:
        """Augment a batch once.

        Args:
            images: (B, 3, H, W) uint8 or float in [0, 1].
            masks: (B, 1, H, W) or (B, H, W) foreground masks on the same device.
            params: Parameters of an earlier call (``AugmentedBatch.params``) to replay.
            regions: Optional (B, 1, H, W) integer label maps (ids 0..255) that follow
                the same geometry as the masks, returned in ``AugmentedBatch.regions``.
                They do not change the augmentation: ``masks`` decides the regions
                of ``foreground`` and ``background``.

        Returns:
            AugmentedBatch: the view, its masks, input coverage, fallback flags, params.
        """
        x, m, soft, coverage, fallback = self._prepare(images, masks)
        regions = prepare_regions(regions, images)
        size = (x.shape[-2], x.shape[-1])
        if params is None:
            params = self.draw(x.shape[0], size, fallback, m)
        else:
            self._check_params(params, x.shape[0], size)
        return self._augment(x, m, soft, coverage, fallback, params, regions)

    def pair(
        self,
        images: Tensor,
        masks: Tensor,
        params: tuple[AugmentParams, AugmentParams] | None = None,
        regions: Tensor | None = None,
    ) -> tuple[AugmentedBatch, AugmentedBatch]:
        """Two independent views of the batch (the two SimCLR views).

        Inputs are validated and converted once. ``params`` replays an earlier pair;
        ``regions`` as in :meth:`forward`.
        """
        x, m, soft, coverage, fallback = self._prepare(images, masks)
        regions = prepare_regions(regions, images)
        size = (x.shape[-2], x.shape[-1])
        views = []
        for i in range(2):
            if params is None:
                p = self.draw(x.shape[0], size, fallback, m)
            else:
                p = params[i]
                self._check_params(p, x.shape[0], size)
            # Without geometry the ops work in place, so each view needs its own copy.
            xi = x.clone() if (self.geometric is None and i == 0) else x
            views.append(self._augment(xi, m, soft, coverage, fallback, p, regions))
        return views[0], views[1]

    def extra_repr(self) -> str:
        return (
            f"coverage={self.coverage}, feather={self.feather}, "
            f"background_swap={self.background_swap}, swap_donor={self.swap_donor!r}, "
            f"shared_donor={self.shared_donor}, region={self.region}, "
            f"select_rows={self.select_rows}"
        )
