"""One dtype-keyed tolerance for comparing float results across code paths.

Two code paths that reduce in a different order (thread counts, processes, row subsets,
a reference implementation) agree only up to rounding, and rounding scales with the size
of the quantity and with the dtype. ``assert_close`` takes both into account, in the
spirit of kornia's ``testing/base.py``: the tolerance comes from the dtype of the inputs,
and the absolute part is scaled by the magnitude of the quantity (``scale``, by default the
largest absolute value of ``expected``), so a near-zero entry of a large update is judged
against the update, not against itself.

Where exact agreement matters more than speed, compare in float64 instead (the DDP test
and the row-subset replays do).
"""

from __future__ import annotations

import torch

# (rtol, atol per unit of scale), per dtype. float32 allows a few ulps of accumulated
# reduction-order noise; float64 is exact to far below anything a test asserts.
TOLERANCES: dict[torch.dtype, tuple[float, float]] = {
    torch.float16: (1e-3, 1e-3),
    torch.bfloat16: (1e-2, 1e-2),
    torch.float32: (1e-5, 1e-5),
    torch.float64: (1e-10, 1e-10),
}


def tolerance(dtype: torch.dtype) -> tuple[float, float]:
    """(rtol, atol) for ``dtype``; the coarser of two dtypes is used by ``assert_close``."""
    if dtype not in TOLERANCES:
        raise ValueError(f"dtype: no tolerance for {dtype}; expected one of {list(TOLERANCES)}")
    return TOLERANCES[dtype]


def assert_close(
    actual: torch.Tensor,
    expected: torch.Tensor,
    *,
    scale: float | torch.Tensor | None = None,
    factor: float = 1.0,
    msg: str = "",
) -> None:
    """Assert ``actual`` ~= ``expected`` with the dtype's tolerance scaled to the quantity.

    Args:
        actual: the result under test.
        expected: the reference, same shape.
        scale: magnitude of the quantity; the absolute tolerance is ``atol * scale``.
            Defaults to ``max|expected|`` (at least 1e-12 so all-zero references work).
        factor: multiplies both tolerances, for paths known to accumulate more rounding
            (say so where it is used).
        msg: prefix for the failure message.
    """
    actual = torch.as_tensor(actual)
    expected = torch.as_tensor(expected)
    dtypes = [t.dtype for t in (actual, expected) if t.is_floating_point()]
    if not dtypes:
        raise ValueError("assert_close: expected float tensors; compare integers with torch.equal")
    rtol, atol = max(tolerance(d) for d in dtypes)
    if scale is None:
        scale = expected.detach().abs().max().item() if expected.numel() else 1.0
    scale = max(float(scale), 1e-12)
    torch.testing.assert_close(
        actual.to(expected.dtype) if actual.dtype != expected.dtype else actual,
        expected,
        rtol=rtol * factor,
        atol=atol * factor * scale,
        msg=(lambda m: f"{msg} {m}".strip()) if msg else None,
    )
