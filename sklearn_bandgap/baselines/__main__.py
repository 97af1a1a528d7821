"""``python -m sklearn_bandgap.baselines``: the same as ``sklearn-bandgap compare``."""

import sys

from sklearn_bandgap.cli import compare_main

if __name__ == "__main__":
    sys.exit(compare_main())
