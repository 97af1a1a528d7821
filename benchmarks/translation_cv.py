"""Out-of-fold translator figures on every NREL pair (grouped K-fold by formula).

``translation_nrel.py`` reports one split (formula groups, 10 % held out, seed
0). The set has only 179 formulas, so that test part is 18 formulas and its
figures move with the choice of them (``nrel_split_difficulty.py``: the identity
match rate of the test part spans 45-77 % over split seeds). Here every pair is
translated once by a translator that never saw its formula:
``GroupKFold(n_splits, shuffle=True, random_state=0)`` over reduced formulas;
each fold fits the identity, the isotropic-volume and the learned
``RelaxationTranslator`` (defaults, ``random_state=0``) on the other folds. The
``StructureMatcher(ltol=0.2, stol=0.3, angle_tol=5)`` match rate, volume error
and mean displacement are given over all pairs (pooled) and per fold. Default
settings only: nothing is selected here.

Writes ``benchmarks/results/translation_cv/default/record.json``.

Usage::

    python benchmarks/translation_cv.py --n-jobs 2            # 5 folds, ~25 min on 2 cores
    python benchmarks/translation_cv.py --n 1500 --folds 3 --translator-epochs 3  # a quick look
"""

from __future__ import annotations

import argparse
import random
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from _machine import cpu_model, write_record
from joblib import Parallel, delayed
from sklearn.model_selection import GroupKFold

from sklearn_bandgap.datasets import load_nrel_relaxation_pairs
from sklearn_bandgap.translation import (
    IdentityTranslator,
    IsotropicVolumeTranslator,
    RelaxationTranslator,
    agreement_summary,
    structure_agreement,
)

RESULTS = Path(__file__).parent / "results" / "translation_cv" / "default" / "record.json"


def translators(epochs):
    return {
        "identity": IdentityTranslator(),
        "isotropic_volume": IsotropicVolumeTranslator(handle_unknown="keep_volume"),
        "relaxation_translator": RelaxationTranslator(random_state=0, **epochs),
    }


def run_fold(fold, train, test, unrelaxed, relaxed, epochs, threads):
    """Fit every translator on ``train``; the agreement table of each on ``test``."""
    warnings.simplefilter("ignore")
    torch.set_num_threads(threads)
    U_train, R_train = [unrelaxed[i] for i in train], [relaxed[i] for i in train]
    U_test, R_test = [unrelaxed[i] for i in test], [relaxed[i] for i in test]
    tables, seconds = {}, {}
    for name, translator in translators(epochs).items():
        start = time.perf_counter()
        translator.fit(U_train, relaxed=R_train)
        seconds[name] = round(time.perf_counter() - start, 1)
        tables[name] = structure_agreement(translator.transform(U_test), R_test).set_index(
            pd.Index(test)
        )
    print(f"fold {fold} done: {len(test)} test pairs, fit seconds {seconds}", flush=True)
    return fold, tables, seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--n", type=int, default=None, help="seeded random subset of pairs")
    parser.add_argument(
        "--translator-epochs", type=int, default=None, help="default: the estimator's"
    )
    parser.add_argument("--n-jobs", type=int, default=1, help="folds in parallel")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per fold")
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    pairs = load_nrel_relaxation_pairs(progress=False)
    unrelaxed, relaxed, formulas = pairs.unrelaxed, pairs.relaxed, pairs.formula
    if args.n is not None:
        keep = sorted(random.Random(0).sample(range(len(unrelaxed)), args.n))
        unrelaxed = [unrelaxed[i] for i in keep]
        relaxed = [relaxed[i] for i in keep]
        formulas = formulas[keep]
    epochs = {} if args.translator_epochs is None else {"max_epochs": args.translator_epochs}
    folds = GroupKFold(n_splits=args.folds, shuffle=True, random_state=0)
    start = time.perf_counter()
    results = Parallel(n_jobs=args.n_jobs)(
        delayed(run_fold)(fold, train, test, unrelaxed, relaxed, epochs, args.threads)
        for fold, (train, test) in enumerate(folds.split(unrelaxed, groups=formulas))
    )
    seconds = time.perf_counter() - start
    names = list(translators(epochs))
    pooled = {name: pd.concat([r[1][name] for r in results]).sort_index() for name in names}
    record = {
        "benchmark": "translation_cv",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpu": cpu_model(), "cores": 2, "torch_threads": args.threads},
        "data": {
            "set": "nrel_relaxation_pairs",
            "pairs": len(unrelaxed),
            "formulas": len(set(formulas)),
            "subset": args.n,
        },
        "split": f"GroupKFold(n_splits={args.folds}, shuffle=True, random_state=0) over "
        "reduced formulas; every pair translated out of fold",
        "settings": {"translator": RelaxationTranslator(random_state=0, **epochs).get_params()},
        "seconds": round(seconds, 1),
        "n_jobs": args.n_jobs,
        "pooled": {name: agreement_summary(table) for name, table in pooled.items()},
        "per_fold": [
            {
                "fold": fold,
                "pairs": len(tables["identity"]),
                "fit_seconds": fit_seconds,
                **{name: agreement_summary(tables[name]) for name in names},
            }
            for fold, tables, fit_seconds in results
        ],
    }
    match = {
        name: np.array([row[name]["match_rate"] for row in record["per_fold"]]) for name in names
    }
    record["match_rate_over_folds"] = {
        name: {"mean": float(m.mean()), "min": float(m.min()), "max": float(m.max())}
        for name, m in match.items()
    }
    for name, figures in record["pooled"].items():
        print(
            f"{name}: match {100 * figures['match_rate']:.1f} % (folds "
            f"{100 * match[name].min():.1f}-{100 * match[name].max():.1f}), volume error "
            f"{figures['volume_error_mean_abs_pct']:.1f} %, displacement "
            f"{figures['mean_site_displacement_A']:.2f} A"
        )
    write_record(RESULTS, record)


if __name__ == "__main__":
    main()
