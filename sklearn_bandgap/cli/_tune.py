"""``sklearn-bandgap tune``: one Optuna tuning worker on the training split of a data set.

Tunes ``make_pipeline(NeighborListFeaturizer(), NeighborLSTMRegressor())`` (with
``--atom-features chgnet``, CHGNet's atom features in the featurizer) on the
training part of the seeded 90/10 group split of the MP set, or of your own
table (``tune my.csv --target gap ...``; groups are the reduced formulas or
``--group-column``); the test part is never seen. With several ``--target``
columns the model learns them together and the first is scored. Start the
same command on as many processes or machines as you like, all with one
storage: they share the study until it holds ``--n-trials`` finished trials.
With SQLite or a journal file the workers must share a disk; across machines
use an RDB URL that all reach, e.g. ``postgresql://user:password@host/optuna``.
A killed worker's study resumes when a worker is started again.
"""

from __future__ import annotations

import argparse
import json
import random

import numpy as np
import torch
from sklearn.pipeline import make_pipeline
from sklearn.utils import Bunch

from sklearn_bandgap.cli._errors import UsageError
from sklearn_bandgap.cli._missing import check_missing_targets
from sklearn_bandgap.cli._potential import refuse_rows_beyond_potential, require_potential
from sklearn_bandgap.datasets import MP_UNITS, load_mp_gap_eform, load_table
from sklearn_bandgap.exceptions import InvalidStructureError
from sklearn_bandgap.featurizers import NeighborListFeaturizer
from sklearn_bandgap.model_selection import formula_group_split
from sklearn_bandgap.models import NeighborLSTMRegressor
from sklearn_bandgap.tuning._tune import tune


def run(args: argparse.Namespace) -> int:
    """Carry out ``sklearn-bandgap tune`` (one worker)."""
    torch.set_num_threads(args.threads)
    if args.atom_features:
        require_potential(f"--atom-features {args.atom_features}")

    targets = args.target or ["band_gap"]
    if args.table is not None:
        try:
            data = load_table(
                args.table,
                target=targets,
                structure_column=args.structure_column,
                group_column=args.group_column,
                allow_missing=args.missing_targets == "ignore",
            )
        except ValueError as exc:  # missing columns, bad numbers, unreadable structures
            raise UsageError(str(exc)) from None
        structures, y, formulas = list(data.data), data.target, data.groups
    else:
        unknown = sorted(set(targets) - set(MP_UNITS))
        if unknown:
            raise UsageError(
                f"--target {unknown[0]}: the MP set has {sorted(MP_UNITS)}; for another "
                "column give your table: sklearn-bandgap tune TABLE --target COLUMN ..."
            )
        data = load_mp_gap_eform(subset=args.subset, target=targets, progress=False)
        assert isinstance(data, Bunch)
        structures, y, formulas = list(data.data), data.target, data.formula
    y = np.asarray(y, dtype=np.float64)
    check_missing_targets(y.reshape(len(y), -1), targets, args.missing_targets, False)
    if args.atom_features:  # named by their row in the whole table, before any work
        refuse_rows_beyond_potential(structures, f"--atom-features {args.atom_features}")
    keep = None  # the rows of --n's subset
    if args.n is not None and args.n < len(structures):
        keep = sorted(random.Random(0).sample(range(len(structures)), args.n))
        structures, y, formulas = [structures[i] for i in keep], y[keep], formulas[keep]
    train, _ = formula_group_split(formulas)  # the test part stays unseen
    gaps = [k for k, name in enumerate(targets) if name == "band_gap"]
    pipeline = make_pipeline(
        # featurized once, before the trials (the featurizer needs no fitting)
        NeighborListFeaturizer(atom_features=args.atom_features, n_jobs=args.n_jobs),
        NeighborLSTMRegressor(
            max_epochs=args.max_epochs,
            random_state=0,
            nonnegative=gaps if len(targets) > 1 else bool(gaps),
            output_column=0 if len(targets) > 1 else None,
            missing_targets=args.missing_targets,
        ),
    )
    try:
        result = tune(
            pipeline,
            [structures[i] for i in train],
            y[train],
            groups=formulas[train],
            n_trials=args.n_trials,
            timeout=args.timeout,
            storage=args.storage,
            study_name=args.study_name,
            refit=False,
        )
    except InvalidStructureError as exc:  # the training part's items, named by table row
        raise exc.renumbered(train if keep is None else np.asarray(keep)[train]) from exc
    summary = {
        "study": result.study.study_name,
        "best_trial": result.study.best_trial.number,
        "best_validation_mae": result.study.best_value,
        "best_params": result.best_params,
        "n_complete": result.n_complete,
        "n_pruned": result.n_pruned,
    }
    print(json.dumps(summary), flush=True)
    return 0
