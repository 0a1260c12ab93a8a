"""precompute_masks and the segaug-precompute-masks CLI: resume, invalidation, shards."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from segaug.cli.precompute_masks import main
from segaug.masks import MaskCache, content_hash
from segaug.masks.cache import CHUNK_DIR, _read_chunk_header
from segaug.masks.precompute import ABORT_ENV, parse_shard, precompute_masks

SIZE = 48


def _make_folder(root: Path, n: int = 8) -> list[str]:
    """``n`` photos-with-shapes in two class folders, plus a broken file and a text file."""
    rng = np.random.default_rng(0)
    keys = []
    for i in range(n):
        img = (rng.random((SIZE, SIZE + 8 * (i % 2), 3)) * 60 + 40).astype(np.uint8)
        img[12:36, 14:34] = (220, (40 + 20 * i) % 256, 30)
        key = f"{'cat' if i % 2 else 'dog'}/img_{i:02d}.png"
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(root / key)
        keys.append(key)
    return sorted(keys)


def _add_junk(root: Path) -> None:
    (root / "dog" / "broken.jpg").write_bytes(b"definitely not a jpeg")
    png = (root / "cat" / "img_01.png").read_bytes()
    (root / "cat" / "truncated.png").write_bytes(png[: len(png) // 2])
    (root / "README.txt").write_text("not an image")


@pytest.fixture
def folder(tmp_path: Path) -> tuple[Path, list[str]]:
    src = tmp_path / "src"
    keys = _make_folder(src)
    return src, keys


def _run(src, out, **kw):
    kw.setdefault("size", SIZE)
    kw.setdefault("progress", False)
    return precompute_masks(src, out, **kw)


def _all_valid(out: Path, keys: list[str]) -> None:
    cache = MaskCache(out)
    assert sorted(cache.valid_entries()) == sorted(keys)
    for k in keys:
        m = cache.load(k)
        assert m.dtype == np.uint8 and min(m.shape) == SIZE and set(np.unique(m)) <= {0, 1}


def test_run_skip_and_report_bad_files(folder, tmp_path: Path) -> None:
    src, keys = folder
    _add_junk(src)
    out = tmp_path / "cache"
    s = _run(src, out, batch_size=3)
    assert (s.total, s.done, s.skipped) == (len(keys) + 2, len(keys), 0)
    failed = dict(s.failed)
    assert set(failed) == {"dog/broken.jpg", "cat/truncated.png"}
    assert "not an image" in failed["dog/broken.jpg"]
    assert "unreadable image" in failed["cat/truncated.png"]
    assert s.ignored == ["README.txt"] and s.complete
    assert len(s.coverage) == len(keys)
    _all_valid(out, keys)
    text = s.format()
    assert "dog/broken.jpg" in text and "would fall back" in text and "90%-100%" in text

    again = _run(src, out)
    assert (again.done, again.skipped, len(again.failed)) == (0, len(keys), 2)


def test_changed_image_and_config_invalidate(folder, tmp_path: Path) -> None:
    src, keys = folder
    out = tmp_path / "cache"
    _run(src, out)
    img = np.asarray(Image.open(src / keys[0])).copy()
    img[0, 0] = 255 - img[0, 0]
    Image.fromarray(img).save(src / keys[0])
    s = _run(src, out)
    assert (s.done, s.skipped) == (1, len(keys) - 1)
    assert MaskCache(out).content_hash(keys[0]) == content_hash((src / keys[0]).read_bytes())

    changed = _run(src, out, segmenter_options={"margin": 0.1})
    assert (changed.done, changed.skipped) == (len(keys), 0)
    cache = MaskCache(out)
    assert '"margin":0.1' in cache.selected_config and len(cache.configs()) == 2
    assert _run(src, out).done == 0  # the first configuration's masks are still valid


def test_corrupt_entry_recomputed(folder, tmp_path: Path) -> None:
    src, keys = folder
    out = tmp_path / "cache"
    _run(src, out, chunk_size=100)
    (path,) = sorted((out / CHUNK_DIR).glob("*.smc"))
    info = _read_chunk_header(path)
    row = info.header["keys"].index(keys[3])
    data = bytearray(path.read_bytes())
    data[info.payload_start + info.header["offsets"][row] + 2] ^= 0x55
    path.write_bytes(bytes(data))
    s = _run(src, out)
    assert (s.done, s.skipped) == (1, len(keys) - 1)
    _all_valid(out, keys)


def test_shards_cover_every_image_once(folder, tmp_path: Path) -> None:
    src, keys = folder
    out = tmp_path / "cache"
    totals = [_run(src, out, shard=f"{i}/3").total for i in range(3)]
    assert sum(totals) == len(keys)
    seen: list[str] = []
    for path in (out / CHUNK_DIR).glob("*.smc"):
        seen += _read_chunk_header(path).header["keys"]
    assert sorted(seen) == keys  # disjoint and complete
    _all_valid(out, keys)


def test_shard_from_torchrun_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANK", "2")
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert parse_shard(None) == (2, 4)
    assert parse_shard("1/2") == (1, 2)
    for bad in ("3/3", "a/b", "1", "-1/2"):
        with pytest.raises(ValueError, match="shard"):
            parse_shard(bad)


def test_killed_run_resumes_complete(tmp_path: Path) -> None:
    src = tmp_path / "src"
    keys = _make_folder(src, n=12)
    out = tmp_path / "cache"
    env = dict(os.environ, **{ABORT_ENV: "5"})
    cmd = [sys.executable, "-m", "segaug.cli.precompute_masks", str(src), "--out", str(out),
           "--size", str(SIZE), "--batch-size", "2", "--chunk-size", "2", "--workers", "0",
           "--no-progress"]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    partial = MaskCache(out)
    assert 4 <= len(partial) < len(keys)
    (out / CHUNK_DIR / ".tmp-0123").write_bytes(b"chunk being written when killed")
    s = _run(src, out, batch_size=4)
    assert s.skipped == len(partial) and s.done == len(keys) - len(partial) and s.complete
    _all_valid(out, keys)


def test_gt_from_dataset_object(tmp_path: Path) -> None:
    from segaug.data.synthetic import SyntheticShapes

    ds = SyntheticShapes("test", size=32, num_samples=6)
    s = precompute_masks(ds, tmp_path / "gt", "gt", size=None, progress=False)
    assert s.done == 6
    cache = MaskCache(tmp_path / "gt")
    assert cache.keys() == [f"{i:08d}" for i in range(6)]
    for i in range(6):
        assert np.array_equal(cache.load(f"{i:08d}"), ds.get_mask(i))
    assert precompute_masks(ds, tmp_path / "gt", "gt", size=None, progress=False).skipped == 6


def test_cli_main(folder, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src, keys = folder
    out = tmp_path / "cache"
    assert main([str(src), "--out", str(out), "--size", str(SIZE), "--workers", "1",
                 "--no-progress", "--option", "margin=0.05"]) == 0  # fmt: skip
    assert f"done: {len(keys)}" in capsys.readouterr().out
    assert main(["--stats", str(out)]) == 0
    stats = capsys.readouterr().out
    assert f"masks: {len(keys)}" in stats and "would fall back" in stats
    assert main(["--compact", str(out)]) == 0
    assert len(list((out / CHUNK_DIR).glob("*.smc"))) == 1


@pytest.mark.parametrize(
    "argv, match",
    [
        (["{src}", "--out", "{out}", "--shard", "5/2"], "shard"),
        (["{tmp}/nope", "--out", "{out}"], "source"),
        (["{src}", "--out", "{out}", "--batch-size", "0"], "batch_size"),
        (["{src}", "--out", "{out}", "--checkpoint", "x.pth"], "checkpoint"),
        (["{src}", "--out", "{out}", "--segmenter", "gt"], "gt"),
        (["{src}", "--out", "{out}", "--option", "nope=1"], "nope"),
        (["--stats", "{tmp}/nope"], "cache"),
    ],
)
def test_cli_bad_arguments_exit_2(folder, tmp_path: Path, capsys, argv, match) -> None:
    src, _ = folder
    fmt = {"src": src, "out": tmp_path / "cache", "tmp": tmp_path}
    assert main([a.format(**fmt) for a in argv]) == 2
    assert match in capsys.readouterr().err


def test_cli_run_failure_exit_1(folder, tmp_path: Path, monkeypatch, capsys) -> None:
    from segaug.masks.classical import ClassicalSegmenter

    def broken(self, images):
        raise MemoryError("simulated")

    monkeypatch.setattr(ClassicalSegmenter, "_segment", broken)
    src, _ = folder
    assert main([str(src), "--out", str(tmp_path / "c"), "--no-progress", "--workers", "0"]) == 1
    assert "simulated" in capsys.readouterr().err


def test_verify_lists_corrupt_masks_and_stats_says_so(folder, tmp_path: Path, capsys) -> None:
    src, keys = folder
    out = tmp_path / "cache"
    _run(src, out, chunk_size=100)
    capsys.readouterr()
    assert main(["--stats", str(out)]) == 0
    assert "verified: no" in capsys.readouterr().out
    assert main(["--verify", str(out)]) == 0
    assert f"{len(keys)} masks, all pass" in capsys.readouterr().out
    assert main(["--stats", str(out)]) == 0
    assert f"{len(keys)} masks, 0 corrupt" in capsys.readouterr().out
    # flip a byte of one mask: --verify names it, its chunk and the repair; exit 1
    (path,) = sorted((out / CHUNK_DIR).glob("*.smc"))
    info = _read_chunk_header(path)
    row = info.header["keys"].index(keys[3])
    data = bytearray(path.read_bytes())
    data[info.payload_start + info.header["offsets"][row] + 2] ^= 0x55
    path.write_bytes(bytes(data))
    assert main(["--verify", str(out)]) == 1
    text = capsys.readouterr().out
    assert f"1 of {len(keys)} masks are corrupt" in text
    assert keys[3] in text and path.name in text and f"--out {out}" in text
    assert main(["--stats", str(out)]) == 0
    assert "1 corrupt" in capsys.readouterr().out
    # at training time the bad entry is one line naming key, chunk and repair
    from segaug.errors import one_line
    from segaug.masks.cache import CorruptMaskError

    cache = MaskCache(out)
    with pytest.raises(CorruptMaskError) as err:
        cache.load(keys[3])
    line = one_line(err.value)
    assert keys[3] in line and path.name in line and "segaug-precompute-masks" in line
