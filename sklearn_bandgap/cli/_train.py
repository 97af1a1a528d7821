"""``sklearn-bandgap train``: train the band-gap model on the MP set and measure it.

Trains ``NeighborListFeaturizer`` + ``NeighborLSTMRegressor`` on the project's
seeded 90/10 formula-group split of the Materials Project set and reports test
MAE, RMSE and R² (all structures and gap > 0), the metal/non-metal ROC-AUC of
the predicted gap, and the wall time; writes a parity plot (PNG) and the
figures (JSON); ``--save`` keeps the model as a ``.safetensors`` file.

The model learns the formation energy beside the band gap (multi-task, one
network with two outputs): on a selection split inside the training part this
was better for the band gap than training on it alone (0.360 against 0.382 eV,
``benchmarks/results/architecture_options.json``); its formation-energy test
figures are printed too. ``--band-gap-only`` trains on the band gap alone.
``--seeds 0 1 2`` trains one model per seed and reports their mean
(:class:`~sklearn_bandgap.models.SeedEnsembleRegressor`), the setting of the
shipped band-gap model, at one training per seed.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path
from typing import Any, Literal

from sklearn.utils import Bunch

from sklearn_bandgap.cli import FAST_EPOCHS, FAST_SUBSET
from sklearn_bandgap.datasets import load_mp_gap_eform
from sklearn_bandgap.experiments import train_and_evaluate

#: Rows of the full MP file (``--fast`` draws its subset among them).
MP_FULL_ROWS = 33144


def train_job(
    *,
    subset: Literal["full", "sample200"],
    fast: bool,
    max_epochs: int,
    n_jobs: int | None,
    output_dir: Path,
    band_gap_only: bool = False,
    seeds: list[int] | None = None,
    save: Path | None = None,
) -> dict[str, Any]:
    """Train and evaluate the band-gap model; print and return the figures."""
    start = time.perf_counter()
    auxiliary = [] if band_gap_only else ["formation_energy_per_atom"]
    columns = ["band_gap", *auxiliary]
    rows = None
    if fast and subset == "full":
        # only the subset's CIFs are parsed, never the whole set
        rows = sorted(random.Random(0).sample(range(MP_FULL_ROWS), FAST_SUBSET))
    data = load_mp_gap_eform(subset=subset, n_jobs=n_jobs, target=columns, rows=rows)
    assert isinstance(data, Bunch)
    structures, y, formulas = data.data, data.target, data.formula
    print(
        f"Loaded {len(structures)} Materials Project structures in "
        f"{time.perf_counter() - start:.1f} s"
        + (f" (--fast: a seeded random subset of {FAST_SUBSET})." if rows else ".")
    )
    epochs = FAST_EPOCHS if fast else max_epochs
    what = (
        "NeighborLSTMRegressor"
        if seeds is None
        else f"{len(seeds)} NeighborLSTMRegressors (seeds {', '.join(map(str, seeds))}; "
        "their mean predicts)"
    )
    print(
        f"Training {what} for up to {epochs} epochs on the band gap"
        + (" and the formation energy" if auxiliary else "")
        + " (early stopping on a composition-grouped validation split)..."
    )
    result, _ = train_and_evaluate(
        structures,
        y if auxiliary else y[:, 0],
        formulas,
        target="band_gap",
        auxiliary_targets=auxiliary,
        model_params={"max_epochs": epochs, "verbose": 1},
        random_states=seeds,
        plot_path=output_dir / "parity_band_gap.png",
        save_path=save,
    )
    result["wall_seconds"] = round(time.perf_counter() - start, 1)
    result["fast"] = fast
    test, split = result["test"], result["split"]
    print(
        f"\nTest split: {split['n_test']} structures whose reduced formulas are not in "
        f"training ({split['n_train']}), GroupShuffleSplit seed {split['seed']}."
    )
    print(
        f"Band gap, all structures: MAE {test['all']['mae']:.3f} eV, "
        f"RMSE {test['all']['rmse']:.3f} eV, R² {test['all']['r2']:.3f}"
    )
    if "gap_positive" in test:
        gp = test["gap_positive"]
        print(
            f"Band gap, gap > 0 ({gp['n']}): MAE {gp['mae']:.3f} eV, "
            f"RMSE {gp['rmse']:.3f} eV, R² {gp['r2']:.3f}"
        )
    if "roc_auc" in test:
        print(f"Metal / non-metal ROC-AUC of the predicted gap: {test['roc_auc']:.3f}")
    if "spread" in result:
        print(
            f"Members' spread (band gap): mean {result['spread']['mean']:.3f} eV, Spearman "
            f"correlation with the absolute error {result['spread']['spearman_vs_abs_error']:.2f}"
        )
    for name, figures in result["auxiliary_test"].items():
        print(
            f"{name} (trained in the same model): MAE {figures['mae']:.3f}, "
            f"RMSE {figures['rmse']:.3f}, R² {figures['r2']:.3f}"
        )
    print(
        f"{result['epochs']} epochs"
        + (f" over {len(seeds)} models" if seeds is not None else "")
        + f", {result['seconds']['per_epoch_mean']:.1f} s each; "
        f"wall time {result['wall_seconds']:.0f} s."
    )
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "main_job.json").write_text(json.dumps(result, indent=2, default=float) + "\n")
    print(f"Wrote {output_dir / 'main_job.json'} and {output_dir / 'parity_band_gap.png'}")
    if save is not None:
        print(f"Saved the model to {save} (sklearn-bandgap predict --model {save} ...)")
    return result


def run(args: argparse.Namespace) -> int:
    """Carry out ``sklearn-bandgap train``."""
    train_job(
        subset=args.subset,
        fast=args.fast,
        max_epochs=args.max_epochs,
        n_jobs=args.n_jobs,
        output_dir=args.output_dir,
        band_gap_only=args.band_gap_only,
        seeds=args.seeds,
        save=args.save,
    )
    return 0
