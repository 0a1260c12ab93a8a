"""Joint geometry for images and masks: random resized crop plus horizontal flip.

Boxes are drawn the way ``torchvision.transforms.RandomResizedCrop`` draws them
(10 tries of area and log-uniform aspect ratio, integer boxes, a centre-crop fallback),
vectorised over the batch on the CPU. One affine grid per sample then resamples the
image (bilinear) and the mask (nearest) so they stay aligned pixel for pixel.

References:
    - [0]: SimCLR, 2020, https://arxiv.org/abs/2002.05709 (crop scale (0.08, 1), flip p=0.5)
    - [1]: ContrastiveCrop, CVPR 2022, https://arxiv.org/abs/2202.03278 (crops centred on
      the object's bounding box; used when ``object_centered`` is set)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["RandomResizedCropFlip", "foreground_boxes"]


def foreground_boxes(masks: Tensor) -> Tensor:
    """Bounding boxes ``(x0, y0, x1, y1)`` (exclusive ends) of mask pixels > 0.5.

    Rows with an empty mask get the whole image.

    Shape:
        - masks: :math:`(B, 1, H, W)` float.
        - Output: :math:`(B, 4)` long, on the CPU.
    """
    b, _, h, w = masks.shape
    fg = masks[:, 0] > 0.5
    cols = fg.any(dim=1)  # (B, W)
    rows = fg.any(dim=2)  # (B, H)
    ar_w = torch.arange(w, device=masks.device)
    ar_h = torch.arange(h, device=masks.device)
    big = torch.iinfo(torch.long).max
    x0 = torch.where(cols, ar_w, big).amin(dim=1)
    x1 = torch.where(cols, ar_w, -1).amax(dim=1) + 1
    y0 = torch.where(rows, ar_h, big).amin(dim=1)
    y1 = torch.where(rows, ar_h, -1).amax(dim=1) + 1
    boxes = torch.stack([x0, y0, x1, y1], dim=1).cpu()
    empty = ~cols.any(dim=1).cpu()
    boxes[empty] = torch.tensor([0, 0, w, h])
    return boxes


class RandomResizedCropFlip(nn.Module):
    """Random resized crop to ``output_size`` and a random horizontal flip.

    Args:
        output_size: Output side, or (height, width).
        scale: Range of the crop area as a fraction of the image area.
        ratio: Range of the crop aspect ratio (width / height), drawn log-uniformly.
        flip_p: Probability of a horizontal flip.
        object_centered: If True, the crop centre is drawn uniformly inside the
            foreground's bounding box (ContrastiveCrop's idea), so crops keep part of
            the object; the box is then shifted to lie inside the image. Rows given no
            foreground box are cropped as usual.

    Shape:
        - images: :math:`(B, C, H, W)` float.
        - masks: :math:`(B, 1, H, W)` float.
        - Output: :math:`(B, C, h, w)` and :math:`(B, 1, h, w)`.

    Example:
        >>> geo = RandomResizedCropFlip(16)
        >>> params = geo.draw(2, (32, 32))
        >>> x, m = geo.apply(torch.rand(2, 3, 32, 32), torch.ones(2, 1, 32, 32), params)
        >>> x.shape, m.shape
        (torch.Size([2, 3, 16, 16]), torch.Size([2, 1, 16, 16]))
    """

    def __init__(
        self,
        output_size: int | tuple[int, int],
        scale: tuple[float, float] = (0.08, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        flip_p: float = 0.5,
        object_centered: bool = False,
    ) -> None:
        super().__init__()
        if isinstance(output_size, int) and not isinstance(output_size, bool):
            output_size = (output_size, output_size)
        if not (
            isinstance(output_size, (tuple, list))
            and len(output_size) == 2
            and all(isinstance(s, int) and s > 0 for s in output_size)
        ):
            raise ValueError(
                f"output_size must be a positive int or (height, width), got {output_size!r}"
            )
        if not (len(scale) == 2 and 0 < scale[0] <= scale[1] <= 1):
            raise ValueError(f"scale must satisfy 0 < min <= max <= 1, got {scale!r}")
        if not (len(ratio) == 2 and 0 < ratio[0] <= ratio[1]):
            raise ValueError(f"ratio must satisfy 0 < min <= max, got {ratio!r}")
        if not 0 <= flip_p <= 1:
            raise ValueError(f"flip_p must be a probability in [0, 1], got {flip_p!r}")
        self.output_size = (int(output_size[0]), int(output_size[1]))
        self.scale = (float(scale[0]), float(scale[1]))
        self.ratio = (float(ratio[0]), float(ratio[1]))
        self.flip_p = float(flip_p)
        self.object_centered = bool(object_centered)

    def draw(
        self, n: int, size: tuple[int, int], fg_boxes: Tensor | None = None
    ) -> dict[str, Tensor]:
        """Draw crop boxes ``(x0, y0, w, h)`` (n, 4) long and ``flip`` (n,) bool, on the CPU.

        Args:
            n: Number of samples.
            size: Input (H, W).
            fg_boxes: Optional (n, 4) foreground boxes ``(x0, y0, x1, y1)``; used when
                ``object_centered`` is set. Rows with a negative ``x0`` are cropped as usual.
        """
        h, w = size
        area = float(h * w)
        tries = 10
        target = area * (torch.rand(n, tries) * (self.scale[1] - self.scale[0]) + self.scale[0])
        log_r = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        aspect = torch.exp(torch.rand(n, tries) * (log_r[1] - log_r[0]) + log_r[0])
        cw = torch.sqrt(target * aspect).round().long()
        ch = torch.sqrt(target / aspect).round().long()
        ok = (cw > 0) & (ch > 0) & (cw <= w) & (ch <= h)
        first = torch.where(ok.any(dim=1), ok.float().argmax(dim=1), torch.full((n,), -1))
        # torchvision's fallback: the whole image, clipped to the ratio range, centred.
        in_ratio = w / h
        if in_ratio < self.ratio[0]:
            fw, fh = w, int(round(w / self.ratio[0]))
        elif in_ratio > self.ratio[1]:
            fh, fw = h, int(round(h * self.ratio[1]))
        else:
            fw, fh = w, h
        idx = first.clamp(min=0)
        bw = torch.where(first >= 0, cw.gather(1, idx[:, None])[:, 0], torch.full((n,), fw))
        bh = torch.where(first >= 0, ch.gather(1, idx[:, None])[:, 0], torch.full((n,), fh))
        # Integer top-left corner, uniform over valid positions (torch.randint semantics).
        x0 = (torch.rand(n) * (w - bw + 1)).floor().long()
        y0 = (torch.rand(n) * (h - bh + 1)).floor().long()
        x0 = torch.where(first >= 0, x0, torch.full((n,), (w - fw) // 2))
        y0 = torch.where(first >= 0, y0, torch.full((n,), (h - fh) // 2))
        if self.object_centered and fg_boxes is not None:
            has = fg_boxes[:, 0] >= 0
            cx = fg_boxes[:, 0] + torch.rand(n) * (fg_boxes[:, 2] - fg_boxes[:, 0]).clamp(min=1)
            cy = fg_boxes[:, 1] + torch.rand(n) * (fg_boxes[:, 3] - fg_boxes[:, 1]).clamp(min=1)
            ox = (cx - bw / 2).round().long().clamp(min=0)
            oy = (cy - bh / 2).round().long().clamp(min=0)
            ox = torch.minimum(ox, w - bw)
            oy = torch.minimum(oy, h - bh)
            x0 = torch.where(has, ox, x0)
            y0 = torch.where(has, oy, y0)
        flip = torch.rand(n) < self.flip_p
        return {"boxes": torch.stack([x0, y0, bw, bh], dim=1), "flip": flip}

    def grid(
        self,
        params: dict[str, Tensor],
        size: tuple[int, int],
        device: torch.device,
        dtype: torch.dtype,
    ) -> Tensor:
        """Sampling grid (B, h, w, 2) for ``F.grid_sample`` with ``align_corners=False``.

        Output pixel centre ``u`` maps to input coordinate ``x0 + (u + 0.5) * w_box / w_out``;
        in normalised coordinates that is an axis-aligned affine map, built by
        broadcasting (no ``affine_grid`` matmul).
        """
        h, w = size
        boxes = params["boxes"].to(torch.float64)
        x0, y0, bw, bh = boxes.unbind(dim=1)
        sx = torch.where(params["flip"], -bw / w, bw / w)
        tx = (2 * x0 + bw) / w - 1
        sy = bh / h
        ty = (2 * y0 + bh) / h - 1
        out_h, out_w = self.output_size
        ox = (torch.arange(out_w, dtype=torch.float64) * 2 + 1) / out_w - 1  # pixel centres
        oy = (torch.arange(out_h, dtype=torch.float64) * 2 + 1) / out_h - 1
        gx = (sx[:, None] * ox[None, :] + tx[:, None]).to(device=device, dtype=dtype)
        gy = (sy[:, None] * oy[None, :] + ty[:, None]).to(device=device, dtype=dtype)
        n = boxes.shape[0]
        return torch.stack(
            [gx[:, None, :].expand(n, out_h, out_w), gy[:, :, None].expand(n, out_h, out_w)], dim=-1
        )

    def apply(
        self, images: Tensor, masks: Tensor, params: dict[str, Tensor]
    ) -> tuple[Tensor, Tensor]:
        """Crop, resize and flip ``images`` (bilinear) and ``masks`` (nearest) jointly."""
        grid = self.grid(params, (images.shape[-2], images.shape[-1]), images.device, images.dtype)
        out = F.grid_sample(
            images, grid, mode="bilinear", padding_mode="border", align_corners=False
        )
        out_m = F.grid_sample(
            masks.to(images.dtype), grid, mode="nearest", padding_mode="border", align_corners=False
        )
        return out.clamp_(0.0, 1.0), out_m

    def extra_repr(self) -> str:
        return (
            f"output_size={self.output_size}, scale={self.scale}, ratio={self.ratio}, "
            f"flip_p={self.flip_p}, object_centered={self.object_centered}"
        )
