"""``python -m sklearn_bandgap.tuning``: the same as ``sklearn-bandgap tune`` (one worker)."""

import sys

from sklearn_bandgap.cli import main

if __name__ == "__main__":
    sys.exit(main(["tune", *sys.argv[1:]]))
