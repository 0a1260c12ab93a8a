"""Two gloo processes gather what each batch-coupled method needs (float64).

Barlow Twins' cross-correlation and VICReg's variance/covariance are over the global
batch, NNCLR's negatives and support queue span every process, SwAV's Sinkhorn sums run
over the global batch: each process's share of the batch, with DDP, gives the loss and
gradient of one process on the whole batch, with and without GradCache accumulation.
"""

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from helpers.numerics import assert_close

from simclr.gradcache import TrainModule, forward_backward
from simclr.methods import Progress, build_method
from simclr.models import build_backbone

WORLD = 2
PARAMS = {
    "barlow_twins": {"proj_dim": 128},
    "vicreg": {"proj_dim": 128},
    "vicregl": {"proj_dim": 128, "local_proj_dim": 64, "local_views": 0, "num_matches": 2},
    "nnclr": {"queue_size": 16, "proj_hidden_dim": 128, "proj_output_dim": 64,
              "pred_hidden_dim": 128},
    "swav": {"num_prototypes": 8, "proj_hidden_dim": 128, "proj_output_dim": 64,
             "local_views": 1, "local_size": 8},
    # one region per image (the masks are ones), so every process draws the same regions
    "detcon_s": {"proj_hidden_dim": 32, "proj_output_dim": 16, "num_samples": 4},
    "detcon_b": {"proj_hidden_dim": 32, "proj_output_dim": 16, "pred_hidden_dim": 32,
                 "num_samples": 4},
}  # fmt: skip


def _module(name: str) -> TrainModule:
    torch.manual_seed(0)
    backbone = build_backbone("resnet18", 16, width=0.125, norm="group")
    module = TrainModule(build_method(name, backbone, PARAMS[name], norm="group")).double()
    if name == "nnclr":  # the same support queue everywhere
        g = torch.Generator().manual_seed(7)
        module.method.load_checkpoint_state({"queue": torch.randn(16, 64, generator=g)})
    return module


def _global_batch(name: str, n: int = 8):
    g = torch.Generator().manual_seed(3)
    sizes = [16, 16] + ([8] if name == "swav" else [])
    views = [torch.rand(n, 3, s, s, generator=g, dtype=torch.float64) for s in sizes]
    return views, [torch.ones(n, 1, s, s, dtype=torch.float64) for s in sizes]


def _run(model, module, views, masks, accumulate):
    res = forward_backward(model, views, masks, None, accumulate)
    module.method.after_optimizer_step(Progress(0, 1, 1, 2))
    grads = {k: p.grad.clone() for k, p in module.named_parameters() if p.grad is not None}
    return res.loss.detach(), grads, module.method.checkpoint_state()


def _worker(rank: int, port: int, out: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(WORLD)
    )
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        results = {}
        for name in PARAMS:
            views, masks = _global_batch(name)
            n = views[0].shape[0] // WORLD
            local_v = [v[rank * n : (rank + 1) * n] for v in views]
            local_m = [m[rank * n : (rank + 1) * n] for m in masks]
            for acc in (1, 2):
                module = _module(name)
                model = torch.nn.parallel.DistributedDataParallel(module)
                loss, grads, state = _run(model, module, local_v, local_m, acc)
                dist.all_reduce(loss)
                results[name, acc] = (loss / WORLD, grads, state)
        if rank == 0:
            torch.save(results, os.path.join(out, "ddp.pt"))
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed unavailable")
def test_two_processes_match_one_process_on_the_global_batch(tmp_path):
    mp.spawn(_worker, args=(_free_port(), str(tmp_path)), nprocs=WORLD, join=True)
    got = torch.load(tmp_path / "ddp.pt", weights_only=False)
    for name in PARAMS:
        views, masks = _global_batch(name)
        module = _module(name)
        ref_loss, ref_grads, ref_state = _run(module, module, views, masks, 1)
        scale = max(g.abs().max().item() for g in ref_grads.values())
        for acc in (1, 2):
            loss, grads, state = got[name, acc]
            assert loss.dtype == torch.float64
            assert_close(loss, ref_loss, msg=f"{name} loss, accumulate={acc}")
            assert grads.keys() == ref_grads.keys() and len(grads) > 10
            for k, g in ref_grads.items():
                assert_close(grads[k], g, scale=scale, msg=f"{name} {k}, accumulate={acc}")
            if name == "nnclr":  # the queue received the whole batch, in batch order
                assert_close(state["support_queue"], ref_state["support_queue"], msg="nnclr queue")
                assert state["support_queue"].shape == (16, 64)
