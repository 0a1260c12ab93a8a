"""One command for the day a GPU is lent: CUDA tests, throughput, a training step, masks, training.

Checks, in order (each within its own time box; the whole run aims at <= 8 minutes on
one H100/H200):

1. ``cuda_tests``: the test suite's CUDA tests (``pytest -k cuda``).
2. ``augment``: RegionAugment two-view throughput at 224 px, batch 256, float32 and
   bfloat16, against kornia's global SimCLR pipeline and torchvision v2 per image, on
   the device, side by side (``benchmarks/augment_throughput.py``'s pipelines).
3. ``train_step``: a ResNet-50 SimCLR step at 224 px (bf16 autocast) with and without
   RegionAugment: the augmentation's share of the step (target <= 10%) and peak memory.
4. ``masks``: DeepLabV3 and SAM (ViT-B) mask precompute on the device, in masks/s, with
   random weights saved to a temporary file (nothing is downloaded).
5. ``train``: ``simclr-train`` for 50 steps with AMP, and with 2 processes (torchrun)
   when the machine has 2 GPUs.
6. ``photos``: the photos study that ran on the CPU (objects on photos, 8,192 images,
   27 epochs = 1,728 steps, ``independent_swap`` against both anchors, 3 seeds) on the
   device, from the dataset's compact copy: whether the GPU reproduces the CPU's gain
   (+3.5 +- 0.9 object info, 24% of the gap) and its seconds per step, which size a
   longer budget. Its report comes back beside the JSON (``photos_report.md``/``.json``).

A lent machine has no Debian packages and no kornia. ``--prepare`` (here, before the
loan) downloads the wheels it lacks into ``.device/wheels`` and writes the photos
dataset's compact copy to ``.device/photos`` (38 MiB with the working tree, under the
64 MiB a call may carry); ``benchmarks/gpu_run.sh`` installs the wheels there and runs
this script with its results under ``$OUT``. ``photos`` runs only when named (it takes
most of a device session). On the device, two calls with ``carry=[".device"]``, the study first::

    bash benchmarks/gpu_run.sh --only photos      # <= 5.5 min (a 5-minute time box)
    bash benchmarks/gpu_run.sh                    # the other checks, <= 8 min

Without a GPU the CPU-safe parts run at smoke sizes (so the script itself is checked),
and every GPU part is listed as skipped with the reason. It prints a table, writes JSON
(``--out``) and states the machine.

Usage::

    python benchmarks/gpu_check.py                    # everything the machine allows
    python benchmarks/gpu_check.py --only augment masks --out bench_results/gpu.json
    python benchmarks/gpu_check.py --prepare          # wheels and photos for a lent GPU
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from segaug.env import machine_info  # noqa: E402

CHECKS = ("cuda_tests", "augment", "train_step", "masks", "train", "photos")
DEFAULT_CHECKS = CHECKS[:-1]  # ``photos`` runs when named: it needs most of a device session
AUG_SHARE_TARGET = 0.10
DEVICE_DIR = ROOT / ".device"  # what --prepare writes and a device call carries
DEVICE_WHEELS = ("kornia", "kornia_rs", "segment-anything")  # not in the device's image
DEVICE_PYTHON = "3.12"  # the device image's Python
CARRY_LIMIT_MIB = 64
PHOTOS_STUDY = ("--preset", "photos", "--set", "num_samples=8192", "--budgets", "27",
                "--recipes", "independent_swap")  # fmt: skip
"""The CPU study the ``photos`` check repeats on the device (docs/results/main-job-photos.md:
anchor 44.8 on gray, baseline 30.3, ``independent_swap`` +3.5 +- 0.9, 24% of the gap)."""
PHOTOS_SMOKE = ("--preset", "photos", "--set", "num_samples=64", "--budgets", "1",
                "--recipes", "independent_swap", "--set", "seeds=[0,1]", "--set",
                "batch_size=32", "--set", "probe_train=60", "--set", "probe_val=30", "--set",
                "eval_images=60", "--set", "challenge_images=60")  # fmt: skip
PHOTOS_TIMEOUT_S = 300  # the study's share of a 15-minute device session


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _per_second(fn: Callable[[], Any], items: int, device: str, seconds: float) -> float:
    """Items per second of ``fn`` (after two warm-up calls), timed for about ``seconds``."""
    for _ in range(2):
        fn()
    _sync(device)
    n, start = 0, time.perf_counter()
    while True:
        fn()
        n += items
        _sync(device)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and n >= 2 * items:
            return n / elapsed


# ------------------------------------------------------------------------ checks
def check_cuda_tests(device: str, quick: bool) -> list[dict[str, Any]]:
    if device != "cuda":
        return [{"check": "cuda_tests", "skipped": "no CUDA device"}]
    cmd = [sys.executable, "-m", "pytest", "-q", "-rs", "-k", "cuda", "tests"]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    last = (done.stdout.strip().splitlines() or ["(no output)"])[-1]
    return [
        {
            "check": "cuda_tests",
            "ok": done.returncode == 0,
            "summary": last,
            "seconds": round(time.perf_counter() - t0, 1),
        }
    ]


def check_augment(device: str, quick: bool) -> list[dict[str, Any]]:
    import augment_throughput as at

    size, batch = (224, 256) if not quick else (64, 16)
    seconds = 3.0 if not quick else 0.3
    rows = []
    images, masks = at.make_batch(batch, size, device)
    per_image = min(batch, 32)
    pipelines = {
        "region_batched": (at.region_batched(size), images, masks),
        "kornia_global": (at.kornia_global(size), images, masks),
        "tv_v2_per_image": (at.tv_global(size), images[:per_image], masks[:per_image]),
    }
    dtypes = [torch.float32] + ([torch.bfloat16] if device == "cuda" else [])
    for dtype in dtypes:
        speed = {}
        for name, (fn, x, m) in pipelines.items():
            x_in = x if dtype == torch.float32 else (x.float() / 255).to(dtype)
            try:
                torch.manual_seed(0)
                call = lambda fn=fn, x_in=x_in, m=m: fn(x_in, m)  # noqa: E731
                speed[name] = _per_second(call, x.shape[0], device, seconds)
            except Exception as err:  # noqa: BLE001 - a pipeline without bf16 is a finding
                speed[name] = float("nan")
                rows.append({"check": "augment", "dtype": str(dtype), "pipeline": name,
                             "error": f"{type(err).__name__}: {err}"[:200]})  # fmt: skip
        rows.append(
            {
                "check": "augment",
                "size": size,
                "batch": batch,
                "dtype": str(dtype).replace("torch.", ""),
                **{f"{k}_img_s": round(v, 1) for k, v in speed.items()},
                "region_over_kornia": round(speed["region_batched"] / speed["kornia_global"], 2),
                "region_over_tv_v2": round(speed["region_batched"] / speed["tv_v2_per_image"], 2),
            }
        )
    if device != "cuda":
        rows.append({"check": "augment", "skipped": "bfloat16 and GPU sizes: no CUDA device"})
    return rows


def check_train_step(device: str, quick: bool) -> list[dict[str, Any]]:
    from segaug import recipes
    from simclr.gradcache import TrainModule, forward_backward
    from simclr.methods import build_method
    from simclr.models import build_backbone

    backbone, size, batch, steps = (
        ("resnet50", 224, 256, 5) if not quick else ("resnet18", 32, 8, 2)
    )
    dev = torch.device(device)
    module = TrainModule(build_method("simclr", build_backbone(backbone, size))).to(dev)
    opt = torch.optim.SGD(module.parameters(), lr=0.1, momentum=0.9)
    aug = recipes.thesis(output_size=size).to(dev)
    g = torch.Generator().manual_seed(0)
    images = (torch.rand(batch, 3, size, size, generator=g) * 255).to(torch.uint8).to(dev)
    masks = torch.zeros(batch, 1, size, size, dtype=torch.uint8, device=dev)
    masks[:, :, size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 1
    autocast = (
        (lambda: torch.autocast("cuda", dtype=torch.bfloat16))
        if device == "cuda"
        else (lambda: torch.autocast("cpu", enabled=False))
    )
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()

    def step(with_aug: bool) -> tuple[float, float]:
        t0 = time.perf_counter()
        if with_aug:
            v1, v2 = aug.pair(images, masks)
            views = [v1.images, v2.images]
        else:
            x = images.float() / 255
            views = [x, x]
        _sync(device)
        t1 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        forward_backward(module, views, [masks.float()] * 2, None, 1, autocast)
        opt.step()
        _sync(device)
        return t1 - t0, time.perf_counter() - t1

    rows = []
    for with_aug in (False, True):
        step(with_aug)  # warm-up
        times = [step(with_aug) for _ in range(steps)]
        aug_s = sum(a for a, _ in times) / steps
        compute_s = sum(c for _, c in times) / steps
        row = {"check": "train_step", "backbone": backbone, "size": size, "batch": batch,
               "region_augment": with_aug, "augment_ms": round(1e3 * aug_s, 1),
               "step_ms": round(1e3 * (aug_s + compute_s), 1)}  # fmt: skip
        if with_aug:
            share = aug_s / (aug_s + compute_s)
            row["augment_share"] = round(share, 3)
            row["target_ok"] = share <= AUG_SHARE_TARGET
        if device == "cuda":
            row["peak_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        rows.append(row)
    return rows


def check_masks(device: str, quick: bool) -> list[dict[str, Any]]:
    from segaug.masks import create_segmenter

    rows = []
    size, batch = (224, 32) if not quick else (64, 2)
    images = torch.rand(batch, 3, size, size, device=device)
    with tempfile.TemporaryDirectory() as tmp:
        from torchvision.models.segmentation import deeplabv3_resnet50

        path = Path(tmp) / "deeplab_random.pth"
        torch.save(deeplabv3_resnet50(weights=None, weights_backbone=None).state_dict(), path)
        specs: list[tuple[str, dict[str, Any]]] = [
            ("deeplabv3", {"checkpoint": str(path), "weights": None, "resolution": size})
        ]
        try:
            from segment_anything import sam_model_registry

            sam_path = Path(tmp) / "sam_vit_b_random.pth"
            torch.save(sam_model_registry["vit_b"](checkpoint=None).state_dict(), sam_path)
            specs.append(("sam", {"checkpoint": str(sam_path)}))
        except ImportError:
            rows.append({"check": "masks", "segmenter": "sam",
                         "skipped": "segment-anything is not installed"})  # fmt: skip
        for name, options in specs:
            if quick and name == "sam":
                rows.append({"check": "masks", "segmenter": "sam",
                             "skipped": "SAM ViT-B on CPU: minutes per batch"})  # fmt: skip
                continue
            try:
                seg = create_segmenter(name, device=device, **options)
                run = lambda seg=seg: seg(images)  # noqa: E731
                speed = _per_second(run, batch, device, 0.2 if quick else 3.0)
                rows.append({"check": "masks", "segmenter": name, "size": size,
                             "masks_per_s": round(speed, 1)})  # fmt: skip
            except Exception as err:  # noqa: BLE001 - reported, the run goes on
                rows.append({"check": "masks", "segmenter": name,
                             "error": f"{type(err).__name__}: {err}"[:300]})  # fmt: skip
    return rows


def check_train(device: str, quick: bool) -> list[dict[str, Any]]:
    if device != "cuda":
        return [{"check": "train", "skipped": "simclr-train with AMP: no CUDA device"}]
    rows = []
    base = ["--set", "data.dataset=synthetic", "data.num_samples=4096", "data.image_size=64",
            "data.batch_size=256", "augment.output_size=64", "model.backbone=resnet18",
            "train.precision=bf16", "train.max_steps=50", "train.epochs=4",
            "train.device=cuda", "train.plots=false", "train.progress=false"]  # fmt: skip
    launchers = [("1 process", [sys.executable, "-m", "simclr.train"])]
    if torch.cuda.device_count() >= 2:
        launchers.append(
            ("2 processes", ["torchrun", "--nproc-per-node", "2", "-m", "simclr.train"])
        )
    else:
        rows.append({"check": "train", "skipped": "2 processes: the machine has one GPU"})
    for label, cmd in launchers:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            done = subprocess.run([*cmd, *base, f"train.output_dir={tmp}/run"], cwd=ROOT,
                                  capture_output=True, text=True, timeout=240)  # fmt: skip
            rows.append({"check": "train", "launch": label, "ok": done.returncode == 0,
                         "seconds": round(time.perf_counter() - t0, 1),
                         "tail": (done.stderr.strip().splitlines() or [""])[-1][:200]})  # fmt: skip
    return rows


def _points(stat: dict[str, Any]) -> str:
    """A paired difference as "+3.5 +- 0.9 [+1.2, +5.8]" in points."""
    return (
        f"{100 * stat['mean']:+.1f} +- {100 * stat['std']:.1f} "
        f"[{100 * stat['low']:+.1f}, {100 * stat['high']:+.1f}]"
    )


def check_photos(device: str, quick: bool, photos: Path, out_dir: Path) -> list[dict[str, Any]]:
    """The photos study on ``device`` from the compact copy at ``photos``; smoke-sized on CPU.

    The study's own output goes to ``out_dir/photos_study.log`` (its last lines are
    printed), and its report, when it wrote one, to ``out_dir/photos_report.md``/``.json``;
    after a time-out or a failure the row still holds the runs done and their steps/s.
    """
    if not (photos / "objects").is_dir() or not (photos / "backgrounds").is_dir():
        return [
            {
                "check": "photos",
                "skipped": f"no photos folders under '{photos}': run "
                "`python benchmarks/gpu_check.py --prepare` first (and carry .device)",
            }
        ]
    folders = {"objects": str(photos / "objects"), "backgrounds": str(photos / "backgrounds")}
    settings = PHOTOS_SMOKE if quick else PHOTOS_STUDY
    seeds = 2 if quick else 3
    out_dir.mkdir(parents=True, exist_ok=True)
    log = out_dir / "photos_study.log"
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            "-m",
            "simclr.compare",
            *settings,
            "--set",
            "data_params=" + json.dumps(folders),  # JSON is YAML: any path quotes right
            "--device",
            device,
            "--out-dir",
            tmp,
            "--no-progress",
        ]
        t0 = time.perf_counter()
        try:
            done = subprocess.run(
                cmd,
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=PHOTOS_TIMEOUT_S,
            )
            output, error = done.stdout, None if done.returncode == 0 else "exit code"
        except subprocess.TimeoutExpired as err:
            raw = err.stdout or b""
            output = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
            error = f"timed out after {PHOTOS_TIMEOUT_S} s"
        seconds = time.perf_counter() - t0
        log.write_text(output)
        lines = output.strip().splitlines() or ["(no output)"]
        print("\n".join(f"  photos> {line}" for line in lines[-8:]), flush=True)
        trained = [
            json.loads(f.read_text()) for f in Path(tmp).glob("compare-*/runs/*/result.json")
        ]
        row: dict[str, Any] = {
            "check": "photos",
            "smoke": quick,
            "ok": error is None,
            "seconds": round(seconds, 1),
            "runs_planned": 3 * seeds,  # objects alone, simclr, independent_swap
            "runs_done": len(trained),
        }
        if trained:
            steps = sum(r.get("steps", 0) for r in trained)
            train_s = sum(r["train_seconds"] for r in trained)
            row["train_seconds_per_run"] = round(train_s / len(trained), 1)
            row["steps_per_s"] = round(steps / train_s, 1)
        reports = sorted(Path(tmp).glob("compare-*/report.json"))
        for name in ("report.md", "report.json") if reports else ():
            if (reports[0].parent / name).is_file():
                shutil.copy(reports[0].parent / name, out_dir / f"photos_{name}")
        if error is not None:
            row["error"] = f"{error}: {lines[-1][:300]}"
            return [row]
        try:
            report = json.loads(reports[0].read_text())
            rows = report["summary"]["rows"]
            swap = rows["independent_swap"]
            row.update(
                {
                    "anchor_on_gray": round(
                        100 * rows["objects alone"]["object_info_neutral"]["mean"], 1
                    ),
                    "baseline": round(100 * rows["simclr"]["object_info"]["mean"], 1),
                    "swap": round(100 * swap["object_info"]["mean"], 1),
                    "swap_gain": _points(swap["paired"]["object_info"]),
                    "gap_closed": round(swap["gap_closed"], 3),
                    "calibration_ok": all(c["ok"] for c in report["calibration"]),
                }
            )
        except (IndexError, KeyError, TypeError, ValueError) as err:
            row["ok"] = False
            row["error"] = f"report.json not as expected: {type(err).__name__}: {err}"[:300]
    return [row]


RUNNERS: dict[str, Callable[[str, bool], list[dict[str, Any]]]] = {
    "cuda_tests": check_cuda_tests,
    "augment": check_augment,
    "train_step": check_train_step,
    "masks": check_masks,
    "train": check_train,
}


def prepare(dest: Path = DEVICE_DIR) -> dict[str, Any]:
    """Write what a lent GPU machine lacks into ``dest``: wheels and the photos' compact copy.

    The wheels are this environment's versions of :data:`DEVICE_WHEELS`, for the device
    image's Python (:data:`DEVICE_PYTHON`, manylinux x86-64), downloaded from the package
    index; the photos are ``segaug.data.photos.compact_copy`` of the Debian folders.
    Both are skipped when already there. Returns the sizes, and says whether the carried
    folder and the working tree fit the 64 MiB a device call may take.
    """
    from importlib.metadata import PackageNotFoundError, version

    from segaug.data.photos import compact_copy

    wheels = dest / "wheels"
    try:
        pins = [f"{name}=={version(name)}" for name in DEVICE_WHEELS]
    except PackageNotFoundError as err:
        raise SystemExit(
            f"--prepare: {err} is not installed here; pip install -e '.[dev]'"
        ) from None

    def key(name: str, ver: str) -> str:
        return f"{name.lower().replace('_', '-')}=={ver}"

    for wheel in wheels.glob("*.whl"):  # two versions of one package stop the install there
        if key(*wheel.name.split("-")[:2]) not in {key(*p.split("==")) for p in pins}:
            wheel.unlink()
    have = {key(*w.name.split("-")[:2]) for w in wheels.glob("*.whl")}
    missing = [p for p in pins if key(*p.split("==")) not in have]
    if missing:
        platforms = [
            a
            for tag in ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
            for a in ("--platform", tag)
        ]
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            "--only-binary=:all:",
            "--python-version",
            DEVICE_PYTHON,
            "--implementation",
            "cp",
            *platforms,
            "-d",
            str(wheels),
            *missing,
        ]
        if subprocess.run(cmd).returncode != 0:
            raise SystemExit(
                f"--prepare: pip could not download {', '.join(missing)} for Python "
                f"{DEVICE_PYTHON} (manylinux x86-64); is the package index reachable?"
            )
    photos = dest / "photos"
    if not (photos / "compact_copy.json").is_file():
        shutil.rmtree(photos, ignore_errors=True)
        compact_copy(photos)
    carried = sum(f.stat().st_size for f in dest.rglob("*") if f.is_file())
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    tree = sum(
        (ROOT / os.fsdecode(f)).stat().st_size
        for f in listed
        if f and (ROOT / os.fsdecode(f)).is_file()
    )
    total = (carried + tree) / 2**20
    print(
        f"{dest}: wheels {', '.join(pins)}; photos {photos}; {carried / 2**20:.1f} MiB "
        f"carried + {tree / 2**20:.1f} MiB working tree = {total:.1f} MiB of the "
        f"{CARRY_LIMIT_MIB} MiB a device call may take"
    )
    return {
        "carried_mib": carried / 2**20,
        "tree_mib": tree / 2**20,
        "fits": total < CARRY_LIMIT_MIB,
        "wheels": pins,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=CHECKS,
        default=list(DEFAULT_CHECKS),
        help="checks to run (default: all but photos, which runs when named)",
    )
    parser.add_argument("--out", default="bench_results/gpu_check.json", help="JSON file")
    parser.add_argument(
        "--photos",
        default=str(DEVICE_DIR / "photos"),
        help="photos check: the compact copy's folder (default: %(default)s)",
    )
    parser.add_argument(
        "--prepare",
        action="store_true",
        help=f"write the wheels and photos a lent GPU lacks into {DEVICE_DIR}",
    )
    args = parser.parse_args(argv)
    if args.prepare:
        prepared = prepare()
        if not prepared["fits"]:
            raise SystemExit(f"--prepare: over the {CARRY_LIMIT_MIB} MiB a device call carries")
        return prepared
    out = Path(args.out)
    runners = {**RUNNERS, "photos": lambda d, q: check_photos(d, q, Path(args.photos), out.parent)}
    device = "cuda" if torch.cuda.is_available() else "cpu"
    quick = device != "cuda"
    info = machine_info(device)
    print("machine:", ", ".join(f"{k}={v}" for k, v in info.items()))
    if quick:
        print("no CUDA device: the GPU parts are skipped; CPU-safe parts run at smoke sizes")
    rows: list[dict[str, Any]] = []
    t_start = time.perf_counter()
    for name in args.only:
        t0 = time.perf_counter()
        try:
            got = runners[name](device, quick)
        except Exception as err:  # noqa: BLE001 - one failing check does not hide the rest
            got = [{"check": name, "error": f"{type(err).__name__}: {err}"[:300]}]
        for r in got:
            r.setdefault("seconds", round(time.perf_counter() - t0, 1))
        rows += got
        for r in got:
            print("| " + " | ".join(f"{k}={v}" for k, v in r.items()) + " |", flush=True)
    skipped = [r for r in rows if "skipped" in r]
    failed = [r for r in rows if "error" in r or r.get("ok") is False]
    print(f"\n{len(rows)} rows, {len(skipped)} skipped, {len(failed)} failed, "
          f"{time.perf_counter() - t_start:.0f} s on {device}")  # fmt: skip
    for r in skipped:
        print(f"skipped: {r['check']}: {r['skipped']}")
    result = {
        "benchmark": "gpu_check",
        "machine": info,
        "device": device,
        "smoke_sizes": quick,
        "rows": rows,
        "targets": {"augment_share_of_resnet50_step": AUG_SHARE_TARGET},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
