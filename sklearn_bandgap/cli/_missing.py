"""Missing target values on the command line (``--missing-targets``), for ``train`` and ``tune``."""

from __future__ import annotations

import numpy as np

from sklearn_bandgap.cli._errors import UsageError
from sklearn_bandgap.utils._validation import check_target


def check_missing_targets(
    y: np.ndarray, targets: list[str], missing_targets: str, composition_baseline: bool
) -> None:
    """Refuse missing target values unless ``--missing-targets ignore`` (and say where).

    Parameters
    ----------
    y : ndarray of shape (n_samples, n_targets)
        The targets, NaN where a value is missing.
    targets : list of str
        The ``--target`` names, one per column.
    missing_targets : {"error", "ignore"}
        The ``--missing-targets`` choice.
    composition_baseline : bool
        Whether ``--composition-baseline`` was given (it needs every value).
    """
    missing = np.isnan(y)
    if not missing.any():
        return
    if missing_targets == "error":
        column = int(np.flatnonzero(missing.any(axis=0))[0])
        rows = np.flatnonzero(missing[:, column])
        raise UsageError(
            f"--target {targets[column]}: no value in {rows.size} row(s), e.g. rows "
            f"{rows[:10].tolist()}; --missing-targets ignore leaves them out of the loss and "
            "the figures (the rows still train the other targets)"
        )
    if len(targets) == 1:
        rows = np.flatnonzero(missing[:, 0])
        raise UsageError(
            f"--target {targets[0]}: no value in {rows.size} row(s), e.g. rows "
            f"{rows[:10].tolist()}, and no other target to train them on: leave them out"
        )
    if composition_baseline:
        raise UsageError(
            "--composition-baseline fits its elemental references on every row: it cannot "
            "take missing target values (leave out --missing-targets ignore or those rows)"
        )
    try:  # the estimator's own rules: no row without a target, no empty column
        check_target(y, len(y), allow_missing=True, name="the target table")
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    counts = ", ".join(
        f"{name} {int(n)}" for name, n in zip(targets, missing.sum(axis=0), strict=True) if n
    )
    print(f"Missing target values, left out of the loss and the figures: {counts}.")
