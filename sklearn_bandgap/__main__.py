"""``python -m sklearn_bandgap``: the ``sklearn-bandgap`` command (:mod:`sklearn_bandgap.cli`)."""

import sys

from sklearn_bandgap.cli import main

if __name__ == "__main__":
    sys.exit(main())
