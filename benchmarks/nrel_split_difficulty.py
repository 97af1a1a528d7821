"""How hard is the project's NREL test split? The identity floor over split seeds.

The translation figures (``translation_nrel.py``) come from one split: formula
groups, 10 % held out, seed 0. The set has few formulas (179) with many pairs
each (one formula in many prototypes), so a 10 % hold-out is about 18 formulas
and the figures of one split depend on which ones. The selection pairs of ``translation_options.py``
(an inner split of its training part, seed 1) gave much higher figures than the
test pairs, for every translator, the identity included. This script measures
the identity translator (the unrelaxed structure as it is) against the
DFT-relaxed one on every pair once, then reports, for the test part of each
split seed, its ``StructureMatcher(ltol=0.2, stol=0.3, angle_tol=5)`` match rate
and mean |volume error|, so the project's split can be placed in the spread.
No model is fitted; nothing here selects anything.

Writes ``benchmarks/results/nrel_split_difficulty/default/record.json``.

Usage::

    python benchmarks/nrel_split_difficulty.py              # seeds 0-19
    python benchmarks/nrel_split_difficulty.py --seeds 50
"""

from __future__ import annotations

import argparse
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from _machine import cpu_model, write_record

from sklearn_bandgap.datasets import load_nrel_relaxation_pairs
from sklearn_bandgap.model_selection import formula_group_split
from sklearn_bandgap.translation import agreement_summary, structure_agreement

RESULTS = Path(__file__).parent / "results" / "nrel_split_difficulty" / "default" / "record.json"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20, help="split seeds 0 .. N-1")
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    pairs = load_nrel_relaxation_pairs(progress=False)
    start = time.perf_counter()
    table = structure_agreement(pairs.unrelaxed, pairs.relaxed)
    seconds = time.perf_counter() - start
    print(f"identity agreement on {len(table)} pairs in {seconds:.0f} s", flush=True)

    sizes = np.unique(pairs.formula, return_counts=True)[1]
    per_seed = []
    for seed in range(args.seeds):
        _, test = formula_group_split(pairs.formula, random_state=seed)
        per_seed.append({"seed": seed, "pairs": len(test), **agreement_summary(table.iloc[test])})
    train, test = formula_group_split(pairs.formula)
    _, inner_selection = formula_group_split(pairs.formula[train], random_state=1)
    selection = train[inner_selection]
    match = np.array([row["match_rate"] for row in per_seed])
    volume = np.array([row["volume_error_mean_abs_pct"] for row in per_seed])
    record = {
        "benchmark": "nrel_split_difficulty",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpu": cpu_model(), "cores": 2},
        "data": {
            "set": "nrel_relaxation_pairs",
            "pairs": len(table),
            "formulas": len(sizes),
            "pairs_per_formula": {
                "median": float(np.median(sizes)),
                "min": int(sizes.min()),
                "max": int(sizes.max()),
            },
        },
        "translator": "identity (unrelaxed structure as it is)",
        "all_pairs": agreement_summary(table),
        "agreement_seconds": round(seconds, 1),
        "test_part_per_split_seed": per_seed,
        "test_match_rate_over_seeds": {
            "mean": float(match.mean()),
            "std": float(match.std(ddof=1)),
            "min": float(match.min()),
            "max": float(match.max()),
            "seed_0_rank_from_hardest": int(np.argsort(np.argsort(match))[0]) + 1,
        },
        "test_volume_error_over_seeds": {
            "mean": float(volume.mean()),
            "std": float(volume.std(ddof=1)),
        },
        "selection_pairs_of_translation_options": {
            "split": "inner formula-group split (seed 1) of the seed-0 training part",
            "pairs": len(selection),
            **agreement_summary(table.iloc[selection]),
        },
    }
    for row in per_seed:
        print(
            f"seed {row['seed']:2d}: {row['pairs']} test pairs, identity match "
            f"{100 * row['match_rate']:.1f} %, volume error "
            f"{row['volume_error_mean_abs_pct']:.1f} %"
        )
    selection_match = record["selection_pairs_of_translation_options"]["match_rate"]
    print(
        f"match over seeds: {100 * match.mean():.1f} +- {100 * match.std(ddof=1):.1f} %; "
        f"selection pairs {100 * selection_match:.1f} %"
    )
    write_record(RESULTS, record)


if __name__ == "__main__":
    main()
