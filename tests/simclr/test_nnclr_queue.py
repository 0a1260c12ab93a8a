"""NNCLR's support queue: a ring of unit rows that behaves as the paper's FIFO queue.

The reference is the plain FIFO queue (newest rows in, oldest out, by concatenation),
kept here in float64 beside the method's ring through more steps than the queue holds;
the ring stores float32, so rows are compared at float32's tolerance.
"""

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from helpers.numerics import assert_close

from simclr.losses.nnclr import nearest_neighbours
from simclr.methods import Progress
from simclr.methods.nnclr import NNCLR, NNCLRParams
from simclr.models import build_backbone

QUEUE, DIM = 10, 16


def make(queue_size=QUEUE):
    torch.manual_seed(0)
    params = NNCLRParams(
        queue_size=queue_size, proj_hidden_dim=32, proj_output_dim=DIM, pred_hidden_dim=32
    )
    return NNCLR(build_backbone("resnet18", 16, width=0.125), params)


def push(method, z):
    """One step's queue update with projections ``z`` (what ``loss`` leaves pending)."""
    method._pending = z
    method.after_optimizer_step(Progress(0, 0, 1, 1))


def batches(sizes, seed=3):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, DIM, generator=g) * 5 for n in sizes]


def test_the_ring_holds_the_fifo_queues_rows_and_finds_the_same_neighbours():
    m = make()
    fifo = torch.zeros(0, DIM, dtype=torch.float64)  # oldest first
    queries = torch.randn(7, DIM, generator=torch.Generator().manual_seed(9))
    for z in batches([4, 4, 3, 4, 4, 1, 4]):  # 24 rows through a queue of 10: wraps twice
        push(m, z)
        fifo = torch.cat([fifo, z.double()])[-QUEUE:]
        assert_close(m.queue, F.normalize(fifo, dim=1).float(), msg="rows, oldest first")
        want = F.normalize(nearest_neighbours(queries.double(), fifo), dim=1)
        got = nearest_neighbours(queries, m.support(queries), support_normalized=True)
        assert_close(got, want.float(), msg="neighbours")
    assert m.queue.shape == (QUEUE, DIM)


def test_a_batch_larger_than_the_queue_keeps_its_first_rows():
    m = make(queue_size=3)
    (z,) = batches([5])
    push(m, z)
    assert_close(m.queue, F.normalize(z[:3].double(), dim=1).float())


def test_the_empty_queue_makes_each_projection_its_own_neighbour():
    m = make()
    (z,) = batches([6])
    got = nearest_neighbours(z, m.support(z), support_normalized=True)
    assert_close(got, F.normalize(z.double(), dim=1).float())


def test_a_checkpoint_restores_the_ring_row_for_row():
    m = make()
    for z in batches([4, 4, 4]):  # wrapped: the next row to overwrite is not row 0
        push(m, z)
    state = m.checkpoint_state()
    assert int(state["support_queue_next"]) == 2
    other = make()
    other.load_checkpoint_state(state)
    for z in batches([3, 4], seed=5):  # both go on identically, bit for bit
        push(m, z)
        push(other, z)
        assert torch.equal(m.queue, other.queue)
        assert torch.equal(m.support(z), other.support(z))


def test_an_older_checkpoint_newest_first_loads_with_its_oldest_rows_overwritten_first():
    old, new = batches([4, 3])
    m = make()
    m.load_checkpoint_state({"queue": torch.cat([new, old])})  # the earlier format
    # oldest step first (a step's own rows, all as old, come reversed)
    loaded = F.normalize(torch.cat([new, old]).flip(0).double(), dim=1)
    assert_close(m.queue, loaded.float())
    assert_close(m.queue[:4], F.normalize(old.flip(0).double(), dim=1).float())
    (more,) = batches([5], seed=7)  # 7 + 5 rows in a queue of 10: two of `old` go
    push(m, more)
    assert_close(m.queue, torch.cat([loaded[2:], F.normalize(more.double(), dim=1)]).float())


def test_a_checkpoint_that_does_not_fit_the_queue_is_refused_in_one_line():
    m = make(queue_size=4)
    with pytest.raises(ValueError, match=r"support_queue: expected at most queue_size=4 rows"):
        m.load_checkpoint_state(
            {"support_queue": torch.randn(6, DIM), "support_queue_next": torch.tensor(0)}
        )
    with pytest.raises(ValueError, match=r"proj_output_dim=16 projections, got shape \(3, 8\)"):
        m.load_checkpoint_state({"support_queue": torch.randn(3, 8), "support_queue_next": 3})
    # a wrapped ring of 4 saved by a run whose queue held 4 rows, loaded into a queue of 8:
    # its next row would overwrite rows in use while empty ones stayed counted
    wrapped = make(queue_size=4)
    for z in batches([3, 3]):
        push(wrapped, z)
    state = wrapped.checkpoint_state()
    assert int(state["support_queue_next"]) == 2
    with pytest.raises(ValueError, match=r"support_queue_next: expected 4 \(the first unused"):
        make(queue_size=8).load_checkpoint_state(state)


def test_a_checkpoint_holds_only_the_rows_in_use():
    m = make(queue_size=1000)
    push(m, batches([3])[0])
    buf = io.BytesIO()
    torch.save(m.checkpoint_state(), buf)
    assert buf.tell() < 2000 * 4, buf.tell()  # not the 1000 x 16 floats of the buffer


def test_the_queue_benchmark_runs_and_writes_its_table(tmp_path):
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "nnclr_queue.py"
    out = tmp_path / "nnclr.json"
    args = ["--queue-sizes", "16", "64", "--batch-size", "4", "--dim", "8", "--steps", "2"]
    done = subprocess.run(
        [sys.executable, str(script), *args, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "queue rows" in done.stdout and "machine:" in done.stdout
    result = json.loads(out.read_text())
    assert [r["queue_size"] for r in result["rows"]] == [16, 64]
    assert all(0 < r["min_ms"] <= r["median_ms"] <= r["max_ms"] for r in result["rows"])
    assert result["machine"]["cores"] >= 1
