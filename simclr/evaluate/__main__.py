"""``python -m simclr.evaluate`` = ``simclr-eval``."""

import sys

from simclr.evaluate.cli import main

sys.exit(main())
