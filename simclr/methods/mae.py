"""MAE: masked autoencoder with a ViT encoder and a light decoder.

The encoder sees only the visible patches (25% by default); a small transformer
decoder reconstructs the pixels of the masked ones; the loss is the mean squared error
on masked patches of per-patch normalised pixels (``norm_pix_loss``).

Our extension, **mask-guided patch masking**: with ``mask_guided=True`` the patches to
hide are drawn without replacement with weights ``1 + (background_weight - 1) * b``,
where ``b`` is the patch's background fraction under the segaug foreground mask of the
view. ``background_weight > 1`` hides background patches more often than foreground
ones, so the encoder sees more of the object and the decoder must reconstruct more
background; ``background_weight = 1`` is exactly MAE's uniform masking. The draw uses
Gumbel top-k (Efraimidis-Spirakis weighted sampling without replacement). This is not
part of the MAE paper.

References:
    - [0]: MAE, 2021, https://arxiv.org/abs/2111.06377
    - [1]: Weighted sampling without replacement, 2006, https://doi.org/10.1016/j.ipl.2005.11.003
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.vision_transformer import EncoderBlock

from simclr.methods.base import METHODS, Method, MethodOutput, MethodParams
from simclr.models.backbones import ViT, sincos_pos_embed


@dataclass
class MAEParams(MethodParams):
    """MAE hyper-parameters.

    Attributes:
        mask_ratio: Fraction of patches hidden from the encoder (0.75 in MAE).
        decoder_dim: Decoder embedding width.
        decoder_depth: Decoder blocks.
        decoder_heads: Decoder attention heads.
        norm_pix_loss: Normalise each target patch by its mean/std (MAE default).
        mask_guided: Our extension: hide background patches more often (see module doc).
        background_weight: Sampling weight of an all-background patch relative to an
            all-foreground one (used with ``mask_guided``), >= 1 hides more background.
    """

    mask_ratio: float = 0.75
    decoder_dim: int = 128
    decoder_depth: int = 2
    decoder_heads: int = 4
    norm_pix_loss: bool = True
    mask_guided: bool = False
    background_weight: float = 3.0

    def validate(self) -> None:
        def bad(name: str, expected: str) -> ValueError:
            return ValueError(
                f"config 'method.params.{name}' = {getattr(self, name)!r}: expected {expected}"
            )

        if not 0 < self.mask_ratio < 1:
            raise bad("mask_ratio", "a number in (0, 1)")
        if self.decoder_dim < 4 or self.decoder_dim % 4 != 0:
            raise bad("decoder_dim", "a multiple of 4")
        if self.decoder_depth < 1:
            raise bad("decoder_depth", "an integer >= 1")
        if self.decoder_heads < 1 or self.decoder_dim % self.decoder_heads != 0:
            raise bad("decoder_heads", "a divisor of decoder_dim")
        if not self.background_weight > 0:
            raise bad("background_weight", "a number > 0")


def patchify(images: Tensor, p: int) -> Tensor:
    """Split images into flattened patches.

    Shape:
        - images: ``(B, C, H, W)``
        - Output: ``(B, (H/p)*(W/p), p*p*C)``
    """
    b, c, h, w = images.shape
    x = images.reshape(b, c, h // p, p, w // p, p)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(b, (h // p) * (w // p), p * p * c)


def choose_masked(
    batch: int, num_patches: int, num_masked: int, weights: Tensor | None, device: torch.device
) -> Tensor:
    """Per-sample shuffles: the last ``num_masked`` indices of each row are hidden.

    Uniform (MAE) when ``weights`` is None, otherwise weighted sampling without
    replacement of the masked set (Gumbel top-k on ``log(weights)``).

    Shape:
        - weights: ``(B, N)`` positive
        - Output: ``(B, N)`` permutation indices (visible first, then masked)
    """
    u = torch.rand(batch, num_patches, device=device)
    if weights is None:
        keys = u  # MAE: keep the smallest noise, mask the largest
    else:
        gumbel = -torch.log(-torch.log(u.clamp_min(1e-20)).clamp_min(1e-20))
        keys = torch.log(weights) + gumbel  # largest keys are masked
    return torch.argsort(keys, dim=1)


@METHODS.register("mae")
class MAE(Method):
    """Masked autoencoder on a :class:`~simclr.models.backbones.ViT` encoder.

    Args:
        backbone: A ``ViT`` (``vit_tiny|vit_small|vit_base``).
        params: :class:`MAEParams`.
        norm: Unused (ViTs use LayerNorm); kept for a uniform constructor.

    Shape:
        - images: one ``(n, 3, H, W)`` view; masks: one ``(n, 1, H, W)``
        - embeddings: ``[per-sample loss (n,)]``

    Example:
        >>> import torch
        >>> from simclr.models import build_backbone
        >>> vit = build_backbone("vit_tiny", 16, patch_size=4, depth=1)
        >>> m = MAE(vit, MAEParams(decoder_depth=1))
        >>> out = m([torch.rand(2, 3, 16, 16)], [torch.ones(2, 1, 16, 16)])
        >>> out.embeddings[0].shape
        torch.Size([2])
    """

    config_class = MAEParams
    batch_coupled = False
    num_views = 1
    smoke_params = {"decoder_depth": 1, "decoder_dim": 32, "decoder_heads": 2}

    def __init__(self, backbone: nn.Module, params: MAEParams, norm: str = "batch") -> None:
        super().__init__(backbone)
        if not isinstance(backbone, ViT):
            raise ValueError("method 'mae' needs a ViT backbone (vit_tiny, vit_small, vit_base)")
        self.params = params
        p, grid, dim = backbone.patch_size, backbone.grid, backbone.num_features
        self.decoder_embed = nn.Linear(dim, params.decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, params.decoder_dim))
        self.register_buffer(
            "decoder_pos", sincos_pos_embed(params.decoder_dim, grid), persistent=False
        )
        ln = partial(nn.LayerNorm, eps=1e-6)
        self.decoder_blocks = nn.ModuleList(
            EncoderBlock(
                params.decoder_heads, params.decoder_dim, 4 * params.decoder_dim, 0.0, 0.0, ln
            )
            for _ in range(params.decoder_depth)
        )
        self.decoder_norm = ln(params.decoder_dim)
        self.decoder_pred = nn.Linear(params.decoder_dim, p * p * 3)
        nn.init.normal_(self.mask_token, std=0.02)

    @classmethod
    def check_backbone(cls, name: str) -> None:
        if not name.startswith("vit"):
            raise ValueError(
                f"config 'model.backbone' = {name!r}: method 'mae' expects a ViT "
                "(vit_tiny, vit_small, vit_base)"
            )

    def patch_weights(self, masks: Tensor) -> Tensor:
        """Masking weights ``1 + (w - 1) * background_fraction`` per patch, ``(n, N)``."""
        p = self.backbone.patch_size
        fg = F.avg_pool2d(masks.float(), kernel_size=p, stride=p).flatten(1)
        return 1.0 + (self.params.background_weight - 1.0) * (1.0 - fg)

    def forward(self, images: list[Tensor], masks: list[Tensor]) -> MethodOutput:
        x, m = images[0], masks[0]
        vit: ViT = self.backbone  # type: ignore[assignment]
        tokens = vit.tokens(x)  # (n, N, D)
        n, num, dim = tokens.shape
        num_masked = int(round(num * self.params.mask_ratio))
        num_keep = num - num_masked
        weights = self.patch_weights(m) if self.params.mask_guided else None
        order = choose_masked(n, num, num_masked, weights, x.device)
        keep = order[:, :num_keep]
        visible = torch.gather(tokens, 1, keep.unsqueeze(-1).expand(-1, -1, dim))
        latent = vit.encode(visible)  # (n, 1 + keep, D)

        # decoder: visible latents + mask tokens, unshuffled, with position embedding
        y = self.decoder_embed(latent)
        mask_tokens = self.mask_token.to(y.dtype).expand(n, num_masked, -1)
        y_shuf = torch.cat([y[:, 1:], mask_tokens], dim=1)
        restore = torch.argsort(order, dim=1)
        y_full = torch.gather(y_shuf, 1, restore.unsqueeze(-1).expand(-1, -1, y.shape[-1]))
        y_full = y_full + self.decoder_pos.to(y.dtype)
        y = torch.cat([y[:, :1], y_full], dim=1)
        for blk in self.decoder_blocks:
            y = blk(y)
        pred = self.decoder_pred(self.decoder_norm(y))[:, 1:].float()  # (n, N, p*p*3)

        target = patchify(x.float(), vit.patch_size)
        if self.params.norm_pix_loss:
            mean = target.mean(dim=-1, keepdim=True)
            var = target.var(dim=-1, keepdim=True)
            target = (target - mean) / (var + 1e-6) ** 0.5
        hidden = torch.zeros(n, num, device=x.device)
        hidden.scatter_(1, order[:, num_keep:], 1.0)
        per_patch = ((pred - target) ** 2).mean(dim=-1)
        per_sample = (per_patch * hidden).sum(dim=1) / hidden.sum(dim=1)
        return MethodOutput([per_sample], latent[:, 0])

    def loss(self, embeddings: list[Tensor]) -> Tensor:
        return embeddings[0].mean()
