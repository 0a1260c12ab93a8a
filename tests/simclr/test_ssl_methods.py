"""Every registered SSL method in the Trainer: hooks, exact GradCache, loss falls, resume.

The method list comes from the registry and each method's small heads from its own
``smoke_params``, so a new method is tested here without editing this file.
"""

import csv
import io
import math

import pytest
import torch
from helpers.numerics import assert_close
from helpers.simclr_testutils import (
    COUPLED,
    METHOD_NAMES,
    TINY_PARAMS,
    smoke_backbone,
    tiny_config,
    tiny_method_config,
)

from simclr.build import build_local_augment, check_config
from simclr.config import apply_overrides
from simclr.gradcache import TrainModule, forward_backward
from simclr.methods import METHODS, Progress, ViewSpec, build_method
from simclr.methods.byol import cosine_momentum
from simclr.optim import build_optimizer, build_scheduler
from simclr.trainer import Trainer, train


def make(name, norm="batch", seed=0, dtype=torch.float32):
    torch.manual_seed(seed)
    backbone = smoke_backbone(name, norm=norm)
    p = dict(TINY_PARAMS[name])
    if norm == "group":  # GroupNorm(32 groups) of 32 features would normalise each to 0
        p = {k: (128 if k.endswith("dim") and v == 32 else v) for k, v in p.items()}
    return TrainModule(build_method(name, backbone, p, norm=norm)).to(dtype)


def views_for(method, n=8, seed=1, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    spec = method.views()
    sizes = [16] * spec.global_views + [spec.local_size] * spec.local_views
    imgs = [torch.rand(n, 3, s, s, generator=g, dtype=dtype) for s in sizes]
    return imgs, [torch.ones(n, 1, s, s, dtype=dtype) for s in sizes]


def grads(module):
    return {n: p.grad.clone() for n, p in module.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_every_method_declares_valid_smoke_params(name):
    cls = METHODS.get(name)
    assert cls.smoke_params is not None, (
        f"method {name!r} has no smoke_params: declare small method.params on {cls.__name__}"
    )
    cls.config_class.from_params(dict(cls.smoke_params))


def test_every_method_is_registered_and_named_in_errors(tmp_path):
    names = set(METHOD_NAMES)
    assert {"simclr", "mae", "byol", "simsiam", "barlow_twins", "vicreg"} <= names
    assert {"vicregl", "nnclr", "swav"} <= names
    with pytest.raises(ValueError) as err:
        train(tiny_config(tmp_path, "method.name=moco"))
    assert all(n in str(err.value) for n in names)
    with pytest.raises(ValueError, match="method.params.momentum_base"):
        check_config(tiny_config(tmp_path, "method.name=byol", "method.params.momentum_base=1.5"))
    with pytest.raises(ValueError, match="ResNet"):
        check_config(tiny_config(tmp_path, "method.name=vicregl", "model.backbone=vit_tiny"))


def test_byol_teacher_follows_the_ema_formula_with_cosine_momentum():
    module = make("byol")
    byol = module.method
    teacher = {k: v.clone() for k, v in byol.teacher_backbone.state_dict().items()}
    with torch.no_grad():  # move the student away from the teacher
        for p in byol.backbone.parameters():
            p.add_(torch.randn_like(p))
    student = {k: v.clone() for k, v in byol.backbone.state_dict().items()}
    progress = Progress(step=3, epoch=1, steps_per_epoch=5, total_steps=10)
    byol.after_optimizer_step(progress)
    tau = 1 - (1 - 0.99) * (math.cos(math.pi * 3 / 10) + 1) / 2
    assert tau == pytest.approx(byol.momentum(progress), abs=1e-15)
    names = {n for n, _ in byol.backbone.named_parameters()}
    for k, v in byol.teacher_backbone.state_dict().items():
        if k in names:
            assert_close(v, tau * teacher[k] + (1 - tau) * student[k], msg=k)
        else:  # BN running statistics are the teacher's own
            assert torch.equal(v, teacher[k]), k
    assert cosine_momentum(0.99, 1.0, 0, 10) == 0.99 and cosine_momentum(0.99, 1.0, 10, 10) == 1
    assert not any(p.requires_grad for p in byol.teacher_backbone.parameters())


def test_simsiam_predictor_keeps_the_peak_lr(tmp_path):
    cfg = tiny_method_config(tmp_path, "simsiam")
    module = make("simsiam")
    groups = module.method.param_groups(cfg.optim.weight_decay, cfg.optim.exclude_bn_bias)
    opt = build_optimizer(module.method, cfg.optim, 0.1, groups)
    sched = build_scheduler(opt, cfg.optim, steps_per_epoch=2, epochs=4)
    pred = {id(p) for p in module.method.predictor.parameters()}
    fixed = [g for g in opt.param_groups if g.get("fixed_lr")]
    assert fixed and all(id(p) in pred for g in fixed for p in g["params"])
    assert sum(len(g["params"]) for g in fixed) == len(pred)
    for _ in range(5):
        opt.step()
        sched.step()
    assert all(g["lr"] == 0.1 for g in fixed)
    assert opt.param_groups[0]["lr"] < 0.1  # the rest follows warm-up + cosine


def test_swav_prototypes_are_frozen_in_the_first_epoch():
    module = make("swav", norm="group")
    swav = module.method
    opt = torch.optim.SGD(swav.parameters(), lr=1.0)
    imgs, msks = views_for(swav)
    for epoch in (0, 1):
        before = swav.prototypes.weight.detach().clone()
        opt.zero_grad()
        forward_backward(module, imgs, msks, None)
        progress = Progress(epoch * 2, epoch, 2, 4)
        swav.before_optimizer_step(progress)
        opt.step()
        swav.after_optimizer_step(progress)
        moved = (swav.prototypes.weight - before).abs().max().item()
        assert (moved < 1e-6) if epoch == 0 else (moved > 1e-4), (epoch, moved)
        assert_close(swav.prototypes.weight.norm(dim=1), torch.ones(8))


def test_local_views_keep_the_region_path(tmp_path):
    from segaug import recipes

    aug = recipes.build("thesis", output_size=16)
    spec = ViewSpec(local_views=2, local_size=8, local_scale=(0.1, 0.2))
    local = build_local_augment(aug, spec, 16)
    assert [type(op) for op in local.foreground] == [type(op) for op in aug.foreground]
    assert [type(op) for op in local.background] == [type(op) for op in aug.background]
    assert local.geometric.output_size == (8, 8) and local.geometric.scale == (0.1, 0.2)
    assert aug.geometric.output_size == (16, 16)  # the global recipe is untouched
    # without a size: the multi-crop ratio 96/224 of the global side
    assert build_local_augment(aug, ViewSpec(local_views=1), 224).geometric.output_size == (96, 96)
    images = torch.rand(6, 3, 16, 16)
    masks = torch.zeros(6, 1, 16, 16)
    masks[:3, :, 4:12, 4:12] = 1  # three reliable masks, three that fall back
    out, ref = local(images, masks), aug(images, masks)
    assert out.images.shape == (6, 3, 8, 8)
    assert torch.equal(out.fallback, ref.fallback) and out.fallback.tolist() == [0, 0, 0, 1, 1, 1]
    # in the trainer: 2 global + 2 local views, every one with its masks
    trainer = Trainer(tiny_method_config(tmp_path, "swav"))
    imgs, msks, _ = trainer.make_views((images * 255).to(torch.uint8), masks.to(torch.uint8))
    assert [x.shape[-1] for x in imgs] == [16, 16, 8, 8]
    assert [m.shape[-1] for m in msks] == [16, 16, 8, 8]


@pytest.mark.parametrize("name", COUPLED)
def test_gradcache_is_exact_for_batch_coupled_losses(name):
    # GroupNorm: no BN, so the accumulated gradient equals one large batch exactly
    ref = make(name, norm="group", dtype=torch.float64)
    assert ref.method.batch_coupled
    imgs, msks = views_for(ref.method, dtype=torch.float64)
    # one step on another batch first: a filled queue (NNCLR, SwAV), the same for both runs
    with torch.no_grad():
        out = ref.method([x.flip(0) for x in imgs], msks)
    ref.method.loss(out.embeddings)
    ref.method.after_optimizer_step(Progress(0, 0, 1, 1))
    acc = make(name, norm="group", dtype=torch.float64)
    acc.load_state_dict(ref.state_dict())  # (the hook re-normalised SwAV's prototypes)
    acc.method.load_checkpoint_state(ref.method.checkpoint_state())
    r_ref = forward_backward(ref, imgs, msks, None, accumulate=1)
    r_acc = forward_backward(acc, imgs, msks, None, accumulate=2)
    assert_close(r_acc.loss, r_ref.loss)
    g_ref, g_acc = grads(ref), grads(acc)
    assert g_ref.keys() == g_acc.keys() and len(g_ref) > 10
    # judged against the largest gradient: some are exactly 0 in theory (the last bias
    # under Barlow Twins' standardisation) and rounding noise in practice
    scale = max(g.abs().max().item() for g in g_ref.values())
    for k in g_ref:
        assert_close(g_acc[k], g_ref[k], scale=scale, msg=k)


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_loss_falls_on_a_fixed_batch(name):
    module = make(name)
    method = module.method
    opt = torch.optim.AdamW(method.param_groups(0.0, False), lr=3e-3)
    imgs, msks = views_for(method)
    losses = []
    for step in range(10):
        torch.manual_seed(100 + step % 2)  # MAE: alternate between two fixed maskings
        opt.zero_grad()
        losses.append(forward_backward(module, imgs, msks, None).loss.item())
        progress = Progress(step, step // 5, 5, 10)
        method.before_optimizer_step(progress)
        opt.step()
        method.after_optimizer_step(progress)
    first, last = sum(losses[:2]) / 2, sum(losses[-2:]) / 2
    assert last < first - 0.05 * max(abs(first), 1.0), losses


def _rows(path):
    return list(csv.DictReader(open(path, newline="")))


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_train_and_resume_is_exact_with_the_method_state(tmp_path, name):
    extra = ("train.checkpoint_every_steps=1",)
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    r_full = train(tiny_method_config(straight, name, *extra))
    assert r_full.step == 4 and all(math.isfinite(r["loss"]) for r in r_full.epochs)
    cfg = tiny_method_config(resumed, name, *extra)
    train(apply_overrides(cfg, ["train.max_steps=3"]))  # "killed" mid-epoch 2
    train(cfg, resume=resumed)

    a = torch.load(straight / "last.pt", weights_only=False)
    b = torch.load(resumed / "last.pt", weights_only=False)
    assert a["step"] == b["step"] == 4
    assert a["model"].keys() == b["model"].keys()
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    assert len(a["method_state"]) == 1
    sa, sb = a["method_state"][0], b["method_state"][0]
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(torch.as_tensor(sa[k]), torch.as_tensor(sb[k])), k
    assert all(torch.as_tensor(v).numel() > 0 for v in sa.values()), sa  # queues are filled
    # the extra state is plain tensors/numbers: it loads with weights_only=True
    buf = io.BytesIO()
    torch.save(sa, buf)
    buf.seek(0)
    torch.load(buf, weights_only=True)
    assert [r["loss"] for r in _rows(straight / "metrics.csv")] == [
        r["loss"] for r in _rows(resumed / "metrics.csv")
    ]
