"""Translators on the NREL unrelaxed -> relaxed pairs: structures and energies.

The project's split: formula groups, 10 % of the formulas held out, seed 0, on
the pairs whose species lists agree site by site. On the training part:

- the translators (identity, isotropic rescaling to a learned volume, the
  learned ``RelaxationTranslator``) are fitted on (unrelaxed, relaxed) pairs;
- the energy model (``NeighborListFeaturizer`` + ``NeighborLSTMRegressor``,
  energy per atom) is trained once on the relaxed structures (R) and once on
  the unrelaxed ones (U). Early stopping uses validation splits inside the
  training part; the test part is used once, for the figures.

On the test part: the StructureMatcher(ltol=0.2, stol=0.3, angle_tol=5) match
rate against the DFT-relaxed structures, the volume error, the mean site
displacement and the translation speed of each translator; the energy MAE for
R->R, R->U, U->U and R->T(U) with each translator T. Writes
``benchmarks/results/translation_nrel.json`` and ``translation_nrel.png``.

Usage::

    python benchmarks/translation_nrel.py                  # full set
    python benchmarks/translation_nrel.py --n 1500 --max-epochs 5   # a quick look
"""

from __future__ import annotations

import argparse
import json
import random
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from _machine import cpu_model, write_record
from sklearn.pipeline import make_pipeline

from sklearn_bandgap.datasets import load_nrel_relaxation_pairs
from sklearn_bandgap.featurizers import NeighborListFeaturizer
from sklearn_bandgap.metrics import regression_report
from sklearn_bandgap.model_selection import formula_group_split
from sklearn_bandgap.models import NeighborLSTMRegressor
from sklearn_bandgap.translation import (
    IdentityTranslator,
    IsotropicVolumeTranslator,
    RelaxationTranslator,
    structure_agreement,
)

RESULTS = Path(__file__).parent / "results"


def energy_model(max_epochs):
    return make_pipeline(
        NeighborListFeaturizer(), NeighborLSTMRegressor(max_epochs=max_epochs, random_state=0)
    )


def agreement_figures(translated, relaxed):
    table = structure_agreement(translated, relaxed)
    return {
        "match_rate": float(table["match"].mean()),
        "volume_error_mean_abs_pct": float(100 * table["volume_error"].abs().mean()),
        "volume_error_median_abs_pct": float(100 * table["volume_error"].abs().median()),
        "mean_site_displacement_A": float(table["mean_displacement"].mean()),
    }


def plot(record, path):
    energy = record["energy_mae_eV_per_atom"]
    structures = record["structures"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    names = list(energy)
    left.barh(names, [energy[n] for n in names], color="tab:blue")
    for i, name in enumerate(names):
        left.text(energy[name], i, f" {energy[name]:.3f}", va="center")
    left.set_xlabel("energy per atom MAE on test (eV/atom)")
    left.invert_yaxis()
    translators = list(structures)
    x = np.arange(len(translators))
    right.bar(
        x - 0.2, [100 * structures[t]["match_rate"] for t in translators], 0.4, label="match %"
    )
    right.bar(
        x + 0.2,
        [structures[t]["volume_error_mean_abs_pct"] for t in translators],
        0.4,
        label="|volume error| %",
    )
    right.set_xticks(x, [t.replace("_", "\n") for t in translators])
    right.legend()
    right.set_title("against the DFT-relaxed structures (test)")
    fig.suptitle(f"NREL pairs, {record['split']}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=None, help="seeded random subset of pairs")
    parser.add_argument("--max-epochs", type=int, default=200, help="energy model epochs cap")
    parser.add_argument(
        "--translator-epochs", type=int, default=None, help="default: the estimator's"
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", default="translation_nrel")
    parser.add_argument(
        "--plot-only", action="store_true", help="redraw the PNG from the existing JSON"
    )
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    torch.set_num_threads(args.threads)
    if args.plot_only:
        record = json.loads((RESULTS / f"{args.output}.json").read_text())
        plot(record, RESULTS / f"{args.output}.png")
        return

    pairs = load_nrel_relaxation_pairs(progress=False)
    unrelaxed, relaxed, energy, formulas = (
        pairs.unrelaxed,
        pairs.relaxed,
        pairs.target,
        pairs.formula,
    )
    if args.n is not None:
        keep = sorted(random.Random(0).sample(range(len(unrelaxed)), args.n))
        unrelaxed = [unrelaxed[i] for i in keep]
        relaxed = [relaxed[i] for i in keep]
        energy, formulas = energy[keep], formulas[keep]
    train, test = formula_group_split(formulas)
    U_train, R_train = [unrelaxed[i] for i in train], [relaxed[i] for i in train]
    U_test, R_test = [unrelaxed[i] for i in test], [relaxed[i] for i in test]
    epochs = {} if args.translator_epochs is None else {"max_epochs": args.translator_epochs}
    record = {
        "benchmark": "translation_nrel",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpu": cpu_model(), "cores": 2, "torch_threads": args.threads},
        "data": {
            "set": "nrel_relaxation_pairs",
            "pairs": len(unrelaxed),
            "dropped_species_mismatch": pairs.n_dropped,
            "subset": args.n,
            "target": "energy_per_atom (eV/atom, total DFT energy of the relaxed structure)",
        },
        "split": f"formula groups 10 %, seed 0: {len(train)} train / {len(test)} test pairs",
        "settings": {
            "energy_model_max_epochs": args.max_epochs,
            "translator": RelaxationTranslator(random_state=0, **epochs).get_params(),
        },
    }
    translators = {
        "identity": IdentityTranslator(),
        "isotropic_volume": IsotropicVolumeTranslator(),
        "relaxation_translator": RelaxationTranslator(random_state=0, verbose=1, **epochs),
    }
    translated, structures, timing = {}, {}, {}
    for name, translator in translators.items():
        start = time.perf_counter()
        translator.fit(U_train, relaxed=R_train)
        fit_seconds = time.perf_counter() - start
        start = time.perf_counter()
        translated[name] = translator.transform(U_test)
        seconds = time.perf_counter() - start
        timing[name] = {
            "fit_s": round(fit_seconds, 1),
            "transform_structures_per_s": round(len(U_test) / seconds, 1),
        }
        structures[name] = agreement_figures(translated[name], R_test)
        print(name, timing[name], structures[name], flush=True)
    learned = translators["relaxation_translator"]
    record["translator_epochs"] = {
        "run": len(learned.net_.history),
        "best": int(np.argmin(learned.net_.history[:, "valid_loss"])) + 1,
    }
    record["structures"] = structures
    record["speed"] = timing

    y_train, y_test = energy[train], energy[test]
    mae = {}
    start = time.perf_counter()
    on_relaxed = energy_model(args.max_epochs).fit(R_train, y_train)
    mae["R->R"] = regression_report(y_test, on_relaxed.predict(R_test))["mae"]
    mae["R->U"] = regression_report(y_test, on_relaxed.predict(U_test))["mae"]
    for name in ("isotropic_volume", "relaxation_translator"):
        mae[f"R->T(U), T={name}"] = regression_report(y_test, on_relaxed.predict(translated[name]))[
            "mae"
        ]
    on_unrelaxed = energy_model(args.max_epochs).fit(U_train, y_train)
    mae["U->U"] = regression_report(y_test, on_unrelaxed.predict(U_test))["mae"]
    record["energy_model_seconds"] = round(time.perf_counter() - start, 1)
    record["energy_mae_eV_per_atom"] = mae
    best = mae["R->T(U), T=relaxation_translator"]
    record["ratios"] = {
        "R->T(U) / R->R": best / mae["R->R"],
        "R->T(U) / R->U": best / mae["R->U"],
        "R->T(U) / U->U": best / mae["U->U"],
    }
    write_record(RESULTS / f"{args.output}.json", record)
    plot(record, RESULTS / f"{args.output}.png")


if __name__ == "__main__":
    main()
