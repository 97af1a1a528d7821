"""The main job: ``python -m sklearn_bandgap`` (or the ``sklearn-bandgap`` command).

For now it loads the Materials Project set, makes the project's formula-group
split and featurizes every structure into neighbour lists, printing what it
measured. It grows into training once the regressor exists.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
from sklearn.utils import Bunch

from sklearn_bandgap.datasets import load_mp_gap_eform
from sklearn_bandgap.featurizers import NeighborListFeaturizer
from sklearn_bandgap.model_selection import (
    SPLIT_RANDOM_STATE,
    SPLIT_TEST_SIZE,
    formula_group_split,
)


def featurize_job(
    subset: Literal["full", "sample200"], n_jobs: int | None, output: Path | None
) -> dict[str, Any]:
    """Load, split and featurize the MP set; print and return the figures measured."""
    start = time.perf_counter()
    data = load_mp_gap_eform(
        subset=subset, target=["band_gap", "formation_energy_per_atom"], n_jobs=n_jobs
    )
    assert isinstance(data, Bunch)
    load_s = time.perf_counter() - start
    n = len(data.data)
    print(f"Loaded {n} Materials Project structures in {load_s:.1f} s (subset={subset!r}).")

    train, test = formula_group_split(data.formula)
    print(
        f"Formula-group split (test_size={SPLIT_TEST_SIZE}, seed={SPLIT_RANDOM_STATE}): "
        f"{len(train)} train / {len(test)} test structures, "
        f"{len(set(data.formula))} distinct reduced formulas, none on both sides."
    )

    # Structures in memory featurize fastest in one process (see n_jobs in its docs).
    featurizer = NeighborListFeaturizer(verbose=1)
    start = time.perf_counter()
    lists = featurizer.transform(data.data)
    featurize_s = time.perf_counter() - start
    nearest = lists.distances[:, 1]
    twentieth = lists.distances[:, -1]
    print(
        f"Featurized {n} structures ({lists.n_total_atoms} atoms, "
        f"{lists.n_neighbors} neighbours each) in {featurize_s:.1f} s: "
        f"{n / featurize_s:,.0f} structures/s on one core; "
        f"{lists.nbytes / 1e6:.0f} MB of neighbour lists."
    )
    print(
        f"Nearest-neighbour distance: median {np.median(nearest):.2f} Å "
        f"(min {nearest.min():.2f}, max {nearest.max():.2f}); "
        f"distance to the {lists.n_neighbors}th neighbour: median {np.median(twentieth):.2f} Å "
        f"(max {twentieth.max():.2f})."
    )
    gap = data.target[:, 0]
    print(
        f"Targets: band gap mean {gap.mean():.2f} eV, {100 * (gap == 0).mean():.0f} % metals; "
        f"formation energy mean {data.target[:, 1].mean():.2f} eV/atom."
    )
    summary = {
        "subset": subset,
        "n_structures": n,
        "n_atoms": lists.n_total_atoms,
        "load_seconds": round(load_s, 2),
        "featurize_seconds": round(featurize_s, 2),
        "structures_per_second": round(n / featurize_s, 1),
        "split": {"train": len(train), "test": len(test), "seed": SPLIT_RANDOM_STATE},
        "median_nearest_neighbor_distance": round(float(np.median(nearest)), 4),
    }
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(summary, indent=2) + "\n")
        print(f"Wrote {output}")
    return summary


def main(argv: list[str] | None = None) -> int:
    """Run the main job from the command line."""
    parser = argparse.ArgumentParser(prog="sklearn-bandgap", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--subset",
        choices=["full", "sample200"],
        default="full",
        help="the 33k-structure MP set (default) or its 200-row sample",
    )
    parser.add_argument(
        "--n-jobs",
        type=int,
        default=-1,
        help="processes for parsing the CIFs on the first run (default: all cores)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=Path("results/main_job.json"),
        help="where to write the figures (JSON)",
    )
    args = parser.parse_args(argv)
    featurize_job(args.subset, args.n_jobs, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
