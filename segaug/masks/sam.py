"""Segment Anything (SAM) foreground masks.

Two modes:

* ``center`` (default): one prompt per image at its centre, a point (``prompt="point"``)
  or a box leaving ``box_margin`` of the image out on every side (``prompt="box"``);
  SAM returns three candidate masks and the one with the best predicted IoU wins. The
  whole batch goes through SAM's image encoder at once (``Sam.forward`` with a list).
* ``auto``: :class:`segment_anything.SamAutomaticMaskGenerator` proposes masks from a
  grid of points (one image at a time, as that API works); the chosen mask maximises
  ``predicted_iou * centrality * area_term`` where ``centrality = 1 - d / d_max`` (``d``
  the distance of the mask's centroid from the image centre, ``d_max`` half the
  diagonal) and ``area_term = 4 a (1 - a)`` for the mask's area fraction ``a`` (1 at
  half the image, small for specks and for masks that cover everything). No mask
  proposed means an empty mask (the augmentation then falls back).

Checkpoints are the official files, e.g. ``sam_vit_b_01ec64.pth``, from
https://github.com/facebookresearch/segment-anything#model-checkpoints.

- [0]: Segment Anything, Kirillov et al., 2023, https://arxiv.org/abs/2304.02643
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from segaug.masks.base import (
    SEGMENTERS,
    Segmenter,
    check_checkpoint,
    file_sha256,
    load_state_dict,
    resolve_device,
)

SAM_MODEL_TYPES = ("vit_b", "vit_l", "vit_h")
SAM_MODES = ("center", "auto")
SAM_PROMPTS = ("point", "box")


@SEGMENTERS.register("sam")
class SamSegmenter(Segmenter):
    """Foreground masks from Segment Anything, prompted at the image centre or automatic.

    Args:
        model_type: ``"vit_b"``, ``"vit_l"`` or ``"vit_h"``.
        checkpoint: Path to the SAM state dict (required unless ``model`` is given).
        mode: ``"center"`` or ``"auto"``.
        prompt: For ``center``: ``"point"`` or ``"box"``.
        box_margin: For ``prompt="box"``: fraction left out on every side, in ``[0, 0.45]``.
        points_per_side: For ``auto``: grid density of the automatic generator.
        pred_iou_thresh: For ``auto``: the generator's predicted-IoU filter.
        stability_score_thresh: For ``auto``: the generator's stability filter.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``None`` for CUDA when available.
        amp: Use float16 autocast on CUDA (``center`` mode).
        model: An already built :class:`segment_anything.modeling.Sam` (for example a
            fine-tuned variant); then ``model_type`` and ``checkpoint`` are ignored and
            the weights identity is a hash of its state dict.

    Shape:
        - Input: :math:`(B, 3, H, W)` float in ``[0, 1]``.
        - Output: :math:`(B, 1, H, W)` float32 in ``{0, 1}``.

    Example:
        >>> seg = SamSegmenter("vit_b", checkpoint="sam_vit_b_01ec64.pth")  # doctest: +SKIP
        >>> seg(torch.rand(2, 3, 256, 256)).shape  # doctest: +SKIP
        torch.Size([2, 1, 256, 256])
    """

    name = "sam"
    loads_weights = True

    def __init__(
        self,
        model_type: str = "vit_b",
        checkpoint: str | os.PathLike[str] | None = None,
        mode: str = "center",
        prompt: str = "point",
        box_margin: float = 0.1,
        points_per_side: int = 16,
        pred_iou_thresh: float = 0.8,
        stability_score_thresh: float = 0.9,
        device: str | torch.device | None = "cpu",
        amp: bool = True,
        model: torch.nn.Module | None = None,
    ) -> None:
        if mode not in SAM_MODES:
            raise ValueError(f"mode must be one of {SAM_MODES}, got {mode!r}")
        if prompt not in SAM_PROMPTS:
            raise ValueError(f"prompt must be one of {SAM_PROMPTS}, got {prompt!r}")
        if not isinstance(box_margin, (int, float)) or not 0.0 <= box_margin <= 0.45:
            raise ValueError(f"box_margin must be a float in [0, 0.45], got {box_margin!r}")
        if not isinstance(points_per_side, int) or points_per_side < 1:
            raise ValueError(f"points_per_side must be an int >= 1, got {points_per_side!r}")
        for arg, value in (
            ("pred_iou_thresh", pred_iou_thresh),
            ("stability_score_thresh", stability_score_thresh),
        ):
            if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ValueError(f"{arg} must be a float in [0, 1], got {value!r}")
        try:
            from segment_anything import sam_model_registry
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError(
                "the 'sam' segmenter needs segment-anything: pip install 'segaug[sam]'"
            ) from err

        if model is not None:
            self.model_type = "custom"
            self.weights_id = f"state:{_state_dict_sha256(model)}"
        else:
            if model_type not in SAM_MODEL_TYPES:
                raise ValueError(f"model_type must be one of {SAM_MODEL_TYPES}, got {model_type!r}")
            path = check_checkpoint(checkpoint, "sam")
            if path is None:
                raise ValueError(
                    "sam needs checkpoint=PATH (got None): download the official "
                    f"sam_{model_type}_*.pth from "
                    "https://github.com/facebookresearch/segment-anything#model-checkpoints "
                    "(CLI: --checkpoint PATH)"
                )
            model = sam_model_registry[model_type](checkpoint=None)
            try:
                model.load_state_dict(load_state_dict(path))
            except RuntimeError as err:
                raise ValueError(
                    f"checkpoint {path!r} does not match SAM {model_type}: {err}"
                ) from err
            self.model_type = model_type
            self.weights_id = f"sha256:{file_sha256(path)}"
        self.mode = mode
        self.prompt = prompt
        self.box_margin = float(box_margin)
        self.points_per_side = points_per_side
        self.pred_iou_thresh = float(pred_iou_thresh)
        self.stability_score_thresh = float(stability_score_thresh)
        self.amp = bool(amp)
        self._device = resolve_device(device)
        self.model = model.eval().to(self._device)
        self._generator: Any = None

    def _config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {
            "mode": self.mode,
            "model_type": self.model_type,
            "weights": self.weights_id,
        }
        if self.mode == "center":
            cfg["prompt"] = self.prompt
            cfg["amp"] = self.amp
            if self.prompt == "box":
                cfg["box_margin"] = self.box_margin
        else:
            cfg["points_per_side"] = self.points_per_side
            cfg["pred_iou_thresh"] = self.pred_iou_thresh
            cfg["stability_score_thresh"] = self.stability_score_thresh
        return cfg

    def _segment(self, images: torch.Tensor) -> torch.Tensor:
        if self.mode == "center":
            return self._segment_center(images)
        return self._segment_auto(images)

    def _segment_center(self, images: torch.Tensor) -> torch.Tensor:
        from segment_anything.utils.transforms import ResizeLongestSide

        b, _, h, w = images.shape
        side = self.model.image_encoder.img_size
        new_h, new_w = ResizeLongestSide.get_preprocess_shape(h, w, side)
        x = images.to(self._device, torch.float32) * 255.0
        x = F.interpolate(x, (new_h, new_w), mode="bilinear", align_corners=False, antialias=True)
        sx, sy = new_w / w, new_h / h
        batched: list[dict[str, Any]] = []
        for i in range(b):
            record: dict[str, Any] = {"image": x[i], "original_size": (h, w)}
            if self.prompt == "point":
                point = torch.tensor([[[w / 2 * sx, h / 2 * sy]]], device=self._device)
                record["point_coords"] = point
                record["point_labels"] = torch.ones(1, 1, device=self._device)
            else:
                m = self.box_margin
                box = [m * w * sx, m * h * sy, (1 - m) * w * sx, (1 - m) * h * sy]
                record["boxes"] = torch.tensor([box], device=self._device)
            batched.append(record)
        use_amp = self.amp and self._device.type == "cuda"
        with torch.inference_mode(), torch.autocast(x.device.type, torch.float16, enabled=use_amp):
            outputs = self.model(batched, multimask_output=True)
        masks = []
        for out in outputs:
            best = int(out["iou_predictions"][0].float().argmax())
            masks.append(out["masks"][0, best])
        return torch.stack(masks).unsqueeze(1).float()

    def _segment_auto(self, images: torch.Tensor) -> torch.Tensor:
        from segment_anything import SamAutomaticMaskGenerator

        if self._generator is None:
            self._generator = SamAutomaticMaskGenerator(
                self.model,
                points_per_side=self.points_per_side,
                pred_iou_thresh=self.pred_iou_thresh,
                stability_score_thresh=self.stability_score_thresh,
            )
        arrays = (images.detach() * 255).round().clamp(0, 255).to(torch.uint8)
        arrays = arrays.permute(0, 2, 3, 1).cpu().numpy()
        with torch.inference_mode():
            masks = [pick_central_mask(self._generator.generate(a), a.shape[:2]) for a in arrays]
        return torch.from_numpy(np.stack(masks)).unsqueeze(1).float()


def pick_central_mask(proposals: list[dict[str, Any]], shape: tuple[int, int]) -> np.ndarray:
    """Choose the proposal maximising ``predicted_iou * centrality * 4a(1-a)``.

    Args:
        proposals: Output of ``SamAutomaticMaskGenerator.generate`` (``output_mode``
            ``"binary_mask"``): dicts with ``segmentation`` (bool ``(H, W)``) and
            ``predicted_iou``.
        shape: ``(H, W)`` of the image, for the empty result.

    Returns:
        uint8 ``(H, W)`` mask in ``{0, 1}``; all zeros when there is no proposal.
    """
    h, w = shape
    best, best_score = np.zeros((h, w), np.uint8), 0.0
    half_diag = 0.5 * float(np.hypot(h, w))
    for p in proposals:
        seg = np.asarray(p["segmentation"], dtype=bool)
        area = float(seg.mean())
        if area == 0.0:
            continue
        ys, xs = np.nonzero(seg)
        dist = float(np.hypot(ys.mean() + 0.5 - h / 2, xs.mean() + 0.5 - w / 2))
        score = float(p["predicted_iou"]) * max(0.0, 1 - dist / half_diag) * 4 * area * (1 - area)
        if score > best_score:
            best, best_score = seg.astype(np.uint8), score
    return best


def _state_dict_sha256(model: torch.nn.Module, length: int = 16) -> str:
    digest = hashlib.sha256()
    for key, value in sorted(model.state_dict().items()):
        digest.update(key.encode())
        digest.update(value.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy())
    return digest.hexdigest()[:length]
