"""Label maps: the felzenszwalb segmenter, label-map chunks in the cache, precompute, datasets."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from segaug.cli.precompute_masks import main as precompute_main
from segaug.data.masked import InMemoryMaskedDataset, MaskedDataset, MaskedImageFolder
from segaug.masks import (
    CorruptMaskError,
    FelzenszwalbSegmenter,
    MaskCache,
    create_segmenter,
    resolve_masks,
)
from segaug.masks.cache import CHUNK_DIR, _read_chunk_header
from segaug.masks.felzenszwalb import DETCON_MIN_AREA, relabel_by_area
from segaug.masks.precompute import cache_report, precompute_masks

COLOURS = ((220, 40, 40), (40, 200, 60), (30, 60, 210))


def _rectangles(h: int = 48, w: int = 64, cuts: tuple[int, int] = (30, 50)) -> np.ndarray:
    """Three flat-colour vertical bands of widths cuts[0], cuts[1]-cuts[0], w-cuts[1]."""
    img = np.zeros((h, w, 3), np.uint8)
    img[:, : cuts[0]] = COLOURS[0]
    img[:, cuts[0] : cuts[1]] = COLOURS[1]
    img[:, cuts[1] :] = COLOURS[2]
    return img


def _batch(*arrays: np.ndarray) -> torch.Tensor:
    return torch.stack([torch.from_numpy(a).permute(2, 0, 1) for a in arrays]).float() / 255


# ------------------------------------------------------------------ felzenszwalb
@pytest.mark.parametrize("sigma", [0.0, 0.8])
def test_flat_rectangles_are_exactly_three_regions_ordered_by_area(sigma: float) -> None:
    img = _rectangles()
    # the middle band is the largest here, so ids are not simply left to right
    wide = _rectangles(cuts=(14, 50))
    out = FelzenszwalbSegmenter(sigma=sigma)(_batch(img, wide))
    assert out.shape == (2, 1, 48, 64) and out.dtype == torch.float32
    assert out.device == torch.device("cpu")
    assert torch.equal(out, out.round())  # integer ids
    bands = [np.s_[:, :30], np.s_[:, 30:50], np.s_[:, 50:]]  # 1440, 960, 672 px
    expected = np.zeros((48, 64), np.uint8)
    for region_id, band in enumerate(bands, start=1):
        expected[band] = region_id
    assert np.array_equal(out[0, 0].numpy(), expected)
    # 672, 1728, 672 px: the middle band is id 1; of the two equal areas the one whose
    # first pixel comes first (in raster order) gets the lower id
    expected = np.full((48, 64), 1, np.uint8)
    expected[:, :14], expected[:, 50:] = 2, 3
    assert np.array_equal(out[1, 0].numpy(), expected)


def test_segmenter_contract_and_determinism() -> None:
    seg = create_segmenter("felzenszwalb")
    assert isinstance(seg, FelzenszwalbSegmenter) and seg.label_maps is True
    assert seg.name == "felzenszwalb" and not seg.loads_weights
    rng = np.random.default_rng(0)
    photos = [(rng.random((40, 56, 3)) * 255).astype(np.uint8) for _ in range(3)]
    batch = _batch(*photos)
    out = seg(batch)
    assert out.shape == (3, 1, 40, 56) and out.dtype == torch.float32
    assert torch.equal(out, seg(batch))
    for i, photo in enumerate(photos):  # the batch is segmented image by image
        one = seg.segment_array(photo)
        assert one.dtype == np.uint8 and np.array_equal(out[i, 0].numpy(), one)
        ids = np.unique(one)
        assert ids[0] == 1 and np.array_equal(ids, np.arange(1, len(ids) + 1))  # 1..K
        areas = np.bincount(one.ravel())[1:]
        assert (np.diff(areas) <= 0).all()  # decreasing area
        assert areas.min() >= seg.min_size(40, 56)


def test_min_area_merges_small_components() -> None:
    img = np.full((64, 64, 3), 30, np.uint8)
    img[10:14, 20:24] = 240  # 16 px: below the default minimum (round(0.0199 * 4096) = 82)
    default = FelzenszwalbSegmenter(sigma=0.0)
    assert default.min_size(64, 64) == 82 == round(DETCON_MIN_AREA * 64 * 64)
    assert FelzenszwalbSegmenter().min_size(224, 224) == 1000  # DetCon's setting
    merged = default.segment_array(img)
    assert np.array_equal(merged, np.ones((64, 64), np.uint8))
    small = FelzenszwalbSegmenter(sigma=0.0, min_area=16 / 4096)
    assert small.min_size(64, 64) == 16
    kept = small.segment_array(img)
    square = np.zeros((64, 64), bool)
    square[10:14, 20:24] = True
    assert np.array_equal(kept == 2, square) and np.array_equal(kept == 1, ~square)


def test_more_than_255_segments_the_smallest_are_unlabelled() -> None:
    # 20 x 20 cells of 4 x 4 px; in the top 10 rows two cells share a colour (100
    # segments of 32 px), below each cell is its own segment (200 of 16 px): 300 in all
    rng = np.random.default_rng(1)
    colours = rng.choice(1 << 24, size=300, replace=False)
    rgb = np.stack([(colours >> s) & 255 for s in (16, 8, 0)], axis=1).astype(np.uint8)
    cell = np.zeros((20, 20), np.int64)
    cell[:10] = np.arange(10)[:, None] * 10 + np.arange(20)[None, :] // 2
    cell[10:] = 100 + np.arange(200).reshape(10, 20)
    segments = np.kron(cell, np.ones((4, 4), np.int64))
    image = rgb[segments]
    seg = FelzenszwalbSegmenter(scale=1e-6, sigma=0.0, min_area=0.0)
    out = seg.segment_array(image)
    assert len(np.unique(out[out > 0])) == 255 and out.max() == 255
    big = segments < 100
    assert (out[big] >= 1).all() and (out[big] <= 100).all()  # the 100 largest: 1..100
    assert (out[~big][out[~big] > 0] > 100).all()
    assert np.count_nonzero(out == 0) == 45 * 16  # 200 small - 155 ids left = 45 unlabelled
    for s in np.unique(segments):  # every segment is one id (or wholly unlabelled)
        assert len(np.unique(out[segments == s])) == 1
    as_tensor = seg(_batch(image))
    assert as_tensor.max() == 255 and torch.equal(as_tensor[0, 0], torch.from_numpy(out).float())


def test_relabel_by_area_orders_and_caps() -> None:
    labels = np.repeat(np.arange(300), np.arange(300, 0, -1))[None]  # label i: 300 - i px
    out = relabel_by_area(labels)
    assert out.dtype == np.uint8
    assert np.array_equal(np.unique(out[labels < 255]), np.arange(1, 256))
    assert (out[labels >= 255] == 0).all()
    assert np.array_equal(relabel_by_area(np.array([[7, 3, 3]])), [[2, 1, 1]])
    with pytest.raises(ValueError, match="labels must be an integer array"):
        relabel_by_area(np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match="max_id"):
        relabel_by_area(np.zeros((2, 2), np.int64), max_id=256)


def test_config_id_names_every_parameter() -> None:
    base = FelzenszwalbSegmenter()
    assert base.config_id == FelzenszwalbSegmenter(1000, 0.8, DETCON_MIN_AREA).config_id
    assert json.loads(base.config_id.removeprefix("felzenszwalb")) == {
        "min_area": DETCON_MIN_AREA, "scale": 1000.0, "sigma": 0.8,
    }  # fmt: skip
    changed = {
        FelzenszwalbSegmenter(scale=500).config_id,
        FelzenszwalbSegmenter(sigma=0.5).config_id,
        FelzenszwalbSegmenter(min_area=0.05).config_id,
    }
    assert len(changed) == 3 and base.config_id not in changed


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"scale": 0}, r"scale must be a float > 0, got 0"),
        ({"scale": "big"}, r"scale must be a float > 0, got 'big'"),
        ({"sigma": -1.0}, r"sigma must be a float >= 0, got -1.0"),
        ({"min_area": 1.5}, r"min_area must be a float in \[0, 1\].*got 1.5"),
        ({"min_area": True}, r"min_area must be"),
    ],
)
def test_bad_parameters(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        FelzenszwalbSegmenter(**kwargs)


def test_spec_with_options_wherever_a_segmenter_is_named() -> None:
    seg = resolve_masks("felzenszwalb?scale=500&sigma=0", argument="data.masks").masks
    assert isinstance(seg, FelzenszwalbSegmenter)
    assert (seg.scale, seg.sigma, seg.min_area) == (500.0, 0.0, DETCON_MIN_AREA)
    assert create_segmenter("Felzenszwalb?min_area=0.05").min_area == 0.05
    # given options override the spec's
    again = resolve_masks("felzenszwalb?scale=500", options={"scale": 20}).masks
    assert again.scale == 20.0
    assert resolve_masks("classical?method=saliency").masks.method == "saliency"
    # a segmenter spec even where a cache is accepted and a value holds a path separator
    weighted = resolve_masks("sam?checkpoint=/w/sam.pth&mode=auto", build=False)
    assert (weighted.kind, weighted.name) == ("segmenter", "sam")
    assert weighted.options == {"checkpoint": "/w/sam.pth", "mode": "auto"}
    with pytest.raises(ValueError, match=r"^data.masks = 'felzenszwalb\?scale': expected key="):
        resolve_masks("felzenszwalb?scale", argument="data.masks")
    with pytest.raises(ValueError, match=r"^data.masks = 'felzenszwalb\?scale=-1': scale must"):
        resolve_masks("felzenszwalb?scale=-1", argument="data.masks")
    with pytest.raises(ValueError, match=r"bad option for segmenter 'felzenszwalb'.*k"):
        resolve_masks("felzenszwalb?k=3", argument="data.masks")


# ------------------------------------------------------------------------ cache
def _chunks(root: Path) -> list[Path]:
    return sorted((root / CHUNK_DIR).glob("*.smc"))


def _header(path: Path) -> dict:
    return _read_chunk_header(path).header


def _label_maps(rng: np.random.Generator) -> dict[str, np.ndarray]:
    maps = {f"d/{i}.png": rng.integers(0, 256, s, dtype=np.uint8)
            for i, s in enumerate([(37, 53), (1, 9), (64, 64)])}  # fmt: skip
    maps["all-255"] = np.full((5, 7), 255, np.uint8)
    maps["unlabelled"] = np.zeros((6, 6), np.uint8)
    regions = np.zeros((32, 32), np.uint8)
    regions[:, :10], regions[:, 10:20], regions[:5] = 1, 2, 3
    maps["regions"] = regions  # ids 1, 2, 3 and 0 on the right
    return maps


def test_label_map_round_trip(tmp_path: Path) -> None:
    maps = _label_maps(np.random.default_rng(0))
    with MaskCache(tmp_path).writer("fh{}", chunk_size=4, label_maps=True) as w:
        for key, m in maps.items():
            w.add(key, "h-" + key, m[None] if key == "regions" else m)  # (1, H, W) works too
    cache = MaskCache(tmp_path)
    assert cache.label_maps is True and len(_chunks(tmp_path)) == 2
    for path in _chunks(tmp_path):
        assert _header(path)["encoding"] == "uint8"
    assert sorted(cache.keys()) == sorted(maps)
    for key, m in maps.items():
        out = cache.load(key)
        assert out.dtype == np.uint8 and np.array_equal(out, m)
        assert cache.coverage(key) == pytest.approx(np.count_nonzero(m) / m.size, abs=1e-6)
    assert cache.coverage("regions") == pytest.approx(1 - 27 * 12 / 1024, abs=1e-6)
    assert cache.coverage("unlabelled") == 0.0 and cache.coverage("all-255") == 1.0
    counts = dict(zip(cache.keys(), cache.region_counts().tolist(), strict=True))
    assert counts["regions"] == 3 and counts["unlabelled"] == 0 and counts["all-255"] == 1
    assert cache.region_counts(["regions", "nope"]).tolist() == [3]
    assert np.array_equal(cache.load_at(cache.position("regions")), maps["regions"])


def test_binary_cache_is_unchanged_byte_for_byte(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    masks = {"a.png": rng.integers(0, 2, (37, 53), dtype=np.uint8),
             "b/c.png": (rng.random((224, 224)) < 0.3).astype(np.uint8)}  # fmt: skip
    with MaskCache(tmp_path).writer("cfg{}", writer_id="w0") as w:
        for key, m in masks.items():
            w.add(key, "h-" + key, m)
    (path,) = _chunks(tmp_path)
    info = _read_chunk_header(path)
    assert "encoding" not in info.header and info.encoding == "bits"
    # the chunk as the format wrote it before label maps existed, rebuilt from scratch
    blobs = [zlib.compress(np.packbits(m.reshape(-1)).tobytes(), 6) for m in masks.values()]
    offsets = np.cumsum([0] + [len(b) for b in blobs])
    header = {
        "format": "segaug-mask-cache", "version": 1, "config_id": "cfg{}",
        "created_ns": info.created_ns, "writer": "w0", "payload_bytes": int(offsets[-1]),
        "keys": list(masks), "hashes": ["h-" + k for k in masks],
        "offsets": offsets[:-1].tolist(), "nbytes": [len(b) for b in blobs],
        "heights": [m.shape[0] for m in masks.values()],
        "widths": [m.shape[1] for m in masks.values()],
        "coverage": [round(float(m.mean()), 6) for m in masks.values()],
        "crc32": [zlib.crc32(b) for b in blobs],
    }  # fmt: skip
    raw = json.dumps(header, separators=(",", ":")).encode()
    expected = struct.pack("<8sQI", b"SEGAUGMC", len(raw), zlib.crc32(raw)) + raw + b"".join(blobs)
    assert path.read_bytes() == expected
    cache = MaskCache(tmp_path)
    assert cache.label_maps is False
    for key, m in masks.items():
        assert np.array_equal(cache.load(key), m)
    assert cache.compact() == 2
    assert "encoding" not in _header(_chunks(tmp_path)[0]) and not MaskCache(tmp_path).label_maps


def test_label_map_corruption_is_detected(tmp_path: Path) -> None:
    maps = _label_maps(np.random.default_rng(1))
    with MaskCache(tmp_path).writer("fh{}", label_maps=True) as w:
        for key, m in maps.items():
            w.add(key, "h", m)
    (path,) = _chunks(tmp_path)
    cache = MaskCache(tmp_path)
    row = cache.position("regions")
    start = cache._chunks[0].payload_start + int(cache._offset[row])
    data = bytearray(path.read_bytes())
    data[start + 2] ^= 0xFF
    path.write_bytes(bytes(data))
    cache = MaskCache(tmp_path)
    with pytest.raises(CorruptMaskError, match="'regions'.*failed its checksum"):
        cache.load("regions")
    assert cache.corrupt_entries() == [("regions", str(path))]
    assert "regions" not in cache.valid_entries() and len(cache.valid_entries()) == len(maps) - 1
    assert np.array_equal(cache.load("all-255"), maps["all-255"])


def test_compact_keeps_label_maps(tmp_path: Path) -> None:
    maps = _label_maps(np.random.default_rng(2))
    cache = MaskCache(tmp_path)
    with cache.writer("fh{}", chunk_size=2, label_maps=True) as w:
        for key, m in maps.items():
            w.add(key, "h", m)
    with cache.writer("fh{}", label_maps=True) as w:  # supersedes one map
        w.add("regions", "h2", maps["regions"] * 2)
    assert MaskCache(tmp_path).compact() == len(maps)
    (path,) = _chunks(tmp_path)
    assert _header(path)["encoding"] == "uint8"
    cache = MaskCache(tmp_path)
    assert cache.label_maps and cache.content_hash("regions") == "h2"
    assert np.array_equal(cache.load("regions"), maps["regions"] * 2)
    for key in set(maps) - {"regions"}:
        assert np.array_equal(cache.load(key), maps[key])


def test_writers_refuse_the_other_kind_in_one_line(tmp_path: Path) -> None:
    binary = MaskCache(tmp_path).writer("cfg")
    with pytest.raises(ValueError, match=r"only 0 and 1, got dtype uint8, values \[0, 1, 2\].*"
                       r"label_maps=True") as info:  # fmt: skip
        binary.add("k", "h", np.array([[0, 1], [2, 2]], np.uint8))
    assert "\n" not in str(info.value)
    labels = MaskCache(tmp_path).writer("fh", label_maps=True)
    for bad in (np.zeros((3, 3), np.int64), np.zeros((3, 3), np.float32), np.ones((3, 3), bool)):
        with pytest.raises(ValueError, match=rf"label map for 'k' must be a uint8 array of region "
                           rf"ids 0..255, got dtype {bad.dtype}$"):  # fmt: skip
            labels.add("k", "h", bad)
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        labels.add("k", "h", np.zeros((2, 3, 3), np.uint8))
    with pytest.raises(ValueError, match="label_maps must be True or False"):
        MaskCache(tmp_path).writer("fh", label_maps="yes")  # type: ignore[arg-type]


def test_chunk_of_unknown_encoding_is_ignored_with_a_warning(tmp_path: Path) -> None:
    with MaskCache(tmp_path).writer("fh", label_maps=True) as w:
        w.add("k", "h", np.ones((2, 2), np.uint8))
    (path,) = _chunks(tmp_path)
    info = _read_chunk_header(path)
    raw = json.dumps({**info.header, "encoding": "rle"}, separators=(",", ":")).encode()
    payload = path.read_bytes()[info.payload_start :]
    path.write_bytes(struct.pack("<8sQI", b"SEGAUGMC", len(raw), zlib.crc32(raw)) + raw + payload)
    with pytest.warns(UserWarning, match="unknown encoding 'rle'"):
        assert len(MaskCache(tmp_path)) == 0


# ---------------------------------------------------------- precompute, datasets
SIZE = 64
CUTS = ((20, 40), (12, 50), (30, 45), (15, 30), (25, 52), (11, 33))


def _bands(cuts: tuple[int, int]) -> np.ndarray:
    """The band index (0, 1, 2 from the left) of every pixel of a SIZE x SIZE image."""
    bands = np.zeros((SIZE, SIZE), np.int64)
    bands[:, cuts[0] : cuts[1]], bands[:, cuts[1] :] = 1, 2
    return bands


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Six square images of three flat bands (at least 11 px wide), in two classes."""
    root = tmp_path / "src"
    for i, cuts in enumerate(CUTS):
        img = _rectangles(SIZE, SIZE, cuts)
        key = f"{'cat' if i % 2 else 'dog'}/{i}.png"
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(root / key)
    return root


def test_precompute_felzenszwalb_then_images_yield_label_maps(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "cache"
    argv = [str(folder), "--out", str(out), "--segmenter", "felzenszwalb", "--size", str(SIZE),
            "--workers", "0", "--no-progress"]  # fmt: skip
    assert precompute_main(argv) == 0
    printed = capsys.readouterr().out
    assert "done: 6" in printed and "label maps (6): 3.0 regions on average" in printed
    cache = MaskCache(out)
    assert cache.label_maps and cache.selected_config == FelzenszwalbSegmenter().config_id
    assert all(_header(p)["encoding"] == "uint8" for p in _chunks(out))
    stored = {k: cache.load(k) for k in cache.keys()}
    for key, m in stored.items():  # each image's three bands exactly, ids 1..3 by area
        expected = relabel_by_area(_bands(CUTS[int(Path(key).stem)]))
        assert m.dtype == np.uint8 and np.array_equal(m, expected)
    assert "regions on average" in cache_report(out)
    again = precompute_masks(folder, out, "felzenszwalb", size=SIZE, progress=False)
    assert (again.done, again.skipped) == (0, 6)  # resumes like a binary cache

    same = MaskedImageFolder(folder, masks=cache, size=SIZE)
    assert same.label_maps is True
    for i, key in enumerate(same.keys):
        image, mask, _ = same[i]
        assert mask.dtype == torch.uint8 and mask.shape == (1, SIZE, SIZE)
        assert np.array_equal(mask[0].numpy(), stored[key])  # same size: the stored map
    for size in (20, 80):  # resized nearest-exact: no id that was not stored
        ds = MaskedImageFolder(folder, masks=str(out), size=size)
        assert ds.label_maps is True
        for i, key in enumerate(ds.keys):
            _, mask, _ = ds[i]
            assert mask.shape == (1, size, size) and mask.dtype == torch.uint8
            assert set(mask.unique().tolist()) <= set(np.unique(stored[key]).tolist())
            assert len(mask.unique()) == 3


def test_binary_users_see_no_label_maps(folder: Path, tmp_path: Path) -> None:
    precompute_masks(folder, tmp_path / "bin", "classical", size=SIZE, progress=False)
    cache = MaskCache(tmp_path / "bin")
    assert cache.label_maps is False and "encoding" not in _header(_chunks(tmp_path / "bin")[0])
    assert "would fall back" in cache_report(tmp_path / "bin")
    ds = MaskedImageFolder(folder, masks=cache, size=32)
    assert ds.label_maps is False and set(ds[0][1].unique().tolist()) <= {0, 1}
    assert MaskedImageFolder(folder, masks="classical", size=32).label_maps is False


def test_segmenter_on_the_fly_gives_label_maps(folder: Path) -> None:
    ds = MaskedImageFolder(folder, masks="felzenszwalb?scale=1000", size=SIZE)
    assert ds.label_maps is True and ds.segmenter is not None and ds.segmenter.scale == 1000
    for i, key in enumerate(ds.keys):
        _, mask, _ = ds[i]
        assert mask.dtype == torch.uint8 and mask.shape == (1, SIZE, SIZE)
        assert np.array_equal(mask[0].numpy(), relabel_by_area(_bands(CUTS[int(Path(key).stem)])))
    small = MaskedImageFolder(folder, masks="felzenszwalb", size=32)  # segmented at 32 px
    for i in range(len(small)):
        ids = small[i][1].unique()
        assert torch.equal(ids, torch.arange(1, len(ids) + 1, dtype=torch.uint8))


def test_pretrain_dataset_label_maps(tmp_path: Path) -> None:
    from segaug.data import build_dataset, get_dataset_info
    from simclr.config import DataConfig
    from simclr.data import build_pretrain_dataset

    cfg = DataConfig(dataset="synthetic", num_samples=6, image_size=16, masks="felzenszwalb")
    ds = build_pretrain_dataset(cfg)
    assert isinstance(ds, MaskedDataset) and ds.label_maps is True
    assert ds[0][1].dtype == torch.uint8 and int(ds[0][1].min()) >= 1

    options = get_dataset_info("synthetic").pretrain_options(16, 6)
    base = build_dataset("synthetic", None, split="train", **options)
    precompute_masks(base, tmp_path / "fh", "felzenszwalb", size=16, progress=False)
    cfg.masks = str(tmp_path / "fh")
    fast = build_pretrain_dataset(cfg)  # the whole cache in memory at the training size
    assert isinstance(fast, InMemoryMaskedDataset) and fast.label_maps is True
    cache = MaskCache(tmp_path / "fh")
    for i in range(len(fast)):
        assert np.array_equal(fast[i][1][0].numpy(), cache.load(f"{i:08d}"))
    cfg.masks = "gt"
    assert build_pretrain_dataset(cfg).label_maps is False


def test_in_memory_label_maps_argument() -> None:
    images = torch.zeros(2, 3, 4, 4, dtype=torch.uint8)
    ids = torch.tensor([0, 7, 255]).repeat(2, 6)[:, :16].reshape(2, 4, 4)
    ds = InMemoryMaskedDataset(images, ids, [0, 1], label_maps=True)
    assert ds.label_maps is True and ds[1][1].dtype == torch.uint8
    assert torch.equal(ds[1][1][0], ids[1].to(torch.uint8))
    assert InMemoryMaskedDataset(images, ids.clamp(max=1), [0, 1]).label_maps is False
    with pytest.raises(ValueError, match=r"integer region ids 0..255, got dtype torch.int64 "
                       r"with values in \[1, 256\]"):  # fmt: skip
        InMemoryMaskedDataset(images, ids + 1, [0, 1], label_maps=True)
    with pytest.raises(ValueError, match="integer region ids"):
        InMemoryMaskedDataset(images, ids.float() + 0.5, [0, 1], label_maps=True)
    with pytest.raises(ValueError, match="label_maps must be True or False"):
        InMemoryMaskedDataset(images, ids, [0, 1], label_maps=1)  # type: ignore[arg-type]
