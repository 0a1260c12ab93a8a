"""DetCon: the loss against a NumPy reference and analytic values, mask pooling against
loops, region sampling, and region ids through RegionAugment's geometry."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from segaug import RegionAugment
from segaug.augment.geometry import RandomResizedCropFlip, RandomRotation
from simclr.losses.detcon_b import DetConBLoss, detcon_nce
from simclr.losses.detcon_s import DetConSLoss
from simclr.models.mask_pooling import mask_pool, region_cell_weights, region_ids, sample_regions


def _numpy_detcon(p0, p1, t0, t1, ids0, ids1, temperature):
    """DetCon's loss written as loops over anchors and candidates (float64)."""

    def norm(a):
        return a / np.linalg.norm(a, axis=-1, keepdims=True)

    p0, p1, t0, t1 = (norm(np.asarray(a, np.float64)) for a in (p0, p1, t0, t1))
    b_size, m_size, _ = p0.shape

    def one_direction(pa, ida, tb, idb, ta):
        total = 0.0
        for b in range(b_size):
            for i in range(m_size):
                logits, positive = [], []
                for b2 in range(b_size):
                    for j in range(m_size):
                        logits.append(pa[b, i] @ tb[b2, j] / temperature)
                        positive.append(b2 == b and idb[b2, j] == ida[b, i])
                for b2 in range(b_size):
                    for j in range(m_size):
                        if b2 == b and ida[b2, j] == ida[b, i]:
                            continue  # the anchor's own region in its own view
                        logits.append(pa[b, i] @ ta[b2, j] / temperature)
                        positive.append(False)
                logits, positive = np.array(logits), np.array(positive)
                if not positive.any():
                    continue  # the region is not in the other view
                log_p = logits - (logits.max() + np.log(np.exp(logits - logits.max()).sum()))
                repeats = (ida[b] == ida[b, i]).sum()
                total += -log_p[positive].mean() / repeats
        return total / (b_size * m_size)

    return one_direction(p0, ids0, t1, ids1, t0) + one_direction(p1, ids1, t0, ids0, t1)


def test_loss_matches_the_numpy_reference_on_hand_made_regions() -> None:
    g = torch.Generator().manual_seed(0)
    # repeated draws, a region only one view has (id 7), and an image with one region
    ids0 = torch.tensor([[0, 1, 1, 2, 0], [3, 3, 3, 4, 7], [5, 5, 5, 5, 5]])
    ids1 = torch.tensor([[1, 1, 0, 0, 2], [4, 3, 4, 4, 3], [5, 5, 5, 5, 5]])

    def region_features(ids: torch.Tensor) -> torch.Tensor:
        """One random feature per (image, region), repeated for each draw (as pooling gives)."""
        table = torch.randn(3, 8, 6, generator=g, dtype=torch.float64)
        return torch.gather(table, 1, ids[:, :, None].expand(3, 5, 6))

    p0, t0 = region_features(ids0), region_features(ids0)
    p1, t1 = region_features(ids1), region_features(ids1)
    for temperature in (0.1, 0.5):
        got = detcon_nce(p0, p1, t0, t1, ids0, ids1, temperature, gather_distributed=False)
        want = _numpy_detcon(p0, p1, t0, t1, ids0.numpy(), ids1.numpy(), temperature)
        assert got.dtype == torch.float64
        assert abs(got.item() - want) < 1e-9 * max(1.0, abs(want)), (temperature, got, want)
    s = DetConSLoss(0.5, gather_distributed=False)(p0, p1, ids0, ids1)
    assert abs(s.item() - _numpy_detcon(p0, p1, p0, p1, ids0.numpy(), ids1.numpy(), 0.5)) < 1e-9


def test_draws_of_one_region_with_different_features_are_refused() -> None:
    z = torch.randn(1, 4, 3)
    ids = torch.zeros(1, 4)  # one region drawn four times, four different features
    with pytest.raises(ValueError, match="pred0: the draws of one region"):
        DetConSLoss(0.1, gather_distributed=False)(z, z, ids, ids)


def test_identical_views_with_one_region_have_the_analytic_loss() -> None:
    m, tau = 16, 0.1
    one = torch.ones(1, m, 8)
    ids = torch.zeros(1, m)
    got = DetConSLoss(tau, gather_distributed=False)(one, one, ids, ids).item()
    assert abs(got - 2 * math.log(m) / m) < 1e-6  # m equal positives, nothing else
    # b images with orthogonal features: (b - 1) * m negatives in each view, logit 0
    b = 4
    z = torch.eye(8)[:b, None, :].expand(b, m, 8)
    ids = torch.zeros(b, m)
    got = DetConBLoss(tau, gather_distributed=False)(z, z, z, z, ids, ids).item()
    want = 2 * (math.log(m) + math.log1p(2 * (b - 1) * math.exp(-1 / tau))) / m
    assert abs(got - want) < 1e-5 * want


def test_gradients_reach_the_anchors_and_not_the_teacher() -> None:
    g = torch.Generator().manual_seed(1)
    ids = torch.tensor([[0, 1, 0, 1], [0, 0, 1, 1]])
    table = [torch.randn(2, 2, 5, generator=g) for _ in range(4)]
    p0, p1, t0, t1 = (torch.gather(t, 1, ids[:, :, None].expand(2, 4, 5)).requires_grad_()
                      for t in table)  # fmt: skip
    DetConBLoss(0.1, gather_distributed=False)(p0, p1, t0, t1, ids, ids).backward()
    assert p0.grad is not None and p0.grad.abs().sum() > 0
    assert t0.grad is None and t1.grad is None


def test_bad_shapes_are_one_clear_error() -> None:
    z = torch.zeros(2, 4, 5)
    with pytest.raises(ValueError, match=r"\(n, M, D\)"):
        detcon_nce(z, z, z, z[:, :3], torch.zeros(2, 4), torch.zeros(2, 4), 0.1, False)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        DetConSLoss(0.0)


def _cell_weights_loop(ids: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """Area fraction of each id in each adaptive-pooling cell, by loops."""
    n, height, width = ids.shape
    h, w = grid
    k = max(int(ids.max()) + 1, 1)
    out = np.zeros((n, k, h * w))
    for b in range(n):
        for ci in range(h):
            y0, y1 = (ci * height) // h, -((-(ci + 1) * height) // h)
            for cj in range(w):
                x0, x1 = (cj * width) // w, -((-(cj + 1) * width) // w)
                cell = ids[b, y0:y1, x0:x1]
                for r in range(k):
                    out[b, r, ci * w + cj] = (cell == r).sum() / cell.size
    return out


@pytest.mark.parametrize("size, grid", [((16, 16), (4, 4)), ((12, 10), (3, 5)), ((13, 11), (4, 3))])
def test_cell_weights_and_mask_pooling_match_loops(size, grid) -> None:
    g = torch.Generator().manual_seed(2)
    ids = torch.randint(-1, 5, (3, *size), generator=g)  # -1: outside the image
    weights = region_cell_weights(ids, grid)
    want = _cell_weights_loop(ids.numpy(), grid)
    np.testing.assert_allclose(weights.numpy(), want, atol=1e-6)
    feats = torch.randn(3, 6, *grid, generator=g, dtype=torch.float64)
    picked = torch.tensor([[0, 4, 4], [1, 2, 3], [3, 0, 1]])
    pooled = mask_pool(feats, weights.double(), picked)
    for b in range(3):
        for i, r in enumerate(picked[b].tolist()):
            w = torch.as_tensor(want[b, r])
            ref = (feats[b].flatten(1) * w).sum(1) / w.sum()
            # the cell weights are float32 fractions: agree to their precision
            torch.testing.assert_close(pooled[b, i], ref, rtol=1e-6, atol=1e-6)


def test_region_sampling_draws_present_regions_only_and_is_reproducible() -> None:
    ids = torch.full((2, 8, 8), 3)
    ids[0, :4] = 0  # image 0: regions 0 and 3; image 1: region 3 only
    ids[1, 0, 0] = -1
    weights = region_cell_weights(ids, (2, 2))
    a = sample_regions(weights, 200, torch.Generator().manual_seed(0))
    b = sample_regions(weights, 200, torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.shape == (2, 200)
    assert set(a[0].tolist()) == {0, 3} and set(a[1].tolist()) == {3}
    assert 70 < int((a[0] == 0).sum()) < 130  # uniform among the present regions


def test_region_ids_of_binary_masks_and_label_maps() -> None:
    masks = torch.tensor([[[[0.0, 0.4], [0.6, 1.0]]]])
    assert region_ids(masks).tolist() == [[[0, 0], [1, 1]]]
    labels = torch.tensor([[[[-1, 3], [255, 0]]]])
    assert region_ids(labels).tolist() == [[[-1, 3], [255, 0]]]
    with pytest.raises(ValueError, match="region ids must lie in -1..255"):
        region_ids(torch.tensor([[[[256]]]]))


def test_regions_follow_the_geometry_of_the_masks() -> None:
    torch.manual_seed(0)
    images = torch.rand(6, 3, 24, 24)
    labels = torch.zeros(6, 1, 24, 24, dtype=torch.long)
    labels[:, :, 4:14, 6:20] = 1
    labels[:, :, 14:, :] = 2
    masks = (labels == 1).float()
    aug = RegionAugment(
        geometric=[RandomResizedCropFlip(16, scale=(0.5, 1.0)), RandomRotation(degrees=30.0)]
    )
    view = aug(images, masks, regions=labels.to(torch.uint8))
    assert view.regions is not None and view.regions.dtype == torch.long
    assert view.regions.shape == (6, 1, 16, 16)
    inside = view.regions >= 0
    assert bool((~inside).any()), "a rotation shows pixels from outside the image"
    # The foreground region lands exactly where the mask lands.
    assert torch.equal((view.regions == 1), view.masks > 0.5)
    assert set(view.regions.unique().tolist()) <= {-1, 0, 1, 2}
    # Replaying the parameters gives the same regions; no regions, no field.
    again = aug(images, masks, params=view.params, regions=labels)
    assert torch.equal(again.regions, view.regions) and torch.equal(again.images, view.images)
    assert aug(images, masks, params=view.params).regions is None
    v0, v1 = aug.pair(images, masks, regions=labels)
    assert v0.regions is not None and v1.regions is not None


def test_regions_are_validated_in_one_line() -> None:
    aug = RegionAugment()
    images, masks = torch.rand(2, 3, 16, 16), torch.ones(2, 1, 16, 16)
    with pytest.raises(ValueError, match="regions must be an integer tensor"):
        aug(images, masks, regions=torch.rand(2, 1, 16, 16))
    with pytest.raises(
        ValueError, match=r"regions must hold ids in 0..255, got values in \[0, 300\]"
    ):
        aug(images, masks, regions=torch.tensor([0, 300]).repeat(2, 1, 16, 8))
    with pytest.raises(ValueError, match="regions must have the images' size"):
        aug(images, masks, regions=torch.zeros(2, 1, 8, 8, dtype=torch.long))


def test_detcon_pools_the_foreground_and_background_of_binary_masks() -> None:
    """With one-channel feature maps that are 1 on the object and 0 elsewhere, the two
    regions of a binary mask pool to 1 and 0 exactly (the regions line up with the map)."""
    masks = torch.zeros(2, 1, 16, 16)
    masks[:, :, :8, :8] = 1.0  # top-left quarter: one cell of a 2x2 grid
    ids = region_ids(masks)
    weights = region_cell_weights(ids, (2, 2))
    feats = F.avg_pool2d(masks, 8)  # (2, 1, 2, 2): 1 on the object's cell
    pooled = mask_pool(feats, weights, torch.tensor([[0, 1], [1, 0]]))
    assert pooled[:, :, 0].tolist() == [[0.0, 1.0], [1.0, 0.0]]
