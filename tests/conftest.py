"""Shared fixtures: devices, dtypes with tolerances, and real photos from scikit-image."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import numpy as np
import pytest
import torch
import torch.nn.functional as F

# The colour kernels compile once a process has done enough work (SEGAUG_COMPILE=auto),
# which in a whole test session would happen at some test and not at others: two runs
# that a test compares would then differ by rounding. The suite runs them eagerly, and
# tests/segaug/augment/test_fast_paths.py tests the compiled kernel and the policy.
os.environ.setdefault("SEGAUG_COMPILE", "never")

# torch.compile keeps its kernels in an on-disk cache (/tmp/torchinductor_$USER) that is
# not keyed on ATEN_CPU_CAPABILITY: kernels filled under the AVX2 profile and read
# natively (or the reverse) give wrong pixels or abort the process. The suite runs on both
# profiles of one machine, so it compiles into a cache of its own, removed at exit.
if "TORCHINDUCTOR_CACHE_DIR" not in os.environ:
    _inductor_cache = tempfile.mkdtemp(prefix="segaug-tests-inductor-")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = _inductor_cache
    atexit.register(shutil.rmtree, _inductor_cache, ignore_errors=True)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

# Tolerances per dtype live in numerics.py (assert_close), as kornia's testing/base.py.


@pytest.fixture(params=DEVICES)
def device(request) -> torch.device:
    return torch.device(request.param)


@pytest.fixture(params=[torch.float32, torch.float64], ids=["f32", "f64"])
def dtype(request) -> torch.dtype:
    return request.param


def _photo_batch(size: int) -> torch.Tensor:
    from skimage import data

    photos = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket()]
    out = []
    for p in photos:
        t = torch.from_numpy(np.ascontiguousarray(p)).permute(2, 0, 1)[None].float()
        t = F.interpolate(
            t, size=(size, size), mode="bilinear", antialias=True, align_corners=False
        )
        out.append(t.round().clamp(0, 255).to(torch.uint8))
    return torch.cat(out)


@pytest.fixture(scope="session")
def photos() -> torch.Tensor:
    """Four real photos (astronaut, chelsea, coffee, rocket) as uint8 (4, 3, 64, 64)."""
    return _photo_batch(64)


@pytest.fixture(scope="session")
def center_masks() -> torch.Tensor:
    """Binary masks (4, 1, 64, 64) with a centred 32x32 square (coverage 0.25)."""
    m = torch.zeros(4, 1, 64, 64, dtype=torch.uint8)
    m[:, :, 16:48, 16:48] = 1
    return m
