"""segaug.env.PeakRSS: a per-block memory peak, unlike the process-long ru_maxrss."""

from __future__ import annotations

import mmap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from segaug.env import PeakRSS

MB = 1 << 20


@pytest.mark.skipif(not Path("/proc/self/statm").is_file(), reason="needs /proc (Linux)")
def test_peak_rss_sees_a_transient_allocation_and_resets_per_block():
    # a fresh anonymous mapping: its pages are new to the process whatever the allocator
    # holds (a torch tensor may reuse pages that are already resident)
    with PeakRSS(interval=0.005) as first:
        buf = mmap.mmap(-1, 300 * MB)
        view = np.frombuffer(buf, dtype=np.uint8)
        view[:] = 1  # touch every page
        time.sleep(0.2)  # held for 40 sampling intervals
        del view
        buf.close()  # unmapped: back to the system
    with PeakRSS(interval=0.005) as second:
        torch.ones(1024).sum()
    # the 300 MB buffer counted in the first block, and not in the next one (each block
    # is measured from its own start)
    grew = (first.peak_bytes - first.start_bytes, second.peak_bytes - second.start_bytes)
    assert grew[0] > 250 * MB and grew[1] < 50 * MB, grew
    assert "sampled" in first.kind
