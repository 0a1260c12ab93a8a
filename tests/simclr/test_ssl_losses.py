"""Each SSL loss against a plain NumPy/loop transcription of its paper, analytic values
and gradient checks (float64)."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers.numerics import assert_close

from simclr.losses import (
    BarlowTwinsLoss,
    BYOLLoss,
    NNCLRLoss,
    SimSiamLoss,
    SwAVLoss,
    VICRegLLoss,
    VICRegLoss,
)
from simclr.losses.nnclr import nearest_neighbours
from simclr.losses.swav import sinkhorn
from simclr.losses.vicregl import match_features


def rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def unit(a):
    return a / np.linalg.norm(a, axis=1, keepdims=True)


# ----------------------------------------------------------------- references (NumPy)


def ref_byol(p1, p2, z1, z2):
    p1, p2, z1, z2 = (unit(x) for x in (p1, p2, z1, z2))
    n = len(p1)
    return sum(np.sum((p1[i] - z2[i]) ** 2) + np.sum((p2[i] - z1[i]) ** 2) for i in range(n)) / n


def ref_simsiam(p1, p2, z1, z2):
    p1, p2, z1, z2 = (unit(x) for x in (p1, p2, z1, z2))
    return -0.5 * (np.mean(np.sum(p1 * z2, 1)) + np.mean(np.sum(p2 * z1, 1)))


def ref_barlow(a, b, lambd):
    n, d = a.shape
    a = (a - a.mean(0)) / a.std(0, ddof=1)
    b = (b - b.mean(0)) / b.std(0, ddof=1)
    loss = 0.0
    for i in range(d):
        for j in range(d):
            c = sum(a[k, i] * b[k, j] for k in range(n)) / n
            loss += (1 - c) ** 2 if i == j else lambd * c**2
    return loss


def ref_vicreg(x, y, lam=25.0, mu=25.0, nu=1.0, eps=1e-4):
    n, d = x.shape
    inv = np.mean((x - y) ** 2)
    std_x, std_y = np.sqrt(x.var(0, ddof=1) + eps), np.sqrt(y.var(0, ddof=1) + eps)
    var = np.mean(np.maximum(0, 1 - std_x)) / 2 + np.mean(np.maximum(0, 1 - std_y)) / 2
    cov = 0.0
    for z in (x, y):
        c = np.cov(z, rowvar=False)
        cov += (np.sum(c**2) - np.sum(np.diag(c) ** 2)) / d
    return lam * inv + mu * var + nu * cov


def ref_nnclr(z1, z2, p1, p2, support, tau):
    def nn(z):
        return support[np.argmax(unit(z) @ unit(support).T, axis=1)]

    def side(anchors, preds):
        a, p = unit(anchors), unit(preds)
        total = 0.0
        for i in range(len(a)):
            logits = np.array([a[i] @ p[k] for k in range(len(p))]) / tau
            total += -logits[i] + math.log(np.sum(np.exp(logits)))
        return total / len(a)

    return 0.5 * (side(nn(z1), p2) + side(nn(z2), p1))


def ref_sinkhorn(scores, eps, iters):
    q = np.exp(scores / eps).T
    k, b = q.shape
    q /= q.sum()
    for _ in range(iters):
        q /= q.sum(axis=1, keepdims=True)
        q /= k
        q /= q.sum(axis=0, keepdims=True)
        q /= b
    return (q * b).T


def ref_swav(scores, tau=0.1, eps=0.05, iters=3, num_global=2):
    def log_softmax(x):
        x = x / tau
        return x - np.log(np.exp(x).sum(1, keepdims=True))

    total = 0.0
    for s in range(num_global):
        q = ref_sinkhorn(scores[s], eps, iters)
        others = [t for t in range(len(scores)) if t != s]
        total += sum(-np.mean(np.sum(q * log_softmax(scores[t]), 1)) for t in others) / len(others)
    return total / num_global


# ----------------------------------------------------------------------- the tests


def test_byol_and_simsiam_match_references_and_analytic_values():
    p1, p2, z1, z2 = (rand(6, 5, seed=s) for s in range(4))
    args = [t.numpy() for t in (p1, p2, z1, z2)]
    assert_close(BYOLLoss()(p1, p2, z1, z2), torch.tensor(ref_byol(*args)))
    assert_close(SimSiamLoss()(p1, p2, z1, z2), torch.tensor(ref_simsiam(*args)))
    # identical directions: BYOL 0, SimSiam -1; opposite: BYOL 8, SimSiam +1
    assert BYOLLoss()(p1, p1, 3 * p1, 2 * p1).abs().item() < 1e-12
    assert_close(SimSiamLoss()(p1, p2, 2 * p2, p1), torch.tensor(-1.0, dtype=torch.float64))
    assert_close(BYOLLoss()(p1, p2, -p2, -p1), torch.tensor(8.0, dtype=torch.float64))


def test_byol_and_simsiam_stop_the_gradient_at_the_targets():
    p1, p2, z1, z2 = (rand(4, 3, seed=s).requires_grad_() for s in range(4))
    for loss in (BYOLLoss(), SimSiamLoss()):
        g = torch.autograd.grad(loss(p1, p2, z1, z2), [p1, z1], allow_unused=True)
        assert g[0] is not None and g[0].abs().sum() > 0
        assert g[1] is None


def test_barlow_twins_matches_reference_and_analytic_value():
    a, b = rand(6, 4, seed=1), rand(6, 4, seed=2)
    for lambd in (5e-3, 0.5):
        got = BarlowTwinsLoss(lambd)(a, b)
        assert_close(got, torch.tensor(ref_barlow(a.numpy(), b.numpy(), lambd)))
    # uncorrelated, identical views: C = (N-1)/N * I, so the loss is D / N^2
    z = torch.tensor([[1, 1], [-1, 1], [1, -1], [-1, -1]], dtype=torch.float64)
    assert_close(BarlowTwinsLoss()(z, z), torch.tensor(2 / 16, dtype=torch.float64))


def test_vicreg_matches_reference_and_analytic_value():
    x, y = rand(7, 5, seed=3), 0.3 * rand(7, 5, seed=4)
    assert_close(VICRegLoss()(x, y), torch.tensor(ref_vicreg(x.numpy(), y.numpy())))
    got = VICRegLoss(2.0, 3.0, 0.5)(x, y)
    assert_close(got, torch.tensor(ref_vicreg(x.numpy(), y.numpy(), 2.0, 3.0, 0.5)))
    # identical, uncorrelated views with std >= 1: every term vanishes
    z = 2 * torch.tensor([[1, 1], [-1, 1], [1, -1], [-1, -1]], dtype=torch.float64)
    assert VICRegLoss()(z, z).abs().item() < 1e-12


def test_nnclr_matches_reference_and_picks_neighbours():
    z1, z2, p1, p2 = (rand(5, 4, seed=s) for s in range(4))
    support = rand(9, 4, seed=9)
    nn1, nn2 = nearest_neighbours(z1, support), nearest_neighbours(z2, support)
    got = NNCLRLoss(0.1)(nn1, nn2, p1, p2)
    ref = ref_nnclr(*(t.numpy() for t in (z1, z2, p1, p2, support)), 0.1)
    assert_close(got, torch.tensor(ref))
    # a support row equal to a query (up to scale) is its neighbour
    assert torch.equal(nearest_neighbours(3 * support[4:5], support), support[4:5])


def test_sinkhorn_matches_reference_and_equipartitions():
    scores = F.normalize(rand(12, 5, seed=5), dim=1)
    q = sinkhorn(scores, 0.05, 3)
    assert_close(q, torch.tensor(ref_sinkhorn(scores.numpy(), 0.05, 3)))
    assert_close(q.sum(1), torch.ones(12, dtype=torch.float64))
    # with many iterations every prototype receives B / K of the mass
    q = sinkhorn(scores, 0.5, 200)
    assert_close(q.sum(0), torch.full((5,), 12 / 5, dtype=torch.float64), factor=1e4)


def test_swav_matches_reference_and_its_gradient_is_the_swapped_prediction():
    scores = [F.normalize(rand(6, 4, seed=s), dim=1) for s in range(3)]
    got = SwAVLoss()(scores)
    assert_close(got, torch.tensor(ref_swav([s.numpy() for s in scores])))
    # d loss / d scores_t: softmax(s_t / tau) minus the codes it predicts, / (tau n)
    s = [x.clone().requires_grad_() for x in scores[:2]]
    SwAVLoss(temperature=0.1)(s).backward()
    q0, q1 = sinkhorn(scores[0]), sinkhorn(scores[1])
    expect1 = 0.5 * (torch.softmax(scores[1] / 0.1, 1) - q0) / (0.1 * 6)
    expect0 = 0.5 * (torch.softmax(scores[0] / 0.1, 1) - q1) / (0.1 * 6)
    assert_close(s[1].grad, expect1)
    assert_close(s[0].grad, expect0)


def test_swav_uses_the_queue_for_the_codes():
    scores = [F.normalize(rand(4, 3, seed=s), dim=1) for s in range(2)]
    queue = [F.normalize(rand(8, 3, seed=10 + s), dim=1) for s in range(2)]
    with_queue = SwAVLoss()(scores, queue)
    ref_q = [ref_sinkhorn(np.concatenate([scores[i], queue[i]]), 0.05, 3)[:4] for i in range(2)]

    def ce(q, s):
        x = s / 0.1
        return -np.mean(np.sum(q * (x - np.log(np.exp(x).sum(1, keepdims=True))), 1))

    s_np = [s.numpy() for s in scores]
    ref = 0.5 * (ce(ref_q[0], s_np[1]) + ce(ref_q[1], s_np[0]))
    assert_close(with_queue, torch.tensor(ref))
    assert not torch.allclose(with_queue, SwAVLoss()(scores))


def test_vicregl_matching_and_weighting():
    a, b = rand(3, 6, 4, seed=1), rand(3, 5, 4, seed=2)
    xs, ys = match_features(a, b, num_matches=3)
    for i in range(3):  # loop reference: nearest b-row of each a-row, keep the 3 closest
        d = torch.cdist(a[i], b[i])
        best, idx = d.min(1)
        keep = best.argsort()[:3]
        assert torch.equal(xs[i], a[i][keep]) and torch.equal(ys[i], b[i][idx[keep]])
    g = [rand(6, 4, seed=s) for s in (3, 4, 5)]
    loc = [rand(6, 4, 4, seed=s) for s in (6, 7)]
    only_global = VICRegLLoss(alpha=1.0)(g, loc)
    ref_global = (
        ref_vicreg(g[0].numpy(), g[1].numpy())
        + ref_vicreg(g[0].numpy(), g[2].numpy())
        + ref_vicreg(g[1].numpy(), g[2].numpy())
    ) / 3
    assert_close(only_global, torch.tensor(ref_global))
    only_local = VICRegLLoss(alpha=0.0, num_matches=2)(g, loc)
    ref_local = 0.0
    for x, y in ((loc[0], loc[1]), (loc[1], loc[0])):
        xs, ys = match_features(x, y, 2)
        ref_local += ref_vicreg(xs.flatten(0, 1).numpy(), ys.flatten(0, 1).numpy()) / 2
    assert_close(only_local, torch.tensor(ref_local))
    half = VICRegLLoss(alpha=0.25, num_matches=2)(g, loc)
    assert_close(half, 0.25 * only_global + 0.75 * only_local)


@pytest.mark.parametrize("name", ["byol", "simsiam", "barlow", "vicreg", "nnclr", "vicregl"])
def test_gradcheck(name):
    if name in ("byol", "simsiam"):
        loss = BYOLLoss() if name == "byol" else SimSiamLoss()
        targets = (rand(4, 3, seed=8), rand(4, 3, seed=9))
        fn = lambda p1, p2: loss(p1, p2, *targets)  # noqa: E731
        inputs = (rand(4, 3, seed=1), rand(4, 3, seed=2))
    elif name == "barlow":
        fn, inputs = BarlowTwinsLoss(0.1), (rand(5, 3, seed=1), rand(5, 3, seed=2))
    elif name == "vicreg":  # std < 1 on every dimension: the hinge is active and smooth
        fn, inputs = VICRegLoss(), (0.3 * rand(5, 3, seed=1), 0.3 * rand(5, 3, seed=2))
    elif name == "nnclr":
        nn1, nn2 = rand(4, 3, seed=5), rand(4, 3, seed=6)
        fn = lambda p1, p2: NNCLRLoss(0.5)(nn1, nn2, p1, p2)  # noqa: E731
        inputs = (rand(4, 3, seed=1), rand(4, 3, seed=2))
    else:
        loss = VICRegLLoss(alpha=0.5, num_matches=2)
        fn = lambda g1, g2, l1, l2: loss([g1, g2], [l1, l2])  # noqa: E731
        inputs = (0.3 * rand(4, 3, seed=1), 0.3 * rand(4, 3, seed=2))
        inputs += (0.3 * rand(4, 3, 3, seed=3), 0.3 * rand(4, 3, 3, seed=4))
    inputs = tuple(t.requires_grad_() for t in inputs)
    assert torch.autograd.gradcheck(fn, inputs)


def test_bad_inputs_raise_value_errors():
    with pytest.raises(ValueError, match="lambd"):
        BarlowTwinsLoss(-1.0)
    with pytest.raises(ValueError, match="mu"):
        VICRegLoss(mu=-1.0)
    with pytest.raises(ValueError, match="temperature"):
        NNCLRLoss(0.0)
    with pytest.raises(ValueError, match="epsilon"):
        SwAVLoss(epsilon=0.0)
    with pytest.raises(ValueError, match="alpha"):
        VICRegLLoss(alpha=2.0)
    with pytest.raises(ValueError, match=r"\(n, D\)"):
        BarlowTwinsLoss()(torch.rand(4, 3), torch.rand(4, 2))
    with pytest.raises(ValueError, match=">= 2 samples"):
        VICRegLoss()(torch.rand(1, 3), torch.rand(1, 3))
