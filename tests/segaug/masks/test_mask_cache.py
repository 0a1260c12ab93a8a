"""MaskCache: bit-exact round trips, supersession, configs, corruption, compactness."""

from __future__ import annotations

import json
import pickle
import struct
import zlib

import cv2
import numpy as np
import pytest

from segaug.masks import CorruptMaskError, MaskCache, MissingMaskError, content_hash, index_key
from segaug.masks.cache import CHUNK_DIR, decode_mask, encode_mask


def _blob(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    mask = np.zeros((h, w), np.uint8)
    centre = (int(rng.integers(w // 4, 3 * w // 4)), int(rng.integers(h // 4, 3 * h // 4)))
    axes = (int(rng.integers(w // 8, w // 3)), int(rng.integers(h // 8, h // 3)))
    cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    return mask


def _chunks(root) -> list:
    return sorted((root / CHUNK_DIR).glob("*.smc"))


def test_round_trip_bit_exact(tmp_path) -> None:
    rng = np.random.default_rng(0)
    shapes = [(37, 53), (224, 224), (1, 9), (96, 128), (64, 64)]
    masks = {f"dir/img{i}.png": rng.integers(0, 2, s, dtype=np.uint8) for i, s in enumerate(shapes)}
    masks["blob.jpg"] = _blob(rng, 80, 60)
    with MaskCache(tmp_path).writer("cfg{}", chunk_size=4) as w:
        for key, m in masks.items():
            w.add(key, content_hash(m), m)
    cache = MaskCache(tmp_path)
    assert len(_chunks(tmp_path)) == 2
    assert sorted(cache.keys()) == sorted(masks) and len(cache) == len(masks)
    for key, m in masks.items():
        assert key in cache
        out = cache.load(key)
        assert out.dtype == np.uint8 and out.shape == m.shape
        assert np.array_equal(out, m)
        assert cache.coverage(key) == pytest.approx(m.mean(), abs=1e-6)
        assert cache.content_hash(key) == content_hash(m)
    rows = {r["key"]: r for r in cache.manifest()}
    assert rows["blob.jpg"]["height"] == 80 and rows["blob.jpg"]["nbytes"] > 0
    assert "missing.png" not in cache


def test_bool_and_float_masks_accepted_other_values_rejected(tmp_path) -> None:
    w = MaskCache(tmp_path).writer("cfg")
    w.add("a", "h", np.ones((3, 3), bool))
    w.add("b", "h", np.zeros((1, 3, 3), np.float32))
    with pytest.raises(ValueError, match="0 and 1"):
        w.add("c", "h", np.full((3, 3), 255, np.uint8))
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        w.add("d", "h", np.zeros((2, 3, 3), np.uint8))
    w.close()
    assert MaskCache(tmp_path).load("a").sum() == 9


def test_later_chunks_supersede(tmp_path) -> None:
    cache = MaskCache(tmp_path)
    with cache.writer("cfg") as w:
        w.add("k", "old", np.zeros((4, 4), np.uint8))
    with cache.writer("cfg") as w:
        w.add("k", "new", np.ones((4, 4), np.uint8))
    cache.refresh()
    assert cache.content_hash("k") == "new" and cache.load("k").all()
    assert cache.configs() == {"cfg": 2}
    assert cache.compact() == 1
    assert len(_chunks(tmp_path)) == 1
    assert MaskCache(tmp_path).load("k").all()


def test_configs_are_separate(tmp_path) -> None:
    cache = MaskCache(tmp_path)
    with cache.writer("old-config") as w:
        w.add("a", "h", np.zeros((2, 2), np.uint8))
        w.add("b", "h", np.zeros((2, 2), np.uint8))
    with cache.writer("new-config") as w:
        w.add("a", "h", np.ones((2, 2), np.uint8))
    latest = MaskCache(tmp_path)
    assert latest.selected_config == "new-config"
    assert latest.keys() == ["a"] and latest.load("a").all()
    with pytest.raises(MissingMaskError, match="'b'"):
        latest.load("b")
    old = MaskCache(tmp_path, config_id="old-config")
    assert sorted(old.keys()) == ["a", "b"] and not old.load("a").any()
    assert latest.configs() == {"old-config": 2, "new-config": 1}


def test_missing_key_message(tmp_path) -> None:
    with MaskCache(tmp_path).writer("cfg") as w:
        w.add("x", "h", np.zeros((2, 2), np.uint8))
    cache = MaskCache(tmp_path)
    with pytest.raises(MissingMaskError) as info:
        cache.positions(["x", "y/1.png", "z"])
    msg = str(info.value)
    assert "'y/1.png'" in msg and "'z'" in msg and "segaug-precompute-masks" in msg
    assert isinstance(info.value, LookupError)


def test_corrupt_entry_detected(tmp_path) -> None:
    masks = {f"{i}": _blob(np.random.default_rng(i), 32, 32) for i in range(3)}
    with MaskCache(tmp_path).writer("cfg") as w:
        for k, m in masks.items():
            w.add(k, "h" + k, m)
    (path,) = _chunks(tmp_path)
    cache = MaskCache(tmp_path)
    offset = dict(zip(cache.keys(), cache._offset.tolist(), strict=True))["1"]
    start = cache._chunks[0].payload_start
    data = bytearray(path.read_bytes())
    data[start + offset + 3] ^= 0xFF
    path.write_bytes(bytes(data))
    cache = MaskCache(tmp_path)
    with pytest.raises(CorruptMaskError, match="'1'"):
        cache.load("1")
    assert np.array_equal(cache.load("0"), masks["0"])
    assert sorted(cache.valid_entries()) == ["0", "2"]


@pytest.mark.parametrize("damage", ["header", "truncate", "garbage"])
def test_damaged_chunk_ignored_with_warning(tmp_path, damage: str) -> None:
    cache = MaskCache(tmp_path)
    with cache.writer("cfg") as w:
        w.add("good", "h", np.ones((8, 8), np.uint8))
    with cache.writer("cfg") as w:
        w.add("bad", "h", np.ones((8, 8), np.uint8))
    path = _chunks(tmp_path)[-1]
    data = bytearray(path.read_bytes())
    if damage == "header":
        data[30] ^= 0x01
    elif damage == "truncate":
        data = data[:-3]
    else:
        data = bytearray(b"junk")
    path.write_bytes(bytes(data))
    (tmp_path / CHUNK_DIR / ".tmp-deadbeef").write_bytes(b"half a chunk")  # killed writer
    with pytest.warns(UserWarning, match="unreadable chunk"):
        cache = MaskCache(tmp_path)
        assert cache.keys() == ["good"]
    assert len(cache.bad_chunks) == 1


def test_not_a_cache_and_bad_args(tmp_path) -> None:
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(ValueError, match="not a segaug mask cache"):
        MaskCache(tmp_path)
    with pytest.raises(ValueError, match="directory"):
        MaskCache(tmp_path / "file.txt")
    assert len(MaskCache(tmp_path / "new")) == 0  # reading does not create anything
    assert not (tmp_path / "new").exists()
    with pytest.raises(ValueError, match="chunk_size"):
        MaskCache(tmp_path / "new").writer("cfg", chunk_size=0)
    with pytest.raises(ValueError, match="writer_id"):
        MaskCache(tmp_path / "new").writer("cfg", writer_id="a/b")
    with pytest.raises(ValueError, match="index"):
        index_key(-1)


def test_pickle_for_spawned_workers(tmp_path) -> None:
    with MaskCache(tmp_path).writer("cfg") as w:
        w.add("a", "h", np.eye(5, dtype=np.uint8))
    cache = MaskCache(tmp_path)
    cache.load("a")
    clone = pickle.loads(pickle.dumps(cache))
    assert len(pickle.dumps(cache)) < 1000  # settings only, no payload
    assert np.array_equal(clone.load("a"), np.eye(5, dtype=np.uint8))


def test_compact_storage_224px() -> None:
    rng = np.random.default_rng(0)
    sizes = [len(encode_mask(_blob(rng, 224, 224))) for _ in range(50)]
    assert np.median(sizes) <= 1500, np.median(sizes)
    m = _blob(rng, 224, 224)
    assert np.array_equal(decode_mask(encode_mask(m), 224, 224), m)


def test_chunk_format_is_self_describing(tmp_path) -> None:
    with MaskCache(tmp_path).writer("cfg", writer_id="w0") as w:
        w.add("a", "h", np.ones((2, 3), np.uint8))
    raw = _chunks(tmp_path)[0].read_bytes()
    magic, length, crc = struct.unpack("<8sQI", raw[:20])
    header = json.loads(raw[20 : 20 + length])
    assert magic == b"SEGAUGMC" and zlib.crc32(raw[20 : 20 + length]) == crc
    assert header["keys"] == ["a"] and header["coverage"] == [1.0] and header["writer"] == "w0"
    assert header["heights"] == [2] and header["widths"] == [3]
