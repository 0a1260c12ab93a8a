"""Generation speed of SyntheticShapes on this machine (one process, CPU).

Measures three access paths per image size: drawing a batch of arrays
(``get_batch``), drawing one PIL sample at a time (``ds[i]`` before materialisation,
what a DataLoader worker does), and indexing the materialised in-memory arrays.

Example:
    python benchmarks/synthetic_speed.py --sizes 64 96 --num-samples 2000 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

from segaug.data.synthetic import SyntheticShapes


def _rate(fn, count: int, repeats: int) -> float:
    """Best-of-``repeats`` items per second."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return count / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 96, 128])
    parser.add_argument("--num-samples", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=str, default=None, help="write the results here")
    args = parser.parse_args()

    machine = (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs, "
        f"{platform.system()} {platform.release()}, numpy {np.__version__}"
    )
    print(f"machine: {machine}")
    print(f"{'size':>5} {'get_batch img/s':>16} {'ds[i] img/s':>12} {'cached ds[i] img/s':>19}")
    rows = []
    n = args.num_samples
    for size in args.sizes:
        ds = SyntheticShapes("train", size=size, num_samples=n)
        batch = _rate(lambda ds=ds: ds.get_batch(np.arange(n)), n, args.repeats)
        single = _rate(lambda ds=ds: [ds[i] for i in range(n)], n, args.repeats)
        _ = ds.images  # materialise the split in memory
        cached = _rate(lambda ds=ds: [ds[i] for i in range(n)], n, args.repeats)
        rows.append({"size": size, "get_batch": batch, "getitem": single, "cached": cached})
        print(f"{size:>5} {batch:>16.0f} {single:>12.0f} {cached:>19.0f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine, "num_samples": n, "results": rows}, f, indent=2)


if __name__ == "__main__":
    main()
