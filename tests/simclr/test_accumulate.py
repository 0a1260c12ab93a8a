"""GradCache accumulation: K micro-batches give the gradient of one large batch."""

import pytest
import torch

from simclr.gradcache import TrainModule, forward_backward
from simclr.methods import build_method
from simclr.models import build_backbone


def make_module(norm: str, seed: int = 0, probe: int = 0) -> TrainModule:
    torch.manual_seed(seed)
    backbone = build_backbone("resnet18", 16, width=0.125, norm=norm)
    method = build_method("simclr", backbone, {"temperature": 0.2}, norm=norm)
    return TrainModule(method, probe).double()


def batch(n: int = 8, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    views = [torch.rand(n, 3, 16, 16, generator=g, dtype=torch.float64) for _ in range(2)]
    masks = [torch.ones(n, 1, 16, 16, dtype=torch.float64)] * 2
    labels = torch.randint(0, 3, (n,), generator=g)
    return views, masks, labels


def grads(module):
    return {n: p.grad.clone() for n, p in module.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("k", [2, 4])
def test_gradcache_equals_one_large_batch_without_bn(k):
    views, masks, labels = batch()
    ref = make_module("group", probe=3)
    r_ref = forward_backward(ref, views, masks, labels, accumulate=1)
    acc = make_module("group", probe=3)
    r_acc = forward_backward(acc, views, masks, labels, accumulate=k)
    assert torch.allclose(r_acc.loss, r_ref.loss, rtol=1e-10)
    g_ref, g_acc = grads(ref), grads(acc)
    assert g_ref.keys() == g_acc.keys() and len(g_ref) > 10
    for name in g_ref:
        assert torch.allclose(g_acc[name], g_ref[name], rtol=1e-7, atol=1e-10), name


def test_naive_accumulation_would_differ():
    # the trap GradCache avoids: per-micro-batch NT-Xent has fewer negatives
    views, masks, _ = batch()
    m = make_module("group")
    full = m.method.loss(m(views, masks)[0].embeddings)
    halves = [m.method.loss(m([v[i::2] for v in views], masks)[0].embeddings) for i in (0, 1)]
    assert not torch.allclose(full, sum(halves) / 2)


def test_gradcache_with_bn_equals_ghost_bn_reference():
    # With BN each micro-batch is normalised with its own statistics; the exact
    # reference is the full-batch loss on embeddings computed micro-batch by micro-batch.
    k = 2
    views, masks, _ = batch()
    ref = make_module("batch")
    zs = [ref.method([v[i * 4 : (i + 1) * 4] for v in views], masks).embeddings for i in range(k)]
    loss_ref = ref.method.loss([torch.cat([z[j] for z in zs]) for j in range(2)])
    loss_ref.backward()

    acc = make_module("batch")
    res = forward_backward(acc, views, masks, None, accumulate=k)
    assert torch.allclose(res.loss, loss_ref.detach(), rtol=1e-10)
    g_ref, g_acc = grads(ref), grads(acc)
    for name in g_ref:
        assert torch.allclose(g_acc[name], g_ref[name], rtol=1e-7, atol=1e-10), name
    # BN running statistics are updated once per micro-batch, as in the reference
    for (name, b_ref), (_, b_acc) in zip(ref.named_buffers(), acc.named_buffers(), strict=True):
        assert torch.allclose(b_ref.double(), b_acc.double()), name


def test_rng_is_replayed_for_the_reforward():
    # a method whose embeddings depend on the RNG (dropout) still matches exactly
    views, masks, _ = batch()

    def with_dropout(seed):
        m = make_module("group", seed=seed)
        m.method.projector.net.insert(3, torch.nn.Dropout(0.3))
        return m

    ref = with_dropout(0)
    torch.manual_seed(5)
    zs = [ref.method([v[i * 4 : (i + 1) * 4] for v in views], masks).embeddings for i in range(2)]
    ref.method.loss([torch.cat([z[j] for z in zs]) for j in range(2)]).backward()
    acc = with_dropout(0)
    torch.manual_seed(5)
    forward_backward(acc, views, masks, None, accumulate=2)
    g_ref, g_acc = grads(ref), grads(acc)
    for name in g_ref:
        assert torch.allclose(g_acc[name], g_ref[name], rtol=1e-7, atol=1e-10), name


def test_indivisible_batch_is_rejected():
    views, masks, _ = batch(n=6)
    with pytest.raises(ValueError, match="micro-batches"):
        forward_backward(make_module("group"), views, masks, None, accumulate=4)
