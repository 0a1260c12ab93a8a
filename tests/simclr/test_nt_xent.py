"""NT-Xent against a plain loop-based reference and the analytic identical-view value."""

import math

import pytest
import torch
import torch.nn.functional as F

from simclr.losses import NTXentLoss


def reference_nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> float:
    """SimCLR's definition, anchor by anchor."""
    z = F.normalize(torch.cat([z1, z2]).double(), dim=1)
    n2 = z.shape[0]
    n = n2 // 2
    total = 0.0
    for i in range(n2):
        pos = (i + n) % n2
        denom = sum(math.exp(float(z[i] @ z[k]) / temperature) for k in range(n2) if k != i)
        total += -math.log(math.exp(float(z[i] @ z[pos]) / temperature) / denom)
    return total / n2


@pytest.mark.parametrize("temperature", [0.1, 0.5, 1.0])
def test_matches_loop_reference(temperature):
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(6, 5, generator=g), torch.randn(6, 5, generator=g)
    got = NTXentLoss(temperature)(z1, z2).item()
    assert got == pytest.approx(reference_nt_xent(z1, z2, temperature), rel=1e-5)


@pytest.mark.parametrize("n,temperature", [(2, 0.5), (4, 0.1), (8, 1.0)])
def test_identical_orthogonal_views_analytic(n, temperature):
    # positives have similarity 1, every one of the 2n-2 negatives similarity 0:
    # loss = -log(e^(1/t) / (e^(1/t) + 2n - 2)) = log(1 + (2n - 2) e^(-1/t))
    z = torch.eye(n, 16, dtype=torch.float64) * 3.0  # scale is irrelevant after normalising
    expected = math.log(1 + (2 * n - 2) * math.exp(-1 / temperature))
    assert NTXentLoss(temperature)(z, z.clone()).item() == pytest.approx(expected, rel=1e-6)


def test_gradient_matches_autograd_of_reference():
    z1 = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    z2 = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: NTXentLoss(0.5)(a, b).double(), (z1, z2))


@pytest.mark.parametrize("temperature", [0.0, -0.5, float("nan")])
def test_rejects_non_positive_temperature(temperature):
    with pytest.raises(ValueError, match="temperature"):
        NTXentLoss(temperature)


def test_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="equal shape"):
        NTXentLoss(0.5)(torch.randn(4, 3), torch.randn(3, 3))
