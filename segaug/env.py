"""Describe the machine a benchmark or report ran on (every table states it).

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
from typing import Any

import torch

__all__ = ["machine_info", "machine_summary"]

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


def machine_info(device: str | torch.device | None = None) -> dict[str, Any]:
    """CPU model, cores, torch threads, Python and library versions, and the GPU if any.

    Args:
        device: The device the measurement ran on, recorded as given.
    """
    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
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


def machine_summary(info: dict[str, Any] | None = None) -> str:
    """One line for reports: ``AMD EPYC, 2 cores, torch 2.x, no GPU``."""
    info = info or machine_info()
    gpu = info.get("gpu") or "no GPU"
    return f"{info['cpu']}, {info['cores']} cores, torch {info['torch']}, {gpu}"
