"""DeepLabV3 foreground masks (the segmenter of the thesis, section 4.2.2).

The model predicts one of 21 PASCAL VOC classes per pixel; a pixel is foreground when
its most probable class is not ``__background__`` (or, with ``classes=[...]``, when it
is one of the given classes). On datasets whose objects are not VOC classes (flowers,
textures, scenes) most masks come out empty and the augmentation falls back to the
global pipeline: log the fallback rate (``segaug-precompute-masks --stats``).

- [0]: Rethinking Atrous Convolution for Semantic Image Segmentation (DeepLabV3),
  Chen et al., 2017, https://arxiv.org/abs/1706.05587
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
import torchvision
from torchvision.models import get_model_weights

from segaug.masks.base import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    SEGMENTERS,
    Segmenter,
    check_checkpoint,
    file_sha256,
    load_state_dict,
    resolve_device,
)

DEEPLAB_BACKBONES = ("resnet50", "resnet101", "mobilenet_v3_large")

_BUILDERS = {
    "resnet50": torchvision.models.segmentation.deeplabv3_resnet50,
    "resnet101": torchvision.models.segmentation.deeplabv3_resnet101,
    "mobilenet_v3_large": torchvision.models.segmentation.deeplabv3_mobilenet_v3_large,
}


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights are neither in torch's cache nor downloadable."""


@SEGMENTERS.register("deeplabv3")
class DeepLabV3Segmenter(Segmenter):
    """Foreground = DeepLabV3's argmax class is not background (or is in ``classes``).

    Images are ImageNet-normalised, resized so that their shorter side is
    ``resolution`` (bilinear, antialiased), segmented in one batch under
    ``torch.inference_mode`` (float16 autocast on CUDA when ``amp``), and the logits
    are resized back to the input size before the argmax.

    Args:
        backbone: ``"resnet50"``, ``"resnet101"`` or ``"mobilenet_v3_large"``.
        weights: Name of a torchvision weights enum member for the backbone
            (``"DEFAULT"``, ``"COCO_WITH_VOC_LABELS_V1"``), used when ``checkpoint`` is
            ``None``. Downloaded once into torch's cache (``TORCH_HOME``).
        checkpoint: Path to a state dict saved with ``torch.save(model.state_dict())``
            of the torchvision model; takes precedence over ``weights``. Number of
            classes and the auxiliary head are read from the state dict.
        classes: Class indices (or VOC names such as ``"person"``) that count as
            foreground; ``None`` means every class except index 0 (background).
        resolution: Shorter side the model sees, or ``None`` to keep the input size.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``None`` for CUDA when available.
        amp: Use float16 autocast on CUDA.

    Shape:
        - Input: :math:`(B, 3, H, W)` float in ``[0, 1]``.
        - Output: :math:`(B, 1, H, W)` float32 in ``{0, 1}``.

    Raises:
        WeightsUnavailableError: If ``weights`` are not cached and cannot be downloaded.

    Example:
        >>> seg = DeepLabV3Segmenter(checkpoint="deeplabv3_resnet50.pth")  # doctest: +SKIP
        >>> seg(torch.rand(2, 3, 224, 224)).shape  # doctest: +SKIP
        torch.Size([2, 1, 224, 224])
    """

    name = "deeplabv3"
    loads_weights = True

    def __init__(
        self,
        backbone: str = "resnet50",
        weights: str | None = "DEFAULT",
        checkpoint: str | os.PathLike[str] | None = None,
        classes: Sequence[int | str] | None = None,
        resolution: int | None = 520,
        device: str | torch.device | None = "cpu",
        amp: bool = True,
    ) -> None:
        if backbone not in DEEPLAB_BACKBONES:
            raise ValueError(f"backbone must be one of {DEEPLAB_BACKBONES}, got {backbone!r}")
        if resolution is not None and (not isinstance(resolution, int) or resolution < 16):
            raise ValueError(f"resolution must be an int >= 16 or None, got {resolution!r}")
        checkpoint = check_checkpoint(checkpoint, "deeplabv3")
        if checkpoint is None and weights is None:
            raise ValueError(
                "deeplabv3 needs weights: got weights=None and checkpoint=None; pass "
                "weights='DEFAULT' (downloads once) or checkpoint='path/to/state_dict.pth'"
            )
        self.backbone = backbone
        self.resolution = resolution
        self.amp = bool(amp)
        self._device = resolve_device(device)

        if checkpoint is not None:
            state = load_state_dict(checkpoint)
            self.weights_id = f"sha256:{file_sha256(checkpoint)}"
        else:
            state, self.weights_id = _pretrained_state_dict(backbone, str(weights))
        if "classifier.4.weight" not in state:
            raise ValueError(
                f"checkpoint {checkpoint!r} is not a torchvision DeepLabV3 state dict "
                "(no 'classifier.4.weight')"
            )
        self.num_classes = int(state["classifier.4.weight"].shape[0])
        self.classes = _resolve_classes(classes, self.num_classes)
        aux = any(k.startswith("aux_classifier.") for k in state)
        model = _BUILDERS[backbone](
            weights=None, weights_backbone=None, num_classes=self.num_classes, aux_loss=aux
        )
        try:
            model.load_state_dict(state)
        except RuntimeError as err:
            raise ValueError(
                f"checkpoint does not match torchvision deeplabv3_{backbone}: {err}"
            ) from err
        self.model = model.eval().to(self._device)
        self._mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        self._std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)

    def _config(self) -> dict[str, Any]:
        return {
            "amp": self.amp,
            "backbone": self.backbone,
            "classes": self.classes,
            "resolution": self.resolution,
            "weights": self.weights_id,
        }

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """Class logits at the input resolution, ``(B, num_classes, H, W)`` float32."""
        h, w = images.shape[-2:]
        x = images.to(self._device, torch.float32)
        if self.resolution is not None and min(h, w) != self.resolution:
            scale = self.resolution / min(h, w)
            size = (max(1, round(h * scale)), max(1, round(w * scale)))
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
        x = (x - self._mean.to(x.device)) / self._std.to(x.device)
        use_amp = self.amp and self._device.type == "cuda"
        with torch.inference_mode(), torch.autocast(x.device.type, torch.float16, enabled=use_amp):
            out = self.model(x)["out"]
        out = out.float()
        if out.shape[-2:] != (h, w):
            out = F.interpolate(out, size=(h, w), mode="bilinear", align_corners=False)
        return out

    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """Foreground probability ``(B, 1, H, W)`` in ``[0, 1]`` (softmax mass of fg classes)."""
        probs = self.logits(images).softmax(dim=1)
        if self.classes is None:
            return 1.0 - probs[:, :1]
        return probs[:, self.classes].sum(dim=1, keepdim=True)

    def _segment(self, images: torch.Tensor) -> torch.Tensor:
        labels = self.logits(images).argmax(dim=1, keepdim=True)
        if self.classes is None:
            return (labels != 0).float()
        wanted = torch.tensor(self.classes, device=labels.device)
        return torch.isin(labels, wanted).float()


def _pretrained_state_dict(backbone: str, weights: str) -> tuple[dict[str, torch.Tensor], str]:
    enum = get_model_weights(f"deeplabv3_{backbone}")
    try:
        member = enum.verify(weights)
    except (KeyError, ValueError) as err:
        names = ["DEFAULT", *[m.name for m in enum]]
        raise ValueError(
            f"weights for deeplabv3 {backbone} must be one of {names}, got {weights!r}"
        ) from err
    try:
        state = member.get_state_dict(progress=True, check_hash=True)
    except Exception as err:  # noqa: BLE001 - any download failure gets the same advice
        cache = os.path.join(torch.hub.get_dir(), "checkpoints")
        raise WeightsUnavailableError(
            f"could not load pretrained weights {member} for deeplabv3 {backbone}: they are "
            f"not in torch's cache ({cache}) and downloading {member.url} failed "
            f"({type(err).__name__}: {err}). Either copy the file into that folder, or save "
            "the model's state dict on a machine with internet and pass "
            "checkpoint='path/to/deeplabv3.pth' (CLI: --checkpoint PATH)."
        ) from None
    return state, f"{type(member).__name__}.{member.name}"


def _resolve_classes(classes: Sequence[int | str] | None, num_classes: int) -> list[int] | None:
    if classes is None:
        return None
    if isinstance(classes, (str, int)) or not isinstance(classes, Sequence) or not classes:
        raise ValueError(
            f"classes must be a non-empty list of class indices or VOC names, got {classes!r}"
        )
    voc = get_model_weights("deeplabv3_resnet50").DEFAULT.meta["categories"]
    out = []
    for c in classes:
        if isinstance(c, str):
            if num_classes != len(voc) or c not in voc:
                raise ValueError(f"classes: unknown class name {c!r}; expected one of {voc}")
            c = voc.index(c)
        if not isinstance(c, int) or not 0 <= c < num_classes:
            raise ValueError(f"classes: expected indices in [0, {num_classes}), got {c!r}")
        out.append(int(c))
    return sorted(set(out))
