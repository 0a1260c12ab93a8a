"""What NNCLR's support queue costs per training step, at several queue sizes.

Times the queue's part of one step with a full queue: the two nearest-neighbour searches
of ``NNCLR.loss`` and the update in ``after_optimizer_step``, on random projections (the
backbone and heads are left out: their cost does not depend on the queue). The loss
itself is included, so the table is what a step spends beyond the forward/backward.

It uses only the method's public hooks and fills the queue through
``load_checkpoint_state({"queue": ...})``, which every version of the method reads, so
the same script times an earlier commit side by side (check it out in a second worktree
and run the script there with the same arguments). Prints a table, writes JSON (``--out``)
and states the machine.

Usage::

    python benchmarks/nnclr_queue.py                                  # 8,192 to 98,304 rows
    python benchmarks/nnclr_queue.py --queue-sizes 98304 --batch-size 256 --out nnclr.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from segaug.env import machine_info  # noqa: E402
from simclr.methods import Progress  # noqa: E402
from simclr.methods.nnclr import NNCLR, NNCLRParams  # noqa: E402
from simclr.models import build_backbone  # noqa: E402


def time_queue(queue_size: int, batch: int, dim: int, steps: int, device: str) -> list[float]:
    """Seconds per step of the queue's work (search, loss, update) with a full queue."""
    params = NNCLRParams(queue_size=queue_size, proj_output_dim=dim, gather_distributed=False)
    method = NNCLR(build_backbone("convnet", 32, width=0.125), params).to(device)
    g = torch.Generator().manual_seed(0)
    method.load_checkpoint_state({"queue": torch.randn(queue_size, dim, generator=g)})
    emb = [torch.randn(batch, dim, generator=g).to(device) for _ in range(4)]
    times = []
    for step in range(steps + 2):  # two warm-up steps
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        method.loss(emb)
        method.after_optimizer_step(Progress(step, 0, 1, steps + 2))
        if device == "cuda":
            torch.cuda.synchronize()
        if step >= 2:
            times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queue-sizes", type=int, nargs="+", default=[8192, 32768, 98304])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--dim", type=int, default=256, help="projection width (the paper's)")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=None, help="write the results here (JSON)")
    args = parser.parse_args()

    machine = machine_info(args.device)
    print(
        f"machine: {machine['cpu']}, {machine['cores']} cores, {machine['cpu_capability']}, "
        f"torch {machine['torch']}, device {args.device}"
    )
    print(f"batch {args.batch_size}, projections of {args.dim}, {args.steps} timed steps")
    print(f"{'queue rows':>10} {'median ms/step':>15} {'min':>8} {'max':>8}")
    rows = []
    for q in args.queue_sizes:
        t = [1000 * s for s in time_queue(q, args.batch_size, args.dim, args.steps, args.device)]
        row = {
            "queue_size": q,
            "median_ms": statistics.median(t),
            "min_ms": min(t),
            "max_ms": max(t),
        }
        rows.append(row)
        print(f"{q:>10} {row['median_ms']:>15.2f} {row['min_ms']:>8.2f} {row['max_ms']:>8.2f}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        result = {"machine": machine, "batch_size": args.batch_size, "dim": args.dim, "rows": rows}
        args.out.write_text(json.dumps(result, indent=2))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
