"""Fill's ``photos`` mode: backgrounds cropped from a pool of photos outside the dataset."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from segaug import Fill, RegionAugment, recipes
from segaug.augment.ops import load_photo_pool


def _ramp_pool(n: int = 3, side: int = 32) -> torch.Tensor:
    """Photos whose red channel is the column, green the row and blue the photo's index."""
    col = torch.arange(side).view(1, side).expand(side, side)
    pool = torch.zeros(n, 3, side, side, dtype=torch.uint8)
    for i in range(n):
        pool[i, 0], pool[i, 1], pool[i, 2] = col, col.T, 40 * i
    return pool


def test_load_photo_pool_centre_crops_resizes_and_names_bad_folders(tmp_path):
    wide = np.zeros((20, 60, 3), dtype=np.uint8)
    wide[:, 10:50] = (0, 255, 0)  # green beyond the centre square, black at the sides
    Image.fromarray(wide).save(tmp_path / "b_wide.png")
    (tmp_path / "sub").mkdir()
    Image.new("RGB", (30, 30), (0, 0, 255)).save(tmp_path / "sub" / "a_blue.jpg", quality=95)
    (tmp_path / "notes.txt").write_text("not a photo")
    pool = load_photo_pool(tmp_path, side=10)
    assert pool.shape == (2, 3, 10, 10) and pool.dtype == torch.uint8
    # name order (b_wide.png before sub/a_blue.jpg); the wide photo keeps its centre square
    assert pool[0, 1].min() >= 250 and pool[0, 0].max() <= 5 and pool[0, 2].max() <= 5
    assert (pool[1, 2].int() - 255).abs().max() <= 3 and pool[1, :2].max() <= 3
    with pytest.raises(ValueError, match="photos: expected a folder of photos, got .*missing"):
        load_photo_pool(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="photos: the folder .*empty' holds no photo"):
        load_photo_pool(tmp_path / "empty")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "x.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match="photos: expected readable images, cannot read .*x.jpg"):
        load_photo_pool(tmp_path / "broken")


def test_photo_crops_are_area_averaged_crops_of_the_drawn_photo_flipped_when_drawn():
    pool = _ramp_pool(3, 32)
    op = Fill(modes=("photos",), p=1.0, photos=pool)
    n = 6
    params = op.draw(n, (8, 8))
    # boxes of 16 x 16 pixels on whole pixels: each output pixel averages a 2 x 2 block
    x0 = torch.tensor([0.0, 4.0, 16.0, 3.0, 10.0, 0.0])
    y0 = torch.tensor([0.0, 9.0, 16.0, 5.0, 2.0, 16.0])
    params["photo_box"] = torch.stack([x0, y0, x0 + 16, y0 + 16], dim=1)
    params["photo"] = torch.tensor([2, 0, 2, 2, 0, 2])  # photo 1 unused: ids are remapped
    params["photo_flip"] = torch.tensor([False, True, False, True, False, False])
    out = op.apply(torch.rand(n, 3, 8, 8), params)
    for i in range(n):
        a, b, k = int(y0[i]), int(x0[i]), int(params["photo"][i])
        want = F.avg_pool2d(pool[k : k + 1, :, a : a + 16, b : b + 16].double() / 255, 2)[0]
        if params["photo_flip"][i]:
            want = want.flip(-1)
        assert torch.allclose(out[i].double(), want, atol=1e-6), i


def test_photo_boxes_cover_the_scale_share_inside_the_photo_with_the_views_aspect():
    op = Fill(modes=("photos",), p=1.0, photos=_ramp_pool(2, 40), photo_scale=(0.2, 0.6))
    torch.manual_seed(0)
    for size in ((16, 16), (16, 32), (32, 8)):
        box = op.draw(2000, size)["photo_box"]
        w, h = box[:, 2] - box[:, 0], box[:, 3] - box[:, 1]
        assert (box[:, :2] >= 0).all() and (box[:, 2] <= 40 + 1e-4).all()
        assert (box[:, 3] <= 40 + 1e-4).all()
        assert torch.allclose(w / h, torch.full_like(w, size[1] / size[0]), rtol=1e-4)
        share = w * h / 1600
        # placed uniformly where the box fits: at the middle of its free range on average
        for start, free in ((box[:, 0], 40 - w), (box[:, 1], 40 - h)):
            room = free > 1
            assert room.sum() > 100
            assert abs((start[room] / free[room]).mean().item() - 0.5) < 0.03
        if size == (16, 16):  # square: the drawn share, uniform over the range
            assert share.min() >= 0.2 - 1e-4 and share.max() <= 0.6 + 1e-4
            assert abs(share.mean().item() - 0.4) < 0.02
        else:  # a box too wide or tall for the photo is shrunk to fit
            assert share.max() <= 0.6 + 1e-4


def test_background_fill_with_a_photo_folder_keeps_the_object_and_fills_from_the_pool(tmp_path):
    colours = [(250, 10, 10), (10, 250, 10)]
    for i, c in enumerate(colours):
        Image.new("RGB", (50, 40), c).save(tmp_path / f"{i}.png")
    aug = recipes.background_fill(
        output_size=24, modes=("photos",), photos=str(tmp_path), p=1.0, crop_scale=(1.0, 1.0)
    )
    fill = aug.background[-1]
    assert isinstance(fill, Fill) and fill.photo_pool.shape == (2, 3, 96, 96)  # 4 x 24 px
    assert "photo_pool" not in fill.state_dict()  # a buffer that moves, not a weight
    x = torch.rand(8, 3, 24, 24)
    m = torch.zeros(8, 1, 24, 24, dtype=torch.uint8)
    m[:, :, 6:18, 6:18] = 1
    torch.manual_seed(0)
    out = aug(x, m)
    bg = out.masks[:, 0] == 0
    pool = torch.tensor(colours, dtype=torch.float32) / 255
    used = set()
    for i in range(8):
        pixels = out.images[i][:, bg[i]]
        k = int(out.params.background[-1]["photo"][i])
        used.add(k)
        assert torch.allclose(pixels, pool[k].view(3, 1).expand_as(pixels), atol=1e-6)
    assert used == {0, 1}
    replay = aug(x, m, params=out.params)
    assert torch.equal(replay.images, out.images)


def test_photo_mode_and_pool_go_together_and_bad_pools_are_named():
    with pytest.raises(ValueError, match="photos: the 'photos' fill mode needs a pool"):
        Fill(modes=("photos",))
    with pytest.raises(ValueError, match="photos: the 'photos' fill mode needs a pool"):
        Fill(modes=("flat",), photos=_ramp_pool())
    with pytest.raises(ValueError, match=r"photos: expected a folder or an \(N, 3, S, S\) uint8"):
        Fill(modes=("photos",), photos=torch.rand(2, 3, 8, 8))
    with pytest.raises(ValueError, match=r"photos: expected a folder or an \(N, 3, S, S\) uint8"):
        Fill(modes=("photos",), photos=torch.zeros(2, 3, 16, 32, dtype=torch.uint8))  # not square
    with pytest.raises(ValueError, match="photo_scale must be"):
        Fill(modes=("photos",), photos=_ramp_pool(), photo_scale=(0.0, 1.0))
    with pytest.raises(ValueError, match=r"photo_scale must be \(min, max\), got 0.5"):
        Fill(modes=("photos",), photos=_ramp_pool(), photo_scale=0.5)
    with pytest.raises(ValueError, match="photo_side must be a positive int, got 0"):
        Fill(modes=("photos",), photos=_ramp_pool(), photo_side=0)
    with pytest.raises(ValueError, match="modes must be a non-empty subset"):
        recipes.background_fill(modes=("plaid",))


def test_photos_mix_with_other_modes_on_the_rows_that_fire_in_any_dtype():
    pool = torch.zeros(1, 3, 16, 16, dtype=torch.uint8)
    pool[0, 1] = 200  # one green photo
    green = torch.tensor([0.0, 200 / 255, 0.0])
    aug = RegionAugment(
        foreground=[],
        background=[Fill(modes=("photos", "flat"), p=0.5, photos=pool)],
        fallback=[],
        geometric=False,
    )
    x = torch.rand(64, 3, 8, 8)
    m = torch.zeros(64, 1, 8, 8, dtype=torch.uint8)
    m[:, :, 2:6, 2:6] = 1
    torch.manual_seed(0)
    out = aug(x, m)
    params = out.params.background[0]
    bg = ~m[:, 0].bool()
    kinds = set()
    for i in range(64):
        pixels, before = out.images[i][:, bg[i]], x[i][:, bg[i]]
        assert torch.equal(out.images[i][:, ~bg[i]], x[i][:, ~bg[i]])  # the object stays
        if not params["fire"][i]:
            kind = "kept"
            assert torch.equal(pixels, before)
        elif int(params["mode"][i]) == 3:  # photos
            kind = "photo"
            assert torch.allclose(pixels, green.view(3, 1).expand_as(pixels), atol=1e-6)
        else:
            kind = "flat"
            assert torch.allclose(pixels, params["colour"][i].view(3, 1).expand_as(pixels))
        kinds.add(kind)
    assert kinds == {"kept", "photo", "flat"}
    op = aug.background[0]
    for dt in (torch.bfloat16, torch.float64):  # roi_align runs in float32, the crop is cast
        y = op.apply(torch.rand(4, 3, 8, 8, dtype=dt), {k: v[:4] for k, v in params.items()})
        assert y.dtype == dt
