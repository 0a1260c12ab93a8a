"""Compare augmentation pipelines end to end (the project's main job).

The same as the ``segaug-compare`` console script; see :mod:`simclr.compare`.

Usage:
    python benchmarks/compare_pipelines.py                  # defaults, ~15 min on 2 CPU cores
    python benchmarks/compare_pipelines.py --seeds 1 --epochs 1 --num-samples 256
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from simclr.compare import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
