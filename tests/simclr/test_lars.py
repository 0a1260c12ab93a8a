"""LARS step by hand, parameter groups, lr scaling and the warm-up + cosine schedule."""

import math

import pytest
import torch
from helpers.numerics import assert_close
from torch import nn

from simclr.config import OptimConfig
from simclr.optim import (
    LARS,
    WarmupCosine,
    build_optimizer,
    build_scheduler,
    param_groups,
    scaled_lr,
)


def test_lars_two_steps_by_hand():
    lr, mom, wd, eta = 0.5, 0.9, 0.1, 0.01
    w = nn.Parameter(torch.tensor([1.0, 2.0, 2.0]))  # ||w|| = 3
    b = nn.Parameter(torch.tensor([1.0]))  # excluded: plain momentum SGD, no decay
    opt = LARS(
        [{"params": [w]}, {"params": [b], "lars": False, "weight_decay": 0.0}],
        lr=lr,
        momentum=mom,
        weight_decay=wd,
        trust_coefficient=eta,
    )
    gw, gb = torch.tensor([0.0, 3.0, 4.0]), torch.tensor([2.0])

    # step 1
    w.grad, b.grad = gw.clone(), gb.clone()
    opt.step()
    d = gw + wd * torch.tensor([1.0, 2.0, 2.0])  # [0.1, 3.2, 4.2]
    trust = eta * 3.0 / math.sqrt(0.1**2 + 3.2**2 + 4.2**2)
    buf_w = d * trust
    w1 = torch.tensor([1.0, 2.0, 2.0]) - lr * buf_w
    assert_close(w.data, w1)
    assert torch.allclose(b.data, torch.tensor([1.0 - lr * 2.0]))

    # step 2: momentum buffer accumulates the new trust-scaled update
    w.grad, b.grad = gw.clone(), gb.clone()
    opt.step()
    d2 = gw + wd * w1
    trust2 = eta * torch.linalg.vector_norm(w1) / torch.linalg.vector_norm(d2)
    buf_w = mom * buf_w + d2 * trust2
    assert_close(w.data, w1 - lr * buf_w)
    assert torch.allclose(b.data, torch.tensor([1.0 - lr * 2.0 - lr * (mom * 2.0 + 2.0)]))


def test_lars_zero_weight_falls_back_to_trust_one():
    w = nn.Parameter(torch.zeros(2))
    opt = LARS([w], lr=1.0, momentum=0.0, weight_decay=0.0)
    w.grad = torch.tensor([1.0, -1.0])
    opt.step()
    assert torch.equal(w.data, torch.tensor([-1.0, 1.0]))


def test_param_groups_exclude_bn_and_bias():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Linear(4, 2))
    groups = param_groups(net, weight_decay=1e-6, exclude_bn_bias=True)
    regular, excluded = groups
    assert {p.shape for p in regular["params"]} == {(4, 3, 3, 3), (2, 4)}
    assert len(excluded["params"]) == 4  # conv bias, bn weight/bias, linear bias
    assert excluded["weight_decay"] == 0.0 and excluded["lars"] is False
    opt = build_optimizer(net, OptimConfig(name="lars"), lr=1.0)
    assert [g["lars"] for g in opt.param_groups] == [True, False]


def test_lr_scaling_thesis():
    # thesis 5.2.1: 0.3 x 4096 / 256 = 4.8
    assert scaled_lr(OptimConfig(lr=0.3, lr_scaling="linear"), 4096) == pytest.approx(4.8)
    assert scaled_lr(OptimConfig(lr=1.0, lr_scaling="none"), 1024) == 1.0
    assert scaled_lr(OptimConfig(lr=0.1, lr_scaling="sqrt"), 1024) == pytest.approx(0.2)


def test_warmup_cosine_schedule():
    f = WarmupCosine(warmup_steps=10, total_steps=110)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(60) == pytest.approx(0.5)  # half-way through the cosine
    assert f(110) == pytest.approx(0.0, abs=1e-12)
    assert WarmupCosine(0, 10, min_ratio=0.1)(10) == pytest.approx(0.1)
    net = nn.Linear(2, 2)
    opt = build_optimizer(net, OptimConfig(name="sgd"), lr=2.0)
    sched = build_scheduler(opt, OptimConfig(warmup_epochs=2), steps_per_epoch=5, epochs=10)
    lrs = []
    for _ in range(50):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(0.2) and max(lrs) == pytest.approx(2.0)
    assert lrs[9] == pytest.approx(2.0) and lrs[-1] < 0.01
