"""Weighted kNN equals a brute-force loop reference."""

import math

import pytest
import torch

from simclr.evaluate.knn import knn_evaluate, knn_scores


def reference(train_x, train_y, test_x, num_classes, k, t):
    out = torch.zeros(len(test_x), num_classes, dtype=torch.float64)
    for i, q in enumerate(test_x.double()):
        sims = []
        for j, v in enumerate(train_x.double()):
            cos = float(q @ v) / (float(q.norm()) * float(v.norm()))
            sims.append((cos, j))
        sims.sort(key=lambda s: -s[0])
        for cos, j in sims[:k]:
            out[i, int(train_y[j])] += math.exp(cos / t)
    return out


@pytest.mark.parametrize("k", [1, 5, 20, 200])
def test_matches_brute_force(k):
    g = torch.Generator().manual_seed(k)
    train_x, train_y = torch.randn(60, 7, generator=g), torch.randint(0, 4, (60,), generator=g)
    test_x = torch.randn(15, 7, generator=g)
    ours = knn_scores(train_x, train_y, test_x, 4, k=k, temperature=0.1, batch_size=4)
    ref = reference(train_x, train_y, test_x, 4, min(k, 60), 0.1)
    torch.testing.assert_close(ours.double(), ref, rtol=1e-4, atol=1e-4)
    assert torch.equal(ours.argmax(1), ref.argmax(1))


def test_evaluate_reports_each_k_and_protocol():
    x = torch.cat([torch.randn(20, 3) + 5, torch.randn(20, 3) - 5])
    y = torch.arange(2).repeat_interleave(20)
    res = knn_evaluate((x, y), (x, y), 2, ks=(3, 200), temperature=0.1)
    assert res["k3"]["top1"] == 1.0 and res["k200"]["top1"] == 1.0
    assert res["protocol"]["ks"] == [3, 200] and res["protocol"]["temperature"] == 0.1


def test_bad_inputs():
    x, y = torch.randn(5, 3), torch.zeros(5).long()
    with pytest.raises(ValueError, match="k must be >= 1"):
        knn_scores(x, y, x, 2, k=0)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        knn_scores(x, y, x, 2, temperature=0.0)
    with pytest.raises(ValueError, match="dimension 2"):
        knn_scores(x, y, x[:, :2], 2)
