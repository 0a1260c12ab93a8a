"""Photometric ops that :class:`~segaug.RegionAugment` applies per region.

Every op follows kornia's intensity-augmentation pattern: ranges are declared in
``__init__``, per-sample parameters are drawn by :meth:`IntensityOp.sample`, and
:meth:`IntensityOp.apply` transforms a batch given those parameters. Unlike kornia,
the engine (not the op) decides which rows an op touches: a row is transformed only if
the op *fired* for it (probability ``p``) and it belongs to the region the op is
assigned to. Rows that do not need an op cost nothing.

Parameters are always drawn on the CPU with the global torch generator, so
``torch.manual_seed`` fixes them independently of the device the images live on, and
a call on CUDA draws exactly the same parameters as the same call on CPU.

The pixel arithmetic comes from kornia's functional API (``kornia.enhance``,
``kornia.filters``, ``kornia.color``). :class:`ColorJitter` uses torchvision's formulas
(Pillow-compatible, as kornia's ``ColorJitter``; not kornia's ``ColorJiggle``, which
keeps kornia's earlier formulas).

**Extension point.** Subclass :class:`IntensityOp`, implement ``sample`` and
``apply``; or wrap any kornia intensity augmentation with :class:`KorniaOp`
(RegionAugment does this automatically for kornia modules it is given).

References:
    - [0]: SimCLR, 2020, https://arxiv.org/abs/2002.05709 (appendix A: colour jitter,
      grayscale and blur parameters)
"""

from __future__ import annotations

import copy
import functools
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import kornia
import torch
from torch import Tensor, nn

__all__ = [
    "IntensityOp",
    "ColorJitter",
    "RandomGrayscale",
    "GaussianBlur",
    "Fill",
    "KorniaOp",
    "as_op",
    "fill_holes",
    "load_photo_pool",
]

OpParams = dict[str, Tensor]
OpT = TypeVar("OpT", bound=nn.Module)

# torchvision's rgb_to_grayscale weights (kornia's default is 0.299 for red).
_LUMA = (0.2989, 0.587, 0.114)


def check_probability(p: float, name: str = "p") -> float:
    """``p`` as a float; a ValueError naming ``name`` unless it is a probability in [0, 1].

    Example:
        >>> check_probability(0.5)
        0.5
    """
    if not isinstance(p, (int, float)) or isinstance(p, bool) or not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {p!r}")
    return float(p)


def draw_fire(n: int, p: float) -> Tensor:
    """The coin of an op with probability ``p``: (n,) bool, True for the rows it fires on.

    One ``torch.rand(n)`` on the CPU from the global torch generator, so
    ``torch.manual_seed`` fixes it. :class:`IntensityOp` and
    :class:`~segaug.augment.geometry.GeometricOp` both draw their coin with it.

    Example:
        >>> draw_fire(3, 1.0).tolist(), draw_fire(3, 0.0).tolist()
        ([True, True, True], [False, False, False])
    """
    return torch.rand(n) < p


def _check_range(
    value: float | tuple[float, float],
    name: str,
    center: float,
    bounds: tuple[float, float],
) -> tuple[float, float]:
    """Turn a jitter strength ``s`` into ``(center - s, center + s)`` clipped to ``bounds``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"{name} must be non-negative, got {value!r}")
        lo, hi = center - float(value), center + float(value)
        if hi > bounds[1]:
            raise ValueError(f"{name} strength must be at most {bounds[1] - center}, got {value!r}")
        lo = max(lo, bounds[0])  # torchvision: brightness factor in [max(0, 1 - b), 1 + b]
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        lo, hi = float(value[0]), float(value[1])
        if not bounds[0] <= lo <= hi <= bounds[1]:
            raise ValueError(
                f"{name} range must satisfy {bounds[0]} <= min <= max <= {bounds[1]}, got {value!r}"
            )
    else:
        raise ValueError(f"{name} must be a float or a (min, max) pair, got {value!r}")
    return lo, hi


COMPILE_ENV = "SEGAUG_COMPILE"
"""Environment variable of the compile policy of the colour kernels: ``auto`` (default:
compile on the CPU, outside DataLoader workers, once a kernel has done
:data:`COMPILE_AFTER_ELEMENTS` of work),
``always`` (from the first call, CPU or CUDA) or ``never`` (eager)."""

COMPILE_AFTER_ELEMENTS = 50_000_000
"""Work (tensor elements processed) after which ``auto`` compiles a kernel: about ten
two-view batches of 128 images at 96 px. Compiling costs a few seconds once per process
(measured 2.5 s per kernel on 2 CPU cores), which a process that has done this much work
recovers quickly; short runs and tests stay eager."""


class AutoCompiled:
    """A pixel kernel that runs eagerly, then through ``torch.compile`` once it has
    done enough work, and eagerly again for good if compiling fails.

    One instance per kernel function is shared by every op, so a process compiles each
    kernel once whatever the number of ops. Compiled and eager kernels compute the same
    arithmetic (inductor may fuse a multiply and an add, a rounding apart).

    The first compiled call for each kind of input (dtype, device and shape past the
    batch) is checked against the eager kernel. A compiled kernel that disagrees (seen
    with a ``torch.compile`` on-disk cache reused across CPU instruction sets, for
    example one filled under ``ATEN_CPU_CAPABILITY=avx2`` and read without it) warns
    once and the kernel runs eagerly from then on: a stale cache never silently changes
    the augmentation.

    Args:
        fn: The eager kernel; its first argument is the image batch.
        policy: ``"auto"``, ``"always"`` or ``"never"``; by default from
            :data:`COMPILE_ENV`.
        **compile_kwargs: More arguments of ``torch.compile`` (``dynamic=True`` is set).

    Example:
        >>> k = AutoCompiled(lambda x: x * 2, policy="never")
        >>> k(torch.ones(2)).tolist()
        [2.0, 2.0]
    """

    def __init__(
        self, fn: Callable[..., Tensor], policy: str | None = None, **compile_kwargs: Any
    ) -> None:
        self.fn = fn
        self.policy = policy
        self.compile_kwargs = compile_kwargs
        self.work = 0
        self._compiled: Callable[..., Tensor] | None = None
        self._failed = False
        self._checked: set[tuple[Any, ...]] = set()

    def _policy(self) -> str:
        policy = self.policy or os.environ.get(COMPILE_ENV, "auto")
        if policy not in ("auto", "always", "never"):
            raise ValueError(f"{COMPILE_ENV} must be auto, always or never, got {policy!r}")
        return policy

    def use_compiled(self, x: Tensor) -> bool:
        """Whether a call on ``x`` should run compiled; counts ``x``'s work under ``auto``."""
        if self._failed or torch.compiler.is_compiling():
            return False
        policy = self._policy()
        if policy == "never":
            return False
        if policy == "always":
            return True
        self.work += x.numel()
        if x.device.type != "cpu" or self.work < COMPILE_AFTER_ELEMENTS:
            return False
        # not in a DataLoader worker: one compile per worker, in a daemonic process that
        # may not start inductor's compile workers
        return torch.utils.data.get_worker_info() is None

    def compiled(self, x: Tensor, *args: Tensor) -> Tensor:
        """The compiled kernel on ``x``; eager, for good, if compiling fails."""
        if self._failed:
            return self.fn(x, *args)
        if self._compiled is None:
            self._compiled = torch.compile(self.fn, dynamic=True, **self.compile_kwargs)
        try:
            out = self._compiled(x, *args)
        except Exception as err:  # no C++ compiler, an unsupported backend, ...
            return self._fall_back(x, args, f"failed ({type(err).__name__})")
        key = (x.dtype, x.device, tuple(x.shape[1:]))
        if key not in self._checked:
            expected = self.fn(x, *args)
            scale = float(expected.detach().abs().max()) if expected.numel() else 1.0
            # inductor may fuse a multiply and an add: a few float32 roundings apart
            if out.shape != expected.shape or not torch.allclose(
                out, expected, rtol=1e-4, atol=1e-4 * max(scale, 1e-12)
            ):
                return self._fall_back(
                    x, args, "disagrees with the eager kernel (a stale torch.compile cache?)"
                )
            self._checked.add(key)
        return out

    def _fall_back(self, x: Tensor, args: tuple[Tensor, ...], why: str) -> Tensor:
        self._failed = True
        warnings.warn(
            f"torch.compile of {getattr(self.fn, '__name__', 'a kernel')} {why}; it runs "
            f"eagerly from now on ({COMPILE_ENV}=never silences this)",
            RuntimeWarning,
            stacklevel=3,
        )
        return self.fn(x, *args)

    def __call__(self, x: Tensor, *args: Tensor) -> Tensor:
        return self.compiled(x, *args) if self.use_compiled(x) else self.fn(x, *args)


def _linear_step(
    x: Tensor, scale: Tensor, gray_weight: Tensor | None = None, mean_weight: Tensor | None = None
) -> Tensor:
    """One brightness, contrast or saturation step per row, all rows in one pass.

    The three steps are linear in the image: ``scale * x + gray_weight * gray(x) +
    mean_weight * mean(gray(x))``, clamped to [0, 1]. Brightness is ``(f, 0, 0)``,
    contrast ``(f, 0, 1 - f)`` (kornia's ``adjust_contrast_with_mean_subtraction``),
    saturation ``(f, 1 - f, 0)`` (``adjust_saturation_with_gray_subtraction``) and a row
    left alone ``(1, 0, 0)``. The products and sums are those of kornia's kernels, in the
    same order, so each row gets kornia's result bit for bit. Without ``gray_weight``
    (no contrast or saturation row) the grayscale image is not computed.

    Shape:
        - x: :math:`(B, 3, H, W)`; scale, gray_weight, mean_weight: :math:`(B,)`.
        - Output: :math:`(B, 3, H, W)`.
    """
    y = x * scale.view(-1, 1, 1, 1)
    if gray_weight is not None and mean_weight is not None:
        gray = kornia.color.rgb_to_grayscale(x)  # kornia's weights, as its contrast and saturation
        shift = gray * gray_weight.view(-1, 1, 1, 1)
        shift += gray.mean((-2, -1), True) * mean_weight.view(-1, 1, 1, 1)
        y += shift
    return y.clamp_(0.0, 1.0)


def _hue(x: Tensor, factor: Tensor) -> Tensor:
    """torchvision's ``adjust_hue`` (HSV rotation by ``factor`` turns), fused.

    Instead of converting RGB -> HSV -> RGB (kornia, torchvision), compute the hue sextant
    ``h`` from max/min and write each output channel directly as
    ``max - chroma * clamp(min(k, 4 - k), 0, 1)`` with ``k = (n + h) mod 6`` and
    ``n = 5, 3, 1`` for R, G, B; value and saturation are unchanged by a hue rotation.
    Agrees with torchvision to ~1e-6 and is about 2x faster than kornia's
    ``adjust_hue`` on CPU (``benchmarks/augment_throughput.py``).
    """
    r, g, b = x.unbind(1)
    maxc = x.amax(dim=1)
    chroma = maxc - x.amin(dim=1)
    inv = torch.where(chroma > 0, chroma, 1.0).reciprocal_()
    # sextant in [0, 6); ties resolve in torchvision's order (red, then green, then blue)
    h = torch.where(
        maxc == r,
        (g - b).mul_(inv),
        torch.where(maxc == g, (b - r).mul_(inv).add_(2.0), (r - g).mul_(inv).add_(4.0)),
    )
    h.add_(factor.view(-1, 1, 1) * 6.0)
    n = torch.tensor([5.0, 3.0, 1.0], dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    k = (h.unsqueeze(1) + n).remainder_(6.0)
    w = torch.minimum(k, 4.0 - k).clamp_(0.0, 1.0)
    return maxc.unsqueeze(1) - w.mul_(chroma.unsqueeze(1))


def _jitter_slot(
    x: Tensor,
    scale: Tensor,
    gray_weight: Tensor,
    mean_weight: Tensor,
    hue_factor: Tensor,
    hue_rows: Tensor,
) -> Tensor:
    """One slot of :class:`ColorJitter` for every row: :func:`_linear_step`, or
    :func:`_hue` on the rows where ``hue_rows`` is True.

    Meant to be compiled, which makes it one pass over the batch (eagerly it would
    compute both steps on every row).

    Shape:
        - x: :math:`(B, 3, H, W)`; the others: :math:`(B,)`.
        - Output: :math:`(B, 3, H, W)`.
    """
    linear = _linear_step(x, scale, gray_weight, mean_weight)
    return torch.where(hue_rows.view(-1, 1, 1, 1), _hue(x, hue_factor), linear)


_JITTER_SLOT = AutoCompiled(_jitter_slot)
"""The compiled :class:`ColorJitter` kernel, shared by every instance."""


def _grayscale(x: Tensor) -> Tensor:
    weights = torch.tensor(_LUMA, device=x.device, dtype=x.dtype)
    return kornia.color.rgb_to_grayscale(x, rgb_weights=weights).expand_as(x).contiguous()


def _blur(x: Tensor, k: int, sigma: Tensor) -> Tensor:
    return kornia.filters.gaussian_blur2d(
        x, (k, k), torch.stack([sigma, sigma], dim=1), border_type="reflect"
    )


def _uniform(n: int, lo: float, hi: float) -> Tensor:
    return torch.rand(n) * (hi - lo) + lo


class IntensityOp(nn.Module):
    """Base class of a random photometric op with per-sample parameters.

    The base class draws the op's probability coin: :meth:`draw` records ``fire`` (n,)
    bool, True for the rows where the op fires (probability ``p``, :func:`draw_fire`),
    and calls the subclass's :meth:`sample`. The engine applies the op only on those
    rows, so a subclass never looks at the coin. A subclass implements :meth:`sample`
    (its per-row parameters, on the CPU) and :meth:`apply` (transform a float batch in
    ``[0, 1]`` given the parameters of exactly those rows).
    :class:`~segaug.augment.geometry.GeometricOp` is the geometric counterpart, with the
    same ``p``, ``draw``, ``sample`` and ``fire``; it draws its coin after the parameters,
    this one before them.

    Args:
        p: Probability that the op fires on a sample.
    """

    ignores_input: bool = False
    """True for an op whose output does not depend on the pixels it is given (it
    replaces every one, as :class:`Fill`). The engine then skips the ops before it on the
    rows where it fires: their work would be thrown away."""

    def __init__(self, p: float = 1.0) -> None:
        super().__init__()
        self.p = check_probability(p)

    def draw(self, n: int, size: tuple[int, int]) -> OpParams:
        """Draw ``fire`` (n,) bool, then the op's own per-row parameters, on the CPU."""
        params = {"fire": draw_fire(n, self.p)}
        params.update(self.sample(n, size))
        return params

    def sample(self, n: int, size: tuple[int, int]) -> OpParams:
        """Per-row parameters for ``n`` rows of spatial ``size`` (H, W), on the CPU.

        Every returned tensor must have first dimension ``n``. They are drawn for every
        row; the rows where the op does not fire ignore them.
        """
        return {}

    def apply(self, x: Tensor, params: OpParams) -> Tensor:
        """Transform ``x`` (k, 3, H, W) float in [0, 1] with the parameters of its k rows.

        May modify ``x`` in place; returns the result.
        """
        raise NotImplementedError

    def compile_kernels(self, **kwargs: Any) -> IntensityOp:
        """Compile the op's pixel kernels with ``torch.compile(dynamic=True, **kwargs)``.

        The row selection stays eager; only the arithmetic is compiled, so per-sample
        parameters and orders are kept. Ops without kernels return unchanged. Compiled
        ops cannot be pickled (e.g. sent to spawned DataLoader workers).
        """
        return self

    def extra_repr(self) -> str:
        return f"p={self.p}"


class ColorJitter(IntensityOp):
    """Random brightness, contrast, saturation and hue, in a random order per sample.

    torchvision's (Pillow-compatible) formulas, computed with kornia's kernels:
    brightness multiplies, contrast blends with the grayscale mean, saturation blends
    with the grayscale image, hue rotates in HSV. Each sample gets its own factors and
    its own order of the four steps, as ``torchvision.transforms.ColorJitter`` does per
    image (kornia's module shares one order across the batch).

    Args:
        brightness: Strength ``b`` (factor in ``[max(0, 1-b), 1+b]``) or a (min, max) range.
        contrast: Strength or range, as ``brightness``.
        saturation: Strength or range, as ``brightness``.
        hue: Strength ``h`` in [0, 0.5] (shift in ``[-h, h]`` turns) or a range.
        p: Probability of applying the jitter to a sample.

    Shape:
        - Input: :math:`(B, 3, H, W)`, float in [0, 1].
        - Output: :math:`(B, 3, H, W)`.

    Example:
        >>> op = ColorJitter(0.4, 0.4, 0.4, 0.1, p=1.0)
        >>> x = torch.rand(2, 3, 8, 8)
        >>> op.apply(x.clone(), op.draw(2, (8, 8))).shape
        torch.Size([2, 3, 8, 8])
    """

    def __init__(
        self,
        brightness: float | tuple[float, float] = 0.0,
        contrast: float | tuple[float, float] = 0.0,
        saturation: float | tuple[float, float] = 0.0,
        hue: float | tuple[float, float] = 0.0,
        p: float = 1.0,
    ) -> None:
        super().__init__(p)
        inf = float("inf")
        self.brightness = _check_range(brightness, "brightness", 1.0, (0.0, inf))
        self.contrast = _check_range(contrast, "contrast", 1.0, (0.0, inf))
        self.saturation = _check_range(saturation, "saturation", 1.0, (0.0, inf))
        self.hue = _check_range(hue, "hue", 0.0, (-0.5, 0.5))
        self._slot = _JITTER_SLOT

    def sample(self, n: int, size: tuple[int, int]) -> OpParams:
        return {
            "brightness": _uniform(n, *self.brightness),
            "contrast": _uniform(n, *self.contrast),
            "saturation": _uniform(n, *self.saturation),
            "hue": _uniform(n, *self.hue),
            # One random permutation of the four steps per row.
            "order": torch.rand(n, 4).argsort(dim=1),
        }

    def compile_kernels(self, **kwargs: Any) -> ColorJitter:
        """Compile the kernel from the first call (by default it is compiled on the CPU
        once it has done enough work, :data:`COMPILE_AFTER_ELEMENTS`)."""
        self._slot = AutoCompiled(_jitter_slot, policy="always", **kwargs)
        return self

    def apply(self, x: Tensor, params: OpParams) -> Tensor:
        # factors in the images' dtype before any arithmetic, as kornia's kernels take them
        names = ("brightness", "contrast", "saturation", "hue")
        b, c, s, h = (params[k].to(x.dtype) for k in names)
        compiled = self._slot.use_compiled(x)
        # Slot k applies, to every row, the step that row ranks k-th: brightness, contrast
        # and saturation of all rows in one fused pass, and hue on the rows whose step it
        # is (in the same pass when compiled, else on those rows alone). The per-slot
        # arguments of all four slots are computed at once: (4, n) each.
        step = params["order"].T  # (4, n): the step of each row in each slot
        factor = torch.stack([b, c, s, h])[step, torch.arange(len(b))]  # (4, n)
        active = factor != torch.tensor([1.0, 1.0, 1.0, 0.0], dtype=x.dtype)[step]
        linear, is_s, is_c, is_h = (
            active & (step < 3),
            active & (step == 2),
            active & (step == 1),
            active & (step == 3),
        )
        scale = torch.where(linear, factor, torch.ones_like(factor))
        gray_weight = torch.where(is_s, 1 - factor, torch.zeros_like(factor))
        mean_weight = torch.where(is_c, 1 - factor, torch.zeros_like(factor))
        hue_factor = torch.where(is_h, factor, torch.zeros_like(factor))
        slots = active.any(1).tolist()
        if compiled:
            dev = [t.to(x.device) for t in (scale, gray_weight, mean_weight, hue_factor, is_h)]
        for slot in range(4):
            if not slots[slot]:
                continue
            if compiled:
                x = self._slot.compiled(x, *(t[slot] for t in dev))
                continue
            if bool(linear[slot].any()):
                weights = (gray_weight[slot], mean_weight[slot])
                weights = weights if bool((is_c[slot] | is_s[slot]).any()) else ()
                x = _linear_step(x, *(t.to(x.device) for t in (scale[slot], *weights)))
            rows = torch.nonzero(is_h[slot]).squeeze(1)
            if rows.numel() == x.shape[0]:
                x = _hue(x, h.to(x.device))
            elif rows.numel():
                rows_dev = rows.to(x.device)
                hue_rows = _hue(x.index_select(0, rows_dev), h[rows].to(x.device))
                x.index_copy_(0, rows_dev, hue_rows)
        # Every step keeps [0, 1]: the linear ones clamp, and a hue rotation writes
        # max - chroma * w with w in [0, 1], which lies between the pixel's min and max.
        return x

    def extra_repr(self) -> str:
        return (
            f"brightness={self.brightness}, contrast={self.contrast}, "
            f"saturation={self.saturation}, hue={self.hue}, p={self.p}"
        )


class RandomGrayscale(IntensityOp):
    """Convert to grayscale (torchvision's luma weights 0.2989, 0.587, 0.114, on 3 channels).

    Args:
        p: Probability of converting a sample.

    Shape:
        - Input: :math:`(B, 3, H, W)`, float in [0, 1].
        - Output: :math:`(B, 3, H, W)`.

    Example:
        >>> op = RandomGrayscale(p=1.0)
        >>> y = op.apply(torch.rand(1, 3, 4, 4), op.draw(1, (4, 4)))
        >>> bool((y[:, 0] == y[:, 1]).all())
        True
    """

    def __init__(self, p: float = 0.2) -> None:
        super().__init__(p)
        self._gray = _grayscale

    def compile_kernels(self, **kwargs: Any) -> RandomGrayscale:
        self._gray = AutoCompiled(_grayscale, policy="always", **kwargs)
        return self

    def apply(self, x: Tensor, params: OpParams) -> Tensor:
        return self._gray(x)


class GaussianBlur(IntensityOp):
    """Gaussian blur with a per-sample sigma, kernel side a fraction of the image side.

    SimCLR blurs with sigma uniform in [0.1, 2.0] and a kernel of 10% of the image
    side. The kernel size is computed from the size of the images being blurred (odd,
    at least 3) unless ``kernel_size`` fixes it.

    Args:
        sigma: (min, max) of the uniformly drawn standard deviation, in pixels.
        kernel_fraction: Kernel side as a fraction of the image's shorter side.
        kernel_size: Fixed odd kernel side; overrides ``kernel_fraction``.
        p: Probability of blurring a sample.

    Shape:
        - Input: :math:`(B, 3, H, W)`, float in [0, 1].
        - Output: :math:`(B, 3, H, W)`.

    Example:
        >>> op = GaussianBlur(p=1.0)
        >>> op.kernel_for((224, 224))
        23
    """

    def __init__(
        self,
        sigma: tuple[float, float] = (0.1, 2.0),
        kernel_fraction: float = 0.1,
        kernel_size: int | None = None,
        p: float = 0.5,
    ) -> None:
        super().__init__(p)
        if not (isinstance(sigma, (tuple, list)) and len(sigma) == 2 and 0 < sigma[0] <= sigma[1]):
            raise ValueError(f"sigma must be a (min, max) pair with 0 < min <= max, got {sigma!r}")
        if not 0 < kernel_fraction <= 1:
            raise ValueError(f"kernel_fraction must be in (0, 1], got {kernel_fraction!r}")
        if kernel_size is not None and (kernel_size < 3 or kernel_size % 2 == 0):
            raise ValueError(f"kernel_size must be an odd integer >= 3, got {kernel_size!r}")
        self.sigma = (float(sigma[0]), float(sigma[1]))
        self.kernel_fraction = float(kernel_fraction)
        self.kernel_size = kernel_size
        self._blur = _blur

    def compile_kernels(self, **kwargs: Any) -> GaussianBlur:
        # Left eager on purpose: per-sample kernels run as a grouped convolution whose
        # group count (rows x channels) inductor specialises on, so every new subset size
        # recompiled (measured: slower than eager).
        return self

    def kernel_for(self, size: tuple[int, int]) -> int:
        """Odd kernel side used for images of spatial ``size`` (H, W)."""
        if self.kernel_size is not None:
            return self.kernel_size
        k = int(self.kernel_fraction * min(size))
        return max(3, k if k % 2 == 1 else k + 1)

    def sample(self, n: int, size: tuple[int, int]) -> OpParams:
        return {"sigma": _uniform(n, *self.sigma)}

    def apply(self, x: Tensor, params: OpParams) -> Tensor:
        k = self.kernel_for((x.shape[-2], x.shape[-1]))
        return self._blur(x, k, params["sigma"].to(device=x.device, dtype=x.dtype))

    def extra_repr(self) -> str:
        size = self.kernel_size if self.kernel_size else f"{self.kernel_fraction:g} of side"
        return f"sigma={self.sigma}, kernel={size}, p={self.p}"


FILL_MODES = ("flat", "noise", "texture")
"""The fill modes that need nothing but the view's size (:class:`Fill`'s default)."""

PHOTOS_MODE = "photos"
"""The fill mode that draws crops of a pool of photos (:class:`Fill`'s ``photos``)."""

_PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


def load_photo_pool(folder: str | os.PathLike[str], side: int = 256) -> Tensor:
    """The photos of a folder, each centre-cropped to a square and resized to ``side``.

    The pool of :class:`Fill`'s ``photos`` mode. Files are read in name order (``.jpg``,
    ``.jpeg``, ``.png``, ``.webp``, ``.bmp``, also in subfolders), turned upright by
    their EXIF orientation, and converted to RGB (an alpha channel is dropped); a JPEG
    is decoded at reduced size when it is much larger than ``side``.

    Args:
        folder: A folder of photos.
        side: Side of the stored squares in pixels.

    Shape:
        - Output: :math:`(N, 3, side, side)`, uint8.

    Example:
        >>> import tempfile
        >>> from PIL import Image
        >>> d = tempfile.mkdtemp()
        >>> Image.new("RGB", (40, 20), (255, 0, 0)).save(f"{d}/red.png")
        >>> pool = load_photo_pool(d, side=8)
        >>> tuple(pool.shape), pool[0, :, 0, 0].tolist()
        ((1, 3, 8, 8), [255, 0, 0])
    """
    import numpy as np
    from PIL import Image, ImageOps

    if not isinstance(side, int) or side < 1:
        raise ValueError(f"side must be a positive int, got {side!r}")
    root = Path(folder)
    if not root.is_dir():
        raise ValueError(f"photos: expected a folder of photos, got {str(folder)!r} (not a folder)")
    files = sorted(f for f in root.rglob("*") if f.suffix.lower() in _PHOTO_SUFFIXES)
    if not files:
        raise ValueError(
            f"photos: the folder {str(folder)!r} holds no photo ({', '.join(_PHOTO_SUFFIXES)})"
        )
    squares = []
    for f in files:
        try:
            with Image.open(f) as im:
                im.draft("RGB", (2 * side, 2 * side))
                upright = ImageOps.exif_transpose(im).convert("RGB")
                square = ImageOps.fit(upright, (side, side), Image.Resampling.LANCZOS)
        except (OSError, Image.DecompressionBombError) as err:
            raise ValueError(f"photos: expected readable images, cannot read {f}: {err}") from None
        squares.append(torch.from_numpy(np.asarray(square).copy()).permute(2, 0, 1))
    return torch.stack(squares)


def fill_holes(images: Tensor, known: Tensor) -> Tensor:
    """Fill the unknown pixels of each image from the known ones around them (pull-push).

    The known pixels, weighted by ``known``, are averaged down a pyramid of 2x2 means
    (pull); each level is then rebuilt from the next coarser one where its weight falls
    short (push): ``c + (1 - w) * upsampled``, with ``c`` the weighted mean colour and
    ``w`` the known share of the level's pixel. A pixel with ``known == 1`` keeps its
    value exactly; a hole of any size gets a smooth blend of the colours around it, in
    ``log2(side)`` batched steps on the images' device. An image with no known pixel at
    all is filled with mid gray.

    :class:`~segaug.RegionAugment` uses it to take the donor's own object out of a
    swapped background (``swap_donor="background"``).

    Args:
        images: Float images in [0, 1].
        known: Weights in [0, 1]: 1 where a pixel is kept, 0 where it is to be filled;
            soft values blend.

    Shape:
        - images: :math:`(B, C, H, W)`.
        - known: :math:`(B, 1, H, W)`.
        - Output: :math:`(B, C, H, W)`, in [0, 1].

    Example:
        >>> x = torch.zeros(1, 3, 8, 8)
        >>> x[..., :, 4:] = 1.0
        >>> known = torch.ones(1, 1, 8, 8)
        >>> known[..., 2:6, 2:6] = 0
        >>> y = fill_holes(x, known)
        >>> bool(torch.equal(y[..., 0, :], x[..., 0, :]))  # known pixels are kept
        True
        >>> 0.0 < float(y[0, 0, 4, 3]) < float(y[0, 0, 4, 4]) < 1.0  # a smooth edge
        True

    References:
        - [0]: Gortler, Grzeszczuk, Szeliski, Cohen, The Lumigraph, SIGGRAPH 1996
          (the pull-push algorithm)
    """
    if images.dim() != 4 or known.dim() != 4 or known.shape[1] != 1:
        raise ValueError(
            f"fill_holes expects images (B, C, H, W) and known (B, 1, H, W), got "
            f"{tuple(images.shape)} and {tuple(known.shape)}"
        )
    if images.shape[0] != known.shape[0] or images.shape[-2:] != known.shape[-2:]:
        raise ValueError(
            f"known must match images in batch and size, got {tuple(known.shape)} for "
            f"images {tuple(images.shape)}"
        )
    w = known.to(images.dtype).clamp(0.0, 1.0)
    c = images * w
    levels = []
    while max(c.shape[-2:]) > 1:
        levels.append((c, w))
        kernel = tuple(2 if side > 1 else 1 for side in c.shape[-2:])
        c = torch.nn.functional.avg_pool2d(c, kernel, ceil_mode=True)
        w = torch.nn.functional.avg_pool2d(w, kernel, ceil_mode=True)
    out = torch.where(w > 0, c / w.clamp_min(1e-12), torch.full_like(c, 0.5))
    for c, w in reversed(levels):
        up = torch.nn.functional.interpolate(
            out, size=c.shape[-2:], mode="bilinear", align_corners=False
        )
        out = torch.addcmul(c, 1.0 - w, up)
    return out.clamp_(0.0, 1.0)


@functools.lru_cache(maxsize=32)
def _bicubic_matrix(n_in: int, n_out: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    """The (n_out, n_in) matrix of 1-D bicubic upsampling (``align_corners=False``), so
    that ``R_h @ t @ R_w.T`` is ``F.interpolate(t, mode="bicubic")`` up to rounding."""
    basis = torch.eye(n_in, dtype=torch.float64).view(n_in, 1, n_in, 1)
    out = torch.nn.functional.interpolate(
        basis, size=(n_out, 1), mode="bicubic", align_corners=False
    )
    return out.view(n_in, n_out).T.contiguous().to(device, dtype)


class Fill(IntensityOp):
    """Replace the pixels with a flat colour, noise, a smooth texture or a crop of a photo.

    Assigned to the background of :class:`~segaug.RegionAugment`, it removes the
    background (Ryali et al.'s BG_RM, with a random colour instead of black) or replaces
    it with a random one (BG_Random; the "texture" distractors of DiLo), so the two views
    of an image no longer share their background and instance discrimination has to
    rely on the object. Each sample draws its own mode among ``modes`` and its own
    colours:

    - ``flat``: one uniform random RGB colour;
    - ``noise``: i.i.d. uniform RGB noise (256 levels) on a grid of at most ``noise_cells`` x
      ``noise_cells`` cells (one cell per pixel for images up to that side, nearest
      upsampling above it, so the drawn parameters stay small at 224 px);
    - ``texture``: a 4x4 grid of random colours, bicubic-upsampled: smooth colour blobs;
    - ``photos``: a random crop of a random photo of a pool (``photos``), covering a
      share ``photo_scale`` of the photo's area with the view's aspect, resized to the
      view with area averaging (``torchvision.ops.roi_align``) and flipped with
      probability 0.5: real backgrounds that are not in the dataset. Only with
      ``photos``.

    Args:
        modes: The modes to draw from, uniformly per sample.
        p: Probability of replacing a sample's pixels.
        noise_cells: Side of the noise grid.
        photos: The pool of the ``photos`` mode: a folder (read by
            :func:`load_photo_pool` at ``photo_side``) or a :math:`(N, 3, S, S)` uint8
            tensor. Kept as a buffer, so it moves with the module, but not saved in its
            ``state_dict``.
        photo_side: Side of the pool's squares when ``photos`` is a folder.
        photo_scale: (min, max) share of a pool photo's area that a crop covers.

    Shape:
        - Input: :math:`(B, 3, H, W)`, float in [0, 1].
        - Output: :math:`(B, 3, H, W)`, every pixel replaced.

    Example:
        >>> op = Fill(modes=("flat",), p=1.0)
        >>> y = op.apply(torch.rand(2, 3, 8, 8), op.draw(2, (8, 8)))
        >>> bool((y[0] == y[0, :, :1, :1]).all())  # one colour per sample
        True
        >>> pool = torch.zeros(2, 3, 16, 16, dtype=torch.uint8)
        >>> pool[1] = 255  # one black and one white photo
        >>> op = Fill(modes=("photos",), p=1.0, photos=pool)
        >>> y = op.apply(torch.rand(4, 3, 8, 8), op.draw(4, (8, 8)))
        >>> sorted({v for v in y.flatten().tolist()}) in ([0.0], [1.0], [0.0, 1.0])
        True

    References:
        - [0]: Ryali, Schwab, Morcos, Characterizing and Improving the Robustness of
          Self-Supervised Learning through Background Augmentations, 2021,
          https://arxiv.org/abs/2103.12719 (BG_RM, BG_Random)
        - [1]: Zhao et al., Distilling Localization for Self-Supervised Representation
          Learning (DiLo), AAAI 2021, https://arxiv.org/abs/2004.06638
    """

    ignores_input = True

    def __init__(
        self,
        modes: tuple[str, ...] = FILL_MODES,
        p: float = 0.5,
        noise_cells: int = 64,
        photos: str | os.PathLike[str] | Tensor | None = None,
        photo_side: int = 256,
        photo_scale: tuple[float, float] = (0.1, 1.0),
    ) -> None:
        super().__init__(p)
        modes = tuple(modes)
        known = (*FILL_MODES, PHOTOS_MODE)
        if not modes or any(m not in known for m in modes):
            raise ValueError(f"modes must be a non-empty subset of {known}, got {modes!r}")
        if not isinstance(noise_cells, int) or noise_cells < 1:
            raise ValueError(f"noise_cells must be a positive int, got {noise_cells!r}")
        if (PHOTOS_MODE in modes) != (photos is not None):
            raise ValueError(
                "photos: the 'photos' fill mode needs a pool of photos and a pool needs the "
                f"mode, got modes={modes!r} and photos={'a pool' if photos is not None else None}"
            )
        if not isinstance(photo_scale, tuple | list) or len(photo_scale) != 2:
            raise ValueError(f"photo_scale must be (min, max), got {photo_scale!r}")
        if not isinstance(photo_side, int) or photo_side < 1:
            raise ValueError(f"photo_side must be a positive int, got {photo_side!r}")
        lo, hi = (float(v) for v in photo_scale)
        if not 0.0 < lo <= hi <= 1.0:
            raise ValueError(
                f"photo_scale must be (min, max) with 0 < min <= max <= 1, got {photo_scale!r}"
            )
        pool = None
        if photos is not None:
            pool = photos if isinstance(photos, Tensor) else load_photo_pool(photos, photo_side)
            if (
                pool.dtype != torch.uint8
                or pool.ndim != 4
                or pool.shape[1] != 3
                or pool.shape[0] < 1
                or pool.shape[2] != pool.shape[3]
                or pool.shape[3] < 1
            ):
                raise ValueError(
                    "photos: expected a folder or an (N, 3, S, S) uint8 tensor, got a "
                    f"{pool.dtype} tensor of shape {tuple(pool.shape)}"
                )
        self.modes = modes
        self.noise_cells = noise_cells
        self.photo_scale = (lo, hi)
        self.register_buffer("photo_pool", pool, persistent=False)

    def draw(self, n: int, size: tuple[int, int]) -> OpParams:
        """As :meth:`IntensityOp.draw`; the noise is drawn only for the rows that fire in
        ``noise`` mode (zeros elsewhere), the largest parameter by far."""
        fire = draw_fire(n, self.p)
        return {"fire": fire, **self._sample(n, size, fire)}

    def sample(self, n: int, size: tuple[int, int]) -> OpParams:
        return self._sample(n, size, torch.ones(n, dtype=torch.bool))

    def _sample(self, n: int, size: tuple[int, int], fire: Tensor) -> OpParams:
        ch, cw = min(size[0], self.noise_cells), min(size[1], self.noise_cells)
        mode = torch.tensor([_MODE_INDEX[m] for m in self.modes])[
            torch.randint(len(self.modes), (n,))
        ]
        colour, texture = torch.rand(n, 3), torch.rand(n, 3, 4, 4)
        noise = torch.zeros(n, 3, ch, cw, dtype=torch.uint8)
        rows = torch.nonzero(fire & (mode == _MODE_INDEX["noise"])).squeeze(1)
        if rows.numel():
            noise[rows] = torch.randint(0, 256, (rows.numel(), 3, ch, cw), dtype=torch.uint8)
        params = {"mode": mode, "colour": colour, "noise": noise, "texture": texture}
        if self.photo_pool is not None:
            params.update(self._sample_photos(n, size))
        return params

    def _sample_photos(self, n: int, size: tuple[int, int]) -> OpParams:
        """Per row: the pool photo, its crop box (x0, y0, x1, y1) in pool pixels and a flip.

        The box covers a share in ``photo_scale`` of the photo's area with the view's
        aspect, shrunk to fit the photo where that aspect needs it."""
        side = self.photo_pool.shape[-1]
        lo, hi = self.photo_scale
        area = (lo + (hi - lo) * torch.rand(n)) * side * side
        aspect = size[1] / size[0]  # width / height
        h = (area / aspect).sqrt()
        w = h * aspect
        shrink = torch.clamp(torch.maximum(w, h) / side, min=1.0)
        h, w = h / shrink, w / shrink
        x0 = (side - w) * torch.rand(n)
        y0 = (side - h) * torch.rand(n)
        return {
            "photo": torch.randint(self.photo_pool.shape[0], (n,)),
            "photo_box": torch.stack([x0, y0, x0 + w, y0 + h], dim=1),
            "photo_flip": torch.rand(n) < 0.5,
        }

    def apply(self, x: Tensor, params: OpParams) -> Tensor:
        size = x.shape[-2:]
        dev, dt = x.device, x.dtype
        mode = params["mode"]
        out = torch.empty_like(x)
        for name, k in _MODE_INDEX.items():  # each mode computed on its own rows only
            rows = torch.nonzero(mode == k).squeeze(1)
            if rows.numel() == 0:
                continue
            if name == PHOTOS_MODE:
                fill = self._photo_crops(params, rows, size, dev, dt)
            elif name == "flat":
                fill = params["colour"][rows].to(dev, dt).view(-1, 3, 1, 1).expand(-1, -1, *size)
            elif name == "noise":
                noise = params["noise"][rows].to(dev).to(dt) / 255
                fill = torch.nn.functional.interpolate(noise, size=size, mode="nearest")
            else:  # bicubic upsampling is separable: two small matrix products
                ry, rx = (_bicubic_matrix(4, n, dev, dt) for n in size)
                fill = (ry @ params["texture"][rows].to(dev, dt) @ rx.T).clamp_(0.0, 1.0)
            if rows.numel() == x.shape[0]:
                return fill.contiguous()
            out.index_copy_(0, rows.to(dev), fill)
        return out

    def _photo_crops(
        self, params: OpParams, rows: Tensor, size: tuple[int, int], dev: Any, dt: torch.dtype
    ) -> Tensor:
        """The pool crops of ``rows``, resized to ``size`` by area averaging.

        The pool stays uint8; the photos these rows use (at most one per row) are
        converted to float32 for ``roi_align``, whatever the images' dtype, and the
        crops are cast to it afterwards."""
        from torchvision.ops import roi_align

        pool = self.photo_pool
        used, which = params["photo"][rows].unique(return_inverse=True)
        photos = pool[used.to(pool.device)].to(dev, torch.float32).div_(255)
        boxes = torch.cat([which.view(-1, 1).float(), params["photo_box"][rows].float()], dim=1)
        fill = roi_align(photos, boxes.to(dev), output_size=tuple(size), aligned=True)
        flip = params["photo_flip"][rows].to(dev)
        fill = torch.where(flip.view(-1, 1, 1, 1), fill.flip(-1), fill).clamp_(0.0, 1.0)
        return fill.to(dt)

    def extra_repr(self) -> str:
        pool = "" if self.photo_pool is None else f", photos={self.photo_pool.shape[0]}"
        return f"modes={self.modes}, p={self.p}{pool}"


_MODE_INDEX = {name: k for k, name in enumerate((*FILL_MODES, PHOTOS_MODE))}


class KorniaOp(IntensityOp):
    """Adapter that lets any kornia intensity augmentation act on one region.

    The wrapped module keeps its own parameter sampler; the adapter takes over only
    the probability ``p``, so the engine can skip rows where it does not fire. Seeded
    calls are reproducible; the module's parameters are recorded after each call and
    replayed when the same :class:`~segaug.augment.region.AugmentParams` are passed back
    with the same inputs (so the same rows are selected).

    Args:
        module: A kornia ``IntensityAugmentationBase2D``, e.g.
            ``kornia.augmentation.RandomSolarize``.

    Example:
        >>> import kornia.augmentation as K
        >>> op = KorniaOp(K.RandomSolarize(0.1, 0.1, p=0.5))
        >>> op.p
        0.5
    """

    def __init__(self, module: nn.Module) -> None:
        base = kornia.augmentation.IntensityAugmentationBase2D
        if not isinstance(module, base):
            raise ValueError(
                "module must be a kornia intensity augmentation "
                f"(IntensityAugmentationBase2D), got {type(module).__name__}; geometric "
                "augmentations belong in RegionAugment(geometric=...)"
            )
        super().__init__(float(module.p))
        self.module = copy.deepcopy(module)
        self.module.p = 1.0
        self.module.p_batch = 1.0

    def apply(self, x: Tensor, params: OpParams) -> Tensor:
        # kornia's parameters belong to the selected rows, not to the whole batch, so they
        # are kept under one key that the engine passes through without row indexing.
        if "kornia" in params:
            return self.module(x, params=params["kornia"])
        out = self.module(x)
        params["kornia"] = dict(self.module._params)
        return out

    def extra_repr(self) -> str:
        return f"p={self.p}"


def as_op(op: IntensityOp | nn.Module, where: str) -> IntensityOp:
    """Return ``op`` as an :class:`IntensityOp`, wrapping kornia modules.

    Raises:
        ValueError: If ``op`` is neither; ``where`` names the argument in the message.
    """
    return wrap_kornia(
        op,
        IntensityOp,
        KorniaOp,
        where,
        "must contain segaug IntensityOp or kornia intensity augmentation instances",
    )


def wrap_kornia(
    op: object, kind: type[OpT], adapter: Callable[[nn.Module], OpT], where: str, expected: str
) -> OpT:
    """``op`` itself if it is a ``kind``, a kornia module wrapped in ``adapter``, else an error.

    The one place that turns an op argument into a segaug op: :func:`as_op` for the
    photometric ops, :func:`~segaug.augment.geometry.as_geometric` for the geometric ones.

    Args:
        op: What the caller was given.
        kind: The segaug base class (:class:`IntensityOp`, ``GeometricOp``).
        adapter: Wraps a kornia module; its ValueError is re-raised prefixed by ``where``.
        where: The argument's name, for the messages.
        expected: What ``where`` must be, for the message when ``op`` is neither.

    Raises:
        ValueError: ``"{where} {expected}, got {type}"``, or the adapter's error.

    Example:
        >>> wrap_kornia("blur", IntensityOp, KorniaOp, "ops[0]", "must be an op")
        Traceback (most recent call last):
        ...
        ValueError: ops[0] must be an op, got str
    """
    if isinstance(op, kind):
        return op
    if isinstance(op, nn.Module) and op.__class__.__module__.startswith("kornia."):
        try:
            return adapter(op)
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from None
    raise ValueError(f"{where} {expected}, got {type(op).__name__}")
