"""One optimisation step's forward/backward, with correct gradient accumulation.

:func:`forward_backward` accumulates the gradient of one global batch that arrives as
``accumulate`` micro-batches:

* For losses that do not couple samples (MAE, BYOL-style), it is ordinary accumulation:
  each micro-batch's loss, weighted by its share of the batch, is back-propagated.
* For batch-coupled losses (NT-Xent, Barlow Twins, VICReg) ordinary accumulation would
  silently shrink the set of negatives to one micro-batch. We use GradCache [0]:

  1. embed every micro-batch without building a graph (saving the RNG state first);
  2. compute the loss on all embeddings together and back-propagate to the embeddings;
  3. re-embed each micro-batch with a graph, RNG restored (same dropout/masking), and
     back-propagate the cached embedding gradients (``sum(z * dL/dz)`` surrogate).

  Every micro-batch thus serves as negatives for every other one and the parameter
  gradient equals that of the loss on the whole batch. Caveat: BatchNorm normalises
  each micro-batch with its own statistics (as it would per GPU without SyncBN), so
  with BN the result equals a single large batch evaluated micro-batch by micro-batch
  ("ghost" BN), not one large BN batch. BN running statistics are updated once per
  micro-batch (the first, graph-free pass is rolled back). Models without BN
  (``model.norm=group``) match one large batch exactly.

Under DDP, gradient all-reduce happens only on the last micro-batch (``no_sync``).

References:
    - [0]: GradCache, 2021, https://arxiv.org/abs/2101.06983
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from simclr.methods.base import Method, MethodOutput


class TrainModule(nn.Module):
    """The method plus the optional online linear probe, as one module for DDP.

    The probe is a stop-gradient linear classifier on the backbone features of the
    first view (as solo-learn's online classifier). It only watches progress; it is an
    *online* number, not the offline linear-evaluation protocol.

    Args:
        method: The self-supervised method.
        num_classes: Probe classes; ``0`` disables the probe.
    """

    def __init__(self, method: Method, num_classes: int = 0) -> None:
        super().__init__()
        self.method = method
        feat_dim = method.backbone.num_features
        self.probe = nn.Linear(feat_dim, num_classes) if num_classes > 0 else None

    def forward(
        self, images: list[Tensor], masks: list[Tensor], labels: Tensor | None = None
    ) -> tuple[MethodOutput, Tensor | None, Tensor | None]:
        out = self.method(images, masks)
        if self.probe is None or labels is None:
            return out, None, None
        logits = self.probe(out.features.detach().to(self.probe.weight.dtype))
        probe_loss = F.cross_entropy(logits, labels)
        correct = (logits.argmax(dim=1) == labels).sum()
        return out, probe_loss, correct


@dataclass
class StepResult:
    """Losses of one step (detached, this process's share of the batch).

    Attributes:
        loss: Method loss on this process's batch.
        probe_loss: Online probe loss (or None).
        probe_correct: Number of correctly classified samples by the probe (or None).
    """

    loss: Tensor
    probe_loss: Tensor | None
    probe_correct: Tensor | None


def _rng_state(device: torch.device) -> tuple[Tensor, Tensor | None]:
    cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    return torch.get_rng_state(), cuda


def _set_rng_state(state: tuple[Tensor, Tensor | None], device: torch.device) -> None:
    torch.set_rng_state(state[0])
    if state[1] is not None:
        torch.cuda.set_rng_state(state[1], device)


def _upcast(t: Tensor) -> Tensor:
    """fp16/bf16 -> fp32 (autocast outputs); other dtypes unchanged."""
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


def _split(x: Tensor | None, k: int) -> list[Tensor | None]:
    return [None] * k if x is None else list(x.chunk(k, dim=0))


def forward_backward(
    model: nn.Module,
    images: list[Tensor],
    masks: list[Tensor],
    labels: Tensor | None,
    accumulate: int = 1,
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
    backward: Callable[[Tensor], None] = lambda t: t.backward(),
) -> StepResult:
    """Accumulate into ``.grad`` the gradient of the loss on one (per-process) batch.

    Args:
        model: A :class:`TrainModule`, possibly wrapped in ``DistributedDataParallel``.
        images: Views, each ``(n, 3, H, W)``; ``n`` divisible by ``accumulate``.
        masks: View masks, each ``(n, 1, H, W)``.
        labels: ``(n,)`` labels for the online probe, or None.
        accumulate: Number of micro-batches.
        autocast: Factory of the autocast context (mixed precision).
        backward: How to back-propagate a scalar (``scaler.scale(t).backward()`` for fp16).

    Returns:
        StepResult with the batch loss (what a single large batch would report).

    Shape:
        - images[i]: ``(n, 3, H, W)``; labels: ``(n,)``

    Example:
        >>> import torch
        >>> from simclr.models import build_backbone
        >>> from simclr.methods import build_method
        >>> m = build_method("simclr", build_backbone("resnet18", 16, width=0.125, norm="group"),
        ...                  norm="group")
        >>> x = [torch.rand(8, 3, 16, 16)] * 2
        >>> r = forward_backward(TrainModule(m), x, [torch.ones(8, 1, 16, 16)] * 2, None, 2)
        >>> r.loss.ndim
        0
    """
    n = images[0].shape[0]
    if accumulate < 1 or n % accumulate != 0:
        raise ValueError(f"batch of {n} cannot be split into {accumulate} equal micro-batches")
    inner: TrainModule = getattr(model, "module", model)
    method = inner.method
    is_ddp = hasattr(model, "no_sync")
    k = accumulate
    img_chunks = [_split(x, k) for x in images]
    mask_chunks = [_split(m, k) for m in masks]
    label_chunks = _split(labels, k)

    def micro(i: int) -> tuple[list[Tensor], list[Tensor], Tensor | None]:
        return [c[i] for c in img_chunks], [c[i] for c in mask_chunks], label_chunks[i]

    def sync_ctx(i: int) -> contextlib.AbstractContextManager:
        return model.no_sync() if is_ddp and i < k - 1 else contextlib.nullcontext()

    probe_losses: list[Tensor] = []
    corrects: list[Tensor] = []

    if k == 1 or not method.batch_coupled:
        losses = []
        for i in range(k):
            imgs, msks, lbl = micro(i)
            with sync_ctx(i):
                with autocast():
                    out, probe_loss, correct = model(imgs, msks, lbl)
                    loss = method.loss(out.embeddings)
                total = loss / k
                if probe_loss is not None:
                    total = total + probe_loss / k
                    probe_losses.append(probe_loss.detach())
                    corrects.append(correct)
                backward(total)
            losses.append(loss.detach())
        return StepResult(
            torch.stack(losses).mean(),
            torch.stack(probe_losses).mean() if probe_losses else None,
            torch.stack(corrects).sum() if corrects else None,
        )

    # ---- GradCache: 1) graph-free embeddings of every micro-batch
    buffers = {name: b.detach().clone() for name, b in inner.named_buffers()}
    device = images[0].device
    rng_states = []
    cached: list[list[Tensor]] = []
    with torch.no_grad():
        for i in range(k):
            rng_states.append(_rng_state(device))
            imgs, msks, _ = micro(i)
            with autocast():
                out = method(imgs, msks)
            cached.append([e.detach() for e in out.embeddings])
    with torch.no_grad():  # roll back BN running statistics: updated once, in pass 3
        for name, b in inner.named_buffers():
            b.copy_(buffers[name])
    end_state = _rng_state(device)

    # ---- 2) loss on the full batch, gradients w.r.t. the embeddings
    full = [
        _upcast(torch.cat([c[j] for c in cached], dim=0)).requires_grad_(True)
        for j in range(len(cached[0]))
    ]
    loss = method.loss(full)
    # embeddings the loss only reads without a gradient (a queue's input) get zeros
    grads = [
        torch.zeros_like(e) if g is None else g
        for e, g in zip(full, torch.autograd.grad(loss, full, allow_unused=True), strict=True)
    ]
    grad_chunks = [g.chunk(k, dim=0) for g in grads]

    # ---- 3) re-embed with a graph and push the cached gradients through
    for i in range(k):
        _set_rng_state(rng_states[i], device)
        imgs, msks, lbl = micro(i)
        with sync_ctx(i):
            with autocast():
                out, probe_loss, correct = model(imgs, msks, lbl)
            surrogate = sum(
                (_upcast(e) * g[i]).sum() for e, g in zip(out.embeddings, grad_chunks, strict=True)
            )
            if probe_loss is not None:
                surrogate = surrogate + probe_loss / k
                probe_losses.append(probe_loss.detach())
                corrects.append(correct)
            backward(surrogate)
    _set_rng_state(end_state, device)
    return StepResult(
        loss.detach(),
        torch.stack(probe_losses).mean() if probe_losses else None,
        torch.stack(corrects).sum() if corrects else None,
    )
