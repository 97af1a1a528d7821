"""CHGNet's atom features on the command line: installed, and able to read every row."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import Any

from sklearn_bandgap.cli._errors import UsageError


def require_potential(option: str) -> None:
    """Refuse ``option`` in one line if CHGNet (the ``potential`` extra) is not installed."""
    if importlib.util.find_spec("chgnet") is None:
        raise UsageError(
            f"{option}: needs CHGNet, the pretrained potential: "
            'pip install "sklearn_bandgap[potential]"'
        )


def refuse_rows_beyond_potential(structures: Sequence[Any], option: str) -> None:
    """Refuse, before any work, every row holding an element CHGNet does not know.

    Rows are named by their position in the table (0-based), which a featurizer
    run on a training part or a fold could not do.
    """
    from sklearn_bandgap.exceptions import InvalidStructureError
    from sklearn_bandgap.featurizers import chgnet_domain_problems

    problems = chgnet_domain_problems(structures)
    if problems:
        raise UsageError(
            f"{option}: {InvalidStructureError(problems)}\nRemove these rows (numbered from 0 "
            "in the table's order) or leave out CHGNet's atom features."
        )
