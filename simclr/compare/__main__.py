"""``python -m simclr.compare``: the same as ``segaug-compare``."""

import sys

from simclr.compare.cli import main

sys.exit(main())
