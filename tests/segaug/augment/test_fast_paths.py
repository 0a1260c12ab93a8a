"""The engine's fast paths give the results of the plain ones.

- ColorJitter's compiled slot kernel agrees with the eager steps (kornia's kernels).
- ``auto`` compiles only on the CPU and only after enough work; a failing compile warns
  once and runs eagerly from then on.
- Ops before a ``Fill`` skip the rows it replaces, without changing a pixel.
- ``Fill`` draws noise only for the rows that fire in noise mode, and computes each
  mode on its own rows as the formula of every mode does.
"""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from helpers.numerics import assert_close

from segaug import ColorJitter, RegionAugment
from segaug.augment import ops
from segaug.augment.ops import FILL_MODES, AutoCompiled, Fill


def _jitter_params(n: int, seed: int = 0) -> dict:
    op = ColorJitter(0.8, 0.8, 0.8, 0.2, p=1.0)
    torch.manual_seed(seed)
    params = op.draw(n, (64, 64))
    params.pop("fire")
    return params


def test_compiled_jitter_agrees_with_the_eager_steps(photos):
    x = photos.float() / 255
    params = _jitter_params(4)
    eager, compiled = ColorJitter(0.8, 0.8, 0.8, 0.2), ColorJitter(0.8, 0.8, 0.8, 0.2)
    eager._slot = AutoCompiled(ops._jitter_slot, policy="never")
    compiled._slot = AutoCompiled(ops._jitter_slot, policy="always")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # a failed compile would warn
        out = compiled.apply(x.clone(), params)
        # the second call has another row count: dynamic shapes, no error
        sub = {k: v[1:] for k, v in params.items()}
        out_sub = compiled.apply(x[1:].clone(), sub)
    assert compiled._slot._compiled is not None and not compiled._slot._failed
    assert_close(out, eager.apply(x.clone(), params), factor=10)  # inductor may fuse mul+add
    assert_close(out_sub, eager.apply(x[1:].clone(), sub), factor=10)


def test_a_failing_compile_warns_once_then_runs_eagerly(monkeypatch):
    def broken_compile(fn, **kwargs):
        def run(*args):
            raise RuntimeError("no C++ compiler")

        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    kernel = AutoCompiled(lambda x: x * 2, policy="always")
    with pytest.warns(RuntimeWarning, match="runs eagerly from now on"):
        assert kernel(torch.ones(3)).tolist() == [2.0, 2.0, 2.0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert kernel(torch.ones(2)).tolist() == [2.0, 2.0]
    assert not kernel.use_compiled(torch.ones(2))


def test_a_compiled_kernel_that_disagrees_with_eager_warns_once_then_runs_eagerly(monkeypatch):
    # what a torch.compile cache filled under another CPU capability gives: wrong pixels
    calls = []

    def stale_compile(fn, **kwargs):
        def run(x, *args):
            calls.append(x.shape)
            return fn(x, *args) + 0.5

        return run

    monkeypatch.setattr(torch, "compile", stale_compile)
    kernel = AutoCompiled(lambda x: x * 2, policy="always")
    with pytest.warns(RuntimeWarning, match="disagrees with the eager kernel.*runs eagerly"):
        assert kernel(torch.ones(3)).tolist() == [2.0, 2.0, 2.0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert kernel(torch.ones(2)).tolist() == [2.0, 2.0]
    assert calls == [(3,)] and not kernel.use_compiled(torch.ones(2))


def test_a_compiled_kernel_is_checked_once_per_kind_of_input(monkeypatch):
    eager_calls = []

    def double(x):
        eager_calls.append(tuple(x.shape))
        return x * 2

    monkeypatch.setattr(torch, "compile", lambda fn, **kwargs: lambda x: x * 2)
    kernel = AutoCompiled(double, policy="always")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for rows in (4, 3, 5):  # other batch sizes: checked already
            kernel(torch.ones(rows, 3, 8, 8))
        kernel(torch.ones(2, 3, 16, 16))  # another image size: checked again
        kernel(torch.ones(2, 3, 16, 16, dtype=torch.float64))  # another dtype: again
    assert eager_calls == [(4, 3, 8, 8), (2, 3, 16, 16), (2, 3, 16, 16)]
    assert kernel.use_compiled(torch.ones(2))


def test_auto_compiles_on_the_cpu_after_enough_work(monkeypatch):
    compiled_calls = []

    def spy_compile(fn, **kwargs):
        def run(*args):
            compiled_calls.append(args[0].numel())
            return fn(*args)

        return run

    monkeypatch.setattr(torch, "compile", spy_compile)
    monkeypatch.setattr(ops, "COMPILE_AFTER_ELEMENTS", 1000)
    monkeypatch.delenv(ops.COMPILE_ENV, raising=False)
    kernel = AutoCompiled(lambda x: x + 1)
    kernel(torch.zeros(600))
    assert compiled_calls == []  # 600 elements of work: eager
    kernel(torch.zeros(600))
    assert compiled_calls == [600]  # 1200 >= 1000: compiled from now on
    monkeypatch.setenv(ops.COMPILE_ENV, "never")
    kernel(torch.zeros(600))
    assert compiled_calls == [600]
    monkeypatch.setenv(ops.COMPILE_ENV, "auto")
    monkeypatch.setattr(torch.utils.data, "get_worker_info", lambda: object())
    kernel(torch.zeros(600))  # in a DataLoader worker: eager
    assert compiled_calls == [600]
    monkeypatch.setenv(ops.COMPILE_ENV, "sometimes")
    with pytest.raises(
        ValueError, match="SEGAUG_COMPILE must be auto, always or never, got 'sometimes'"
    ):
        kernel(torch.zeros(1))


def test_ops_before_a_fill_skip_the_rows_it_replaces(photos, center_masks, monkeypatch):
    seen_rows = []
    apply = ColorJitter.apply

    def counting_apply(self, x, params):
        seen_rows.append(x.shape[0])
        return apply(self, x, params)

    monkeypatch.setattr(ColorJitter, "apply", counting_apply)
    images = photos.repeat(4, 1, 1, 1)  # 16 images, every mask covers 25%
    masks = center_masks.repeat(4, 1, 1, 1)

    def make():
        return RegionAugment(
            foreground=[], background=[ColorJitter(0.4, 0.4, 0.4, 0.1, p=1.0), Fill(p=0.5)],
            fallback=[], geometric=False,
        )  # fmt: skip

    torch.manual_seed(3)
    aug = make()
    fast = aug(images, masks)
    fired = int(fast.params.background[1]["fire"].sum())
    assert 0 < fired < 16
    assert seen_rows == [16 - fired]  # the jitter ran only where the fill does not replace
    plain = make()
    plain.background[1].ignores_input = False  # every op on every row it fires on
    seen_rows.clear()
    reference = plain(images, masks, params=fast.params)
    assert seen_rows == [16]
    assert torch.equal(fast.images, reference.images)


def test_fill_draws_noise_only_where_it_fires_in_noise_mode_and_fills_each_mode_exactly():
    op = Fill(p=0.7)
    torch.manual_seed(0)
    params = op.draw(64, (24, 24))
    noise_rows = params["fire"] & (params["mode"] == FILL_MODES.index("noise"))
    assert 0 < int(noise_rows.sum()) < 64
    assert bool((params["noise"][~noise_rows] == 0).all())
    assert bool((params["noise"][noise_rows].float().std(dim=(1, 2, 3)) > 50).all())
    x = torch.rand(64, 3, 24, 24)
    out = op.apply(x.clone(), {k: v for k, v in params.items() if k != "fire"})
    # every mode's formula on every row, then each row's own mode
    flat = params["colour"].view(-1, 3, 1, 1).expand_as(x)
    noise = F.interpolate(params["noise"].float() / 255, size=(24, 24), mode="nearest")
    texture = F.interpolate(params["texture"], size=(24, 24), mode="bicubic").clamp(0, 1)
    mode = params["mode"].view(-1, 1, 1, 1)
    expected = torch.where(mode == 0, flat, torch.where(mode == 1, noise, texture))
    for k in (0, 1):  # flat and noise: the same values
        assert torch.equal(out[params["mode"] == k], expected[params["mode"] == k])
    # texture: bicubic as two matrix products, the same up to rounding
    assert_close(out[params["mode"] == 2], expected[params["mode"] == 2])


@pytest.mark.parametrize("policy", ["never", "always"])
def test_jitter_stays_in_the_unit_range_without_a_final_clamp(policy):
    op = ColorJitter(brightness=(0.0, 8.0), contrast=(0.0, 8.0), saturation=(0.0, 8.0), hue=0.5)
    op._slot = AutoCompiled(ops._jitter_slot, policy=policy)
    torch.manual_seed(0)
    x = torch.rand(64, 3, 16, 16)
    x[:, :, :4] = x[:, :, :4].round()  # saturated pixels: exact 0s and 1s
    params = op.draw(64, (16, 16))
    params.pop("fire")
    out = op.apply(x, params)
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
