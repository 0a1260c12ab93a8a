"""Backbones: ResNet-18/34/50 with SimCLR width multipliers and a CIFAR stem, and ViTs.

Every backbone is an ``nn.Module`` with ``num_features`` (the feature dimension) whose
``forward(images)`` returns pooled features ``(B, num_features)``. They are registered
in :data:`BACKBONES` and built with :func:`build_backbone`.

The ResNets reuse torchvision's ``BasicBlock``/``Bottleneck`` and initialisation; with
``width=1`` and the ImageNet stem the parameter names and shapes match
``torchvision.models.resnet50()`` (without ``fc``). The width multiplier scales every
channel count, as in SimCLR's ResNet-50 (2x)/(4x). The CIFAR stem replaces the 7x7/2
convolution and the max-pool by a 3x3/1 convolution (thesis section 5.2.1).

References:
    - [0]: SimCLR, 2020, https://arxiv.org/abs/2002.05709
    - [1]: ResNet, 2015, https://arxiv.org/abs/1512.03385
    - [2]: ViT, 2020, https://arxiv.org/abs/2010.11929

Example:
    >>> import torch
    >>> net = build_backbone("resnet18", image_size=32, width=0.25)
    >>> net(torch.rand(2, 3, 32, 32)).shape
    torch.Size([2, 128])
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

import torch
from torch import Tensor, nn
from torchvision.models.resnet import BasicBlock, Bottleneck
from torchvision.models.vision_transformer import EncoderBlock

from segaug.registry import Registry

BACKBONES: Registry = Registry("backbone")

CIFAR_STEM_MAX_SIZE = 64


def make_norm2d(norm: str) -> Callable[[int], nn.Module]:
    """Return a 2D normalisation layer factory: ``batch`` or ``group`` (GroupNorm)."""
    if norm == "batch":
        return nn.BatchNorm2d
    if norm == "group":
        return lambda c: nn.GroupNorm(math.gcd(32, c), c)
    raise ValueError(f"norm {norm!r}: expected 'batch' or 'group'")


class ResNet(nn.Module):
    """ResNet trunk with a width multiplier and an ImageNet or CIFAR stem.

    Args:
        block: ``BasicBlock`` or ``Bottleneck`` from torchvision.
        layers: Blocks per stage, e.g. ``[3, 4, 6, 3]`` for ResNet-50.
        width: Channel multiplier (1, 2, 4 in SimCLR; fractions for tiny tests).
        cifar_stem: Use a 3x3 stride-1 first convolution and no max-pool.
        norm: ``batch`` or ``group``.
        zero_init_residual: Zero-init the last norm layer of each residual block.

    Shape:
        - Input: ``(B, 3, H, W)``
        - Output: ``(B, num_features)`` with ``num_features = round(512*width)*expansion``
    """

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        layers: list[int],
        width: float = 1.0,
        cifar_stem: bool = False,
        norm: str = "batch",
        zero_init_residual: bool = False,
    ) -> None:
        super().__init__()
        if width <= 0:
            raise ValueError(f"width must be > 0, got {width}")
        self._norm_layer = make_norm2d(norm)
        self.inplanes = max(1, round(64 * width))
        self.dilation = 1
        self.groups = 1
        self.base_width = 64
        if cifar_stem:
            self.conv1 = nn.Conv2d(3, self.inplanes, 3, stride=1, padding=1, bias=False)
            self.maxpool: nn.Module = nn.Identity()
        else:
            self.conv1 = nn.Conv2d(3, self.inplanes, 7, stride=2, padding=3, bias=False)
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.bn1 = self._norm_layer(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        widths = [max(1, round(c * width)) for c in (64, 128, 256, 512)]
        self.layer1 = self._make_layer(block, widths[0], layers[0])
        self.layer2 = self._make_layer(block, widths[1], layers[1], stride=2)
        self.layer3 = self._make_layer(block, widths[2], layers[2], stride=2)
        self.layer4 = self._make_layer(block, widths[3], layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.num_features = widths[3] * block.expansion

        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    nn.init.constant_(m.bn3.weight, 0)
                elif isinstance(m, BasicBlock):
                    nn.init.constant_(m.bn2.weight, 0)

    def _make_layer(
        self, block: type[BasicBlock] | type[Bottleneck], planes: int, blocks: int, stride: int = 1
    ) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride=stride, bias=False),
                self._norm_layer(planes * block.expansion),
            )
        # base_width=64 keeps Bottleneck's inner width equal to ``planes`` (already scaled)
        layers = [block(self.inplanes, planes, stride, downsample, norm_layer=self._norm_layer)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes, norm_layer=self._norm_layer))
        return nn.Sequential(*layers)

    def feature_map(self, x: Tensor) -> Tensor:
        """The last stage's spatial map, before pooling (VICRegL's local features).

        Shape:
            - Input: ``(B, 3, H, W)``
            - Output: ``(B, num_features, h, w)``, ``h = H / 8`` with the CIFAR stem
        """
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward(self, x: Tensor) -> Tensor:
        return torch.flatten(self.avgpool(self.feature_map(x)), 1)


def _resnet(block, layers, image_size, width=1.0, stem="auto", norm="batch", **kw) -> ResNet:
    if stem not in ("auto", "cifar", "imagenet"):
        raise ValueError(f"stem {stem!r}: expected 'auto', 'cifar' or 'imagenet'")
    cifar = stem == "cifar" or (stem == "auto" and image_size <= CIFAR_STEM_MAX_SIZE)
    zero = kw.pop("zero_init_residual", False)
    return ResNet(block, layers, width, cifar, norm, zero)


@BACKBONES.register("resnet18")
def resnet18(image_size: int = 224, **kwargs) -> ResNet:
    """ResNet-18 (512*width features)."""
    return _resnet(BasicBlock, [2, 2, 2, 2], image_size, **kwargs)


@BACKBONES.register("resnet34")
def resnet34(image_size: int = 224, **kwargs) -> ResNet:
    """ResNet-34 (512*width features)."""
    return _resnet(BasicBlock, [3, 4, 6, 3], image_size, **kwargs)


@BACKBONES.register("resnet50")
def resnet50(image_size: int = 224, **kwargs) -> ResNet:
    """ResNet-50 (2048*width features); SimCLR's 1x/2x/4x via ``width``."""
    return _resnet(Bottleneck, [3, 4, 6, 3], image_size, **kwargs)


# ---------------------------------------------------------------------------- ViT


class ConvNet(nn.Module):
    r"""A four-stage plain ConvNet sized for CPUs at small images (the compare default).

    Stages of 3x3 convolution + norm + ReLU with ``32, 64, 128, 256`` channels times
    ``width``; the first keeps the resolution, the others halve it; global average pool.
    At 32 px and ``width=0.5`` (16-32-64-128 channels, 0.1M parameters) one
    forward/backward costs about 1/8 of a ResNet-18 at width 0.25, which is what lets
    ``segaug-compare`` pretrain twelve encoders on two CPU cores in minutes
    (``benchmarks/train_step.py``). Not a substitute for a ResNet on real data.

    Args:
        width: Channel multiplier.
        norm: ``batch`` or ``group``.

    Shape:
        - Input: :math:`(B, 3, H, W)`.
        - Output: :math:`(B, 256 \cdot width)`.

    Example:
        >>> net = ConvNet(width=0.5)
        >>> net(torch.rand(2, 3, 32, 32)).shape
        torch.Size([2, 128])
    """

    def __init__(self, width: float = 1.0, norm: str = "batch") -> None:
        super().__init__()
        if not width > 0:
            raise ValueError(f"width must be > 0, got {width!r}")
        make_norm = make_norm2d(norm)
        chans = [max(4, int(round(c * width))) for c in (32, 64, 128, 256)]
        layers: list[nn.Module] = []
        c_in = 3
        for i, c in enumerate(chans):
            layers += [
                nn.Conv2d(c_in, c, 3, 1 if i == 0 else 2, 1, bias=False),
                make_norm(c),
                nn.ReLU(inplace=True),
            ]
            c_in = c
        self.body = nn.Sequential(*layers)
        self.num_features = chans[-1]
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def feature_map(self, x: Tensor) -> Tensor:
        """The last spatial map, :math:`(B, C, H/8, W/8)` (for local losses)."""
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.feature_map(x).mean(dim=(2, 3))


@BACKBONES.register("convnet")
def convnet(
    image_size: int = 32,
    width: float = 1.0,
    norm: str = "batch",
    stem: str = "auto",
    zero_init_residual: bool = False,
) -> ConvNet:
    """:class:`ConvNet`; ``stem`` and ``zero_init_residual`` are accepted for config
    compatibility with the ResNets and ignored."""
    return ConvNet(width=width, norm=norm)


def sincos_pos_embed(dim: int, grid: int) -> Tensor:
    """Fixed 2D sine-cosine position embedding as in MAE.

    Shape:
        - Output: ``(grid*grid, dim)``
    """
    if dim % 4 != 0:
        raise ValueError(f"embedding dim must be a multiple of 4, got {dim}")
    coords = torch.arange(grid, dtype=torch.float64)
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    omega = 1.0 / 10000 ** (torch.arange(dim // 4, dtype=torch.float64) / (dim / 4))

    def emb(pos: Tensor) -> Tensor:
        out = pos.reshape(-1, 1) * omega.reshape(1, -1)
        return torch.cat([out.sin(), out.cos()], dim=1)

    return torch.cat([emb(yy), emb(xx)], dim=1).float()


class ViT(nn.Module):
    """A compact Vision Transformer that can encode a subset of patches (for MAE).

    Built from torchvision's ``EncoderBlock``; fixed sin-cos position embeddings and a
    class token. ``forward`` returns the final class token.

    Args:
        image_size: Input side length (multiple of ``patch_size``).
        patch_size: Patch side length.
        dim: Embedding dimension.
        depth: Number of transformer blocks.
        num_heads: Attention heads.
        mlp_ratio: Hidden size of the MLP as a multiple of ``dim``.

    Shape:
        - Input: ``(B, 3, H, W)``
        - Output: ``(B, dim)``
    """

    def __init__(
        self,
        image_size: int,
        patch_size: int,
        dim: int,
        depth: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
    ) -> None:
        super().__init__()
        if image_size % patch_size != 0:
            raise ValueError(f"image_size {image_size} is not a multiple of patch {patch_size}")
        self.patch_size = patch_size
        self.grid = image_size // patch_size
        self.num_features = dim
        self.patch_embed = nn.Conv2d(3, dim, patch_size, stride=patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.register_buffer("pos_embed", sincos_pos_embed(dim, self.grid), persistent=False)
        norm = partial(nn.LayerNorm, eps=1e-6)
        self.blocks = nn.ModuleList(
            EncoderBlock(num_heads, dim, int(dim * mlp_ratio), 0.0, 0.0, norm) for _ in range(depth)
        )
        self.norm = norm(dim)
        nn.init.normal_(self.cls_token, std=0.02)
        w = self.patch_embed.weight.data
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        for m in self.blocks.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def tokens(self, x: Tensor) -> Tensor:
        """Patch tokens with position embedding, ``(B, N, dim)``."""
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        return x + self.pos_embed.to(x.dtype)

    def encode(self, tokens: Tensor) -> Tensor:
        """Prepend the class token, run the blocks; returns ``(B, 1 + n, dim)``."""
        cls = self.cls_token.expand(tokens.shape[0], -1, -1).to(tokens.dtype)
        x = torch.cat([cls, tokens], dim=1)
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.encode(self.tokens(x))[:, 0]


_VIT_PRESETS = {"vit_tiny": (192, 12, 3), "vit_small": (384, 12, 6), "vit_base": (768, 12, 12)}


def _vit(name: str, image_size: int, patch_size: int = 16, depth: int | None = None, **kw) -> ViT:
    unknown = set(kw) - {"width", "stem", "norm", "zero_init_residual"}
    if unknown:
        raise ValueError(f"{name}: unexpected arguments {sorted(unknown)}")
    dim, preset_depth, heads = _VIT_PRESETS[name]
    return ViT(image_size, patch_size, dim, depth or preset_depth, heads)


@BACKBONES.register("vit_tiny")
def vit_tiny(image_size: int = 224, **kwargs) -> ViT:
    """ViT-Tiny (dim 192, 12 blocks, 3 heads)."""
    return _vit("vit_tiny", image_size, **kwargs)


@BACKBONES.register("vit_small")
def vit_small(image_size: int = 224, **kwargs) -> ViT:
    """ViT-Small (dim 384, 12 blocks, 6 heads)."""
    return _vit("vit_small", image_size, **kwargs)


@BACKBONES.register("vit_base")
def vit_base(image_size: int = 224, **kwargs) -> ViT:
    """ViT-Base (dim 768, 12 blocks, 12 heads)."""
    return _vit("vit_base", image_size, **kwargs)


def build_backbone(name: str, image_size: int, **kwargs) -> nn.Module:
    """Build a registered backbone for inputs of side ``image_size``.

    Args:
        name: Registered backbone name (one of ``BACKBONES.names()``).
        image_size: Input side length (chooses the CIFAR stem for <= 64 px with ``stem=auto``).
        **kwargs: ``width``, ``stem``, ``norm``, ``zero_init_residual`` (ResNet);
            ``patch_size``, ``depth`` (ViT).

    Raises:
        ValueError: Unknown name (listing the known ones) or bad arguments.
    """
    factory = BACKBONES.get(name)
    if name.startswith("resnet") or name == "convnet":
        kwargs.pop("patch_size", None)
        if kwargs.pop("depth", None) is not None:
            raise ValueError(f"{name}: 'depth' applies to ViT backbones only")
    return factory(image_size=image_size, **kwargs)
