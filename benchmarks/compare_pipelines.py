"""Compare augmentation pipelines end to end (the project's main job).

The same as the ``segaug-compare`` console script; see :mod:`simclr.compare`.

Usage:
    python benchmarks/compare_pipelines.py                  # the default preset
    python benchmarks/compare_pipelines.py --seeds 1 --set epochs=1 --set num_samples=256
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from simclr.compare import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
