"""segaug.env.PeakRSS: a per-block memory peak, unlike the process-long ru_maxrss."""

from __future__ import annotations

import gc
import time
from pathlib import Path

import pytest
import torch

from segaug.env import PeakRSS

MB = 1 << 20


@pytest.mark.skipif(not Path("/proc/self/statm").is_file(), reason="needs /proc (Linux)")
def test_peak_rss_sees_a_transient_allocation_and_resets_per_block():
    with PeakRSS(interval=0.005) as first:
        x = torch.ones(300 * MB // 4)  # 300 MB, touched
        x.add_(1)
        time.sleep(0.2)  # held for 40 sampling intervals
        del x
        gc.collect()
    with PeakRSS(interval=0.005) as second:
        torch.ones(1024).sum()
    # the 300 MB buffer counted in the first block, and not in the next one (each block
    # is measured from its own start: whether freed pages went back to the system is
    # the allocator's business)
    grew = (first.peak_bytes - first.start_bytes, second.peak_bytes - second.start_bytes)
    assert grew[0] > 250 * MB and grew[1] < 50 * MB, grew
    assert "sampled" in first.kind


def test_peak_rss_is_at_least_the_memory_in_use():
    keep = torch.ones(50 * MB // 4)
    with PeakRSS() as rss:
        keep.add_(1)
    assert rss.peak_bytes > 50 * MB
