"""Two gloo processes reproduce the single-process loss and update on one global batch.

The comparison runs in float64: the workers use one thread each and the reference the
default thread count, so float32 sums reduce in a different order and would differ by
more than any fixed tolerance on some instruction sets (AVX2 vs AVX-512).
"""

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from helpers.numerics import assert_close

from simclr.gradcache import TrainModule, forward_backward
from simclr.methods import build_method
from simclr.models import build_backbone
from simclr.optim import LARS, param_groups

WORLD = 2


def _module() -> TrainModule:
    torch.manual_seed(0)
    backbone = build_backbone("resnet18", 16, width=0.125, norm="group")
    module = TrainModule(build_method("simclr", backbone, {"temperature": 0.2}, norm="group"))
    return module.double()


def _global_batch(n: int = 8):
    g = torch.Generator().manual_seed(3)
    views = [torch.rand(n, 3, 16, 16, generator=g, dtype=torch.float64) for _ in range(2)]
    return views, [torch.ones(n, 1, 16, 16, dtype=torch.float64)] * 2


def _step(model, module, views, masks, accumulate):
    opt = LARS(param_groups(module, 1e-6, True), lr=0.5, weight_decay=1e-6)
    res = forward_backward(model, views, masks, None, accumulate)
    opt.step()
    return res.loss.detach()


def _worker(rank: int, port: int, out: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(WORLD),
        LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        views, masks = _global_batch()
        n = views[0].shape[0] // WORLD
        local_v = [v[rank * n : (rank + 1) * n] for v in views]
        local_m = [m[rank * n : (rank + 1) * n] for m in masks]
        results = {}
        for acc in (1, 2):
            module = _module()
            model = torch.nn.parallel.DistributedDataParallel(module)
            loss = _step(model, module, local_v, local_m, acc)
            dist.all_reduce(loss)
            results[acc] = (loss / WORLD, {k: v.clone() for k, v in module.state_dict().items()})

        # the real trainer under a process group: runs, rank 0 writes artefacts
        from helpers.simclr_testutils import tiny_config

        from simclr.train import train

        res = train(tiny_config(os.path.join(out, "run"), "train.epochs=1"))
        if rank == 0:
            torch.save({"results": results, "epochs": res.epochs}, os.path.join(out, "ddp.pt"))
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed unavailable")
def test_two_process_gloo_matches_single_process(tmp_path):
    mp.spawn(_worker, args=(_free_port(), str(tmp_path)), nprocs=WORLD, join=True)
    got = torch.load(tmp_path / "ddp.pt", weights_only=True)

    views, masks = _global_batch()
    for acc in (1, 2):
        module = _module()
        ref_loss = _step(module, module, views, masks, acc)
        loss, state = got["results"][acc]
        assert loss.dtype == torch.float64
        assert_close(loss, ref_loss, msg=f"loss, accumulate={acc}")
        init = _module().state_dict()
        for k, v in module.state_dict().items():
            if not v.is_floating_point():
                assert torch.equal(state[k], v), (acc, k)
                continue
            # the step moved the weights; judge the agreement against the size of the update
            update = (v - init[k]).abs().max().item()
            assert update > 0 or "running" in k or k.endswith("num_batches_tracked"), (acc, k)
            assert_close(state[k], v, scale=max(update, v.abs().max().item()), msg=f"{acc} {k}")
    assert (tmp_path / "run" / "last.pt").exists()
    assert len(got["epochs"]) == 1 and got["epochs"][0]["loss"] == got["epochs"][0]["loss"]
