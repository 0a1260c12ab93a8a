"""The machine: what it is (every table states it), which device to use, headless plots.

- :func:`machine_info` / :func:`machine_summary` describe the machine a benchmark or
  report ran on;
- :func:`resolve_device` turns ``auto``/``cpu``/``cuda``/``cuda:N`` into a device, the
  one rule for segmenters, the trainer and the evaluation;
- :func:`pyplot` gives ``matplotlib.pyplot`` on the Agg backend (no display needed).

Example:
    >>> from segaug.env import machine_info, machine_summary
    >>> info = machine_info()
    >>> sorted(k for k in ("cpu", "cores", "torch") if k in info)
    ['cores', 'cpu', 'torch']
"""

from __future__ import annotations

import importlib
import os
import platform
import sys
import threading
from pathlib import Path
from typing import Any

import torch

__all__ = ["PeakRSS", "machine_info", "machine_summary", "pyplot", "resolve_device"]

_LIBRARIES = ("torchvision", "kornia", "numpy", "cv2")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def worker_threads(limit: int = 8) -> int:
    """Threads for a thread pool by default: the cores this process may use, at most ``limit``.

    Example:
        >>> 1 <= worker_threads() <= 8
        True
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, limit))


def machine_info(device: str | torch.device | None = None) -> dict[str, Any]:
    """CPU model, cores, the CPU kernels torch runs (``AVX512``, ``AVX2``, ...), torch
    threads, Python and library versions, and the GPU if any.

    The kernel set is what ``ATEN_CPU_CAPABILITY`` selects: machines with and without
    AVX-512 differ about 2x in speed, and float results can differ in the last bits.

    Args:
        device: The device the measurement ran on, recorded as given.
    """
    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "cpu_capability": _cpu_capability(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }
    for name in _LIBRARIES:
        try:
            info["opencv" if name == "cv2" else name] = importlib.import_module(name).__version__
        except ImportError:
            pass
    info["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    if device is not None:
        info["device"] = str(device)
    return info


def _cpu_capability() -> str | None:
    """The CPU kernel set torch dispatches to (``AVX512``, ``AVX2``, ``DEFAULT``, ...)."""
    get = getattr(torch.backends.cpu, "get_cpu_capability", None)
    return get() if get is not None else None


def machine_summary(info: dict[str, Any] | None = None) -> str:
    """One line for reports: ``AMD EPYC, 2 cores (AVX512 kernels), torch 2.x, no GPU``.

    Example:
        >>> machine_summary({"cpu": "AMD EPYC", "cores": 2, "cpu_capability": "AVX2",
        ...                  "torch": "2.14.1", "gpu": None})
        'AMD EPYC, 2 cores (AVX2 kernels), torch 2.14.1, no GPU'
    """
    info = info or machine_info()
    gpu = info.get("gpu") or "no GPU"
    capability = info.get("cpu_capability")
    kernels = f" ({capability} kernels)" if capability else ""
    return f"{info['cpu']}, {info['cores']} cores{kernels}, torch {info['torch']}, {gpu}"


def resolve_device(
    device: str | torch.device | None = None,
    local_rank: int | None = None,
    *,
    name: str = "device",
) -> torch.device:
    """``None``/``"auto"`` -> CUDA when available, else CPU; validate the rest.

    Args:
        device: ``None``, ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or a device.
        local_rank: CUDA index for a bare ``"cuda"``/``"auto"`` (the process's GPU under
            DDP); ``None`` leaves the index unset.
        name: What ``device`` is called in error messages (e.g. a config key).

    Returns:
        The device.

    Raises:
        ValueError: If ``device`` is malformed, or names CUDA but none is available.

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
        >>> resolve_device("auto").type in ("cpu", "cuda")
        True
        >>> resolve_device("tpu")
        Traceback (most recent call last):
        ...
        ValueError: device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got 'tpu'
    """
    if device is None or device == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        device = "cuda"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(
            f"{name} must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}"
        ) from err
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"{name} is {str(device)!r} but no CUDA device is available; use 'cpu'"
            )
        if dev.index is None and local_rank is not None:
            dev = torch.device("cuda", local_rank)
    return dev


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the non-interactive Agg backend (files only, no display).

    Example:
        >>> plt = pyplot()
        >>> import matplotlib
        >>> matplotlib.get_backend().lower()
        'agg'
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


class PeakRSS:
    """The peak resident memory of this process while a block runs (CPU memory).

    ``getrusage``'s ``ru_maxrss`` is a high-water mark for the whole life of the process,
    so it cannot tell one run of a study from the next. On Linux this samples
    ``/proc/self/statm`` from a background thread every ``interval`` seconds and keeps
    the largest value seen (allocations shorter than ``interval`` can be missed); on
    other systems it falls back to ``ru_maxrss`` and says so in :attr:`kind`.

    Example:
        >>> with PeakRSS() as rss:
        ...     x = torch.ones(1 << 20)
        >>> rss.peak_bytes > 0
        True
    """

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.start_bytes = 0  # RSS when the block began
        self.peak_bytes = 0
        self._statm = Path("/proc/self/statm")
        self.kind = (
            f"process RSS peak during the run (sampled every {interval * 1000:.0f} ms)"
            if self._statm.is_file()
            else "process peak RSS since start (ru_maxrss)"
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _current(self) -> int:
        if self._statm.is_file():
            return int(self._statm.read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        import resource

        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return kb * (1 if sys.platform == "darwin" else 1024)  # bytes on macOS

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak_bytes = max(self.peak_bytes, self._current())

    def __enter__(self) -> PeakRSS:
        self.start_bytes = self.peak_bytes = self._current()
        self._stop.clear()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak_bytes = max(self.peak_bytes, self._current())
