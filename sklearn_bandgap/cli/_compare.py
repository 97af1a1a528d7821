"""``sklearn-bandgap compare``: the LSTM pipeline against the matminer baselines on your CSV.

The CSV has one row per crystal: a structure column (CIF text, or a path to any
file pymatgen reads, relative to the CSV's folder) and a numeric target column.
Folds are ``GroupKFold`` on reduced formulas (polymorphs never on both sides).
``lstm_chgnet`` is the LSTM pipeline with CHGNet's atom features (the
``potential`` extra), computed again in every fold like any featurizer's.
Prints the table and writes ``comparison.csv`` and ``comparison.png`` into
``--output-dir``. ``--pretrained NAME`` adds a shipped model, frozen (it is
never refitted, so on Materials Project data its figures mean little: it was
trained on most of it).
"""

from __future__ import annotations

import argparse
from typing import Any

import pandas as pd
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline

from sklearn_bandgap.baselines import (
    compare,
    make_dummy,
    make_rf_magpie,
    make_rf_scm_magpie,
    plot_comparison,
)
from sklearn_bandgap.cli._errors import UsageError
from sklearn_bandgap.cli._potential import refuse_rows_beyond_potential, require_potential
from sklearn_bandgap.datasets import load_table
from sklearn_bandgap.featurizers import NeighborListFeaturizer
from sklearn_bandgap.models import NeighborLSTMRegressor
from sklearn_bandgap.pretrained import load_pretrained

ESTIMATORS = ("lstm", "lstm_chgnet", "rf_scm_magpie", "rf_magpie", "mean")


def build_estimators(
    names: list[str], *, max_sites: int, n_estimators: int, max_epochs: int, n_jobs: int | None
) -> dict[str, Any]:
    """The named estimators, ready for :func:`compare`."""
    makers = {
        "lstm": lambda: make_pipeline(
            NeighborListFeaturizer(),
            NeighborLSTMRegressor(max_epochs=max_epochs, random_state=0),
        ),
        "lstm_chgnet": lambda: make_pipeline(
            NeighborListFeaturizer(atom_features="chgnet", n_jobs=n_jobs),
            NeighborLSTMRegressor(max_epochs=max_epochs, random_state=0),
        ),
        "rf_scm_magpie": lambda: make_rf_scm_magpie(
            max_sites=max_sites, n_estimators=n_estimators, n_jobs=n_jobs
        ),
        "rf_magpie": lambda: make_rf_magpie(n_estimators=n_estimators, n_jobs=n_jobs),
        "mean": make_dummy,
    }
    return {name: makers[name]() for name in names}


def _shipped_output(name: str) -> dict[str, Any]:
    """The first output (name, unit) of a shipped model, from its card."""
    from sklearn_bandgap.pretrained import list_pretrained, model_card

    if name not in list_pretrained():
        raise UsageError(
            f"--pretrained {name}: not a shipped model ({', '.join(list_pretrained())})"
        )
    output: dict[str, Any] = model_card(name)["outputs"][0]
    return output


def run(args: argparse.Namespace) -> int:
    """Carry out ``sklearn-bandgap compare``."""
    try:
        table = load_table(
            args.csv,
            target=args.target,
            structure_column=args.structure_column,
            group_column=args.group_column,
        )
    except ValueError as exc:  # a missing column, bad numbers, unreadable structures
        raise UsageError(str(exc)) from None
    structures, y, groups = table.data, table.target, table.groups
    if "lstm_chgnet" in args.estimators:  # rows named by their row in the table, not in a fold
        require_potential("--estimators lstm_chgnet")
        refuse_rows_beyond_potential(structures, "--estimators lstm_chgnet")
    n_groups = len(set(groups))
    if n_groups < args.folds:
        raise UsageError(f"{n_groups} distinct groups: too few for {args.folds} folds")
    estimators: dict[str, Any] = build_estimators(
        args.estimators,
        max_sites=max(len(s) for s in structures),
        n_estimators=args.n_estimators,
        max_epochs=args.max_epochs,
        n_jobs=args.n_jobs,
    )
    for name in args.pretrained:
        output = _shipped_output(name)
        print(f"{name} predicts {output['name']} ({output.get('unit') or 'no unit'})")
        if output["name"] != args.target and not args.same_quantity:
            raise UsageError(
                f"--pretrained {name} predicts {output['name']} in "
                f"{output.get('unit') or 'its own unit'}, but the target column is "
                f"{args.target!r}: its errors would compare two quantities. If {args.target!r} "
                "is the same quantity in the same unit, add --same-quantity."
            )
        estimators[f"pretrained:{name}"] = FrozenEstimator(load_pretrained(name))
    print(
        f"{len(structures)} structures, {n_groups} groups "
        f"({args.group_column or 'reduced formulas'}), {args.folds} group folds; "
        f"estimators: {', '.join(estimators)}",
        flush=True,
    )
    table = compare(estimators, structures, y, cv=GroupKFold(args.folds), groups=groups, verbose=1)
    with pd.option_context(
        "display.width", 200, "display.max_columns", None, "display.precision", 4
    ):
        print(table)  # every column: R² beside the MAE
    for name in table.index[table["constant"]]:
        print(
            f"note: {name} predicts about one value per fold (prediction spread "
            f"{table.loc[name, 'prediction_spread']:.2g} of the target's; R² "
            f"{table.loc[name, 'r2_mean']:.2f}): a constant, whatever its MAE. On a mostly-zero "
            "target try NeighborLSTMRegressor(loss='mse') or a ZeroInflatedRegressor."
            if "r2_mean" in table.columns
            else f"note: {name} predicts about one value per fold: a constant."
        )
    args.output_dir.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.output_dir / "comparison.csv")
    plot_comparison(
        table, y, path=args.output_dir / "comparison.png", target=args.target, unit=args.unit
    )
    print(f"wrote {args.output_dir / 'comparison.csv'} and comparison.png")
    return 0
