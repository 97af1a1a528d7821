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
R->R, R->U, U->U and R->T(U) with each translator T.

CHGNet relaxations (``PotentialRelaxer``, its default settings) take seconds per
structure, so they run on a seeded random subset of the test pairs
(``--potential-pairs``, seed 0), once from the unrelaxed structures and once from
the learned translator's output; on that subset every translator's structure and
energy figures are given again, with the optimizer steps each start needs;
``--fix-symmetry`` adds both relaxations with ``PotentialRelaxer(fix_symmetry=True)``
(the space group of the start kept, as VASP keeps it).
Writes ``benchmarks/results/translation_nrel/<run>/record.json`` and ``agreement.png``.

Usage::

    python benchmarks/translation_nrel.py                  # full set
    python benchmarks/translation_nrel.py --n 1500 --max-epochs 5 --potential-pairs 20 \\
        --run quick                                         # a quick look
    python benchmarks/translation_nrel.py --translator-seeds 0 1 2 --n-jobs 2 \\
        --potential-pairs 0 --run ensemble
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
from sklearn.base import clone
from sklearn.pipeline import make_pipeline

from sklearn_bandgap.datasets import load_nrel_relaxation_pairs
from sklearn_bandgap.featurizers import NeighborListFeaturizer
from sklearn_bandgap.metrics import regression_report
from sklearn_bandgap.model_selection import formula_group_split
from sklearn_bandgap.models import NeighborLSTMRegressor
from sklearn_bandgap.translation import (
    IdentityTranslator,
    IsotropicVolumeTranslator,
    PotentialRelaxer,
    RelaxationError,
    RelaxationTranslator,
    SeedEnsembleTranslator,
    agreement_summary,
    structure_agreement,
)

RESULTS = Path(__file__).parent / "results"


def energy_model(max_epochs):
    return make_pipeline(
        NeighborListFeaturizer(), NeighborLSTMRegressor(max_epochs=max_epochs, random_state=0)
    )


def agreement_figures(translated, relaxed):
    return agreement_summary(structure_agreement(translated, relaxed))


def relax_with_potential(relaxer, starts):
    """CHGNet relaxations of ``starts``; a failed one keeps its start and is counted."""
    try:
        relaxed, report = relaxer.relax(starts)
    except RelaxationError as error:
        assert error.structures is not None and error.report is not None
        relaxed = [
            s if s is not None else start for s, start in zip(error.structures, starts, strict=True)
        ]
        report = error.report.assign(failed=False)
        report.loc[error.indices, "failed"] = True
        return relaxed, report
    return relaxed, report.assign(failed=False)


def potential_figures(args, translated, U_test, R_test):
    """Figures on a seeded subset of the test pairs, CHGNet relaxations included."""
    count = min(args.potential_pairs, len(U_test))
    subset = sorted(random.Random(0).sample(range(len(U_test)), count))
    free = PotentialRelaxer(n_jobs=args.n_jobs).fit([U_test[i] for i in subset])
    starts = {
        "potential_relaxer": (free, [U_test[i] for i in subset]),
        "translator_then_potential": (
            free,
            [translated["relaxation_translator"][i] for i in subset],
        ),
    }
    if args.fix_symmetry:
        symmetric = clone(free).set_params(fix_symmetry=True).fit([U_test[i] for i in subset])
        starts["symmetric_potential_relaxer"] = (symmetric, starts["potential_relaxer"][1])
        starts["translator_then_symmetric_potential"] = (
            symmetric,
            starts["translator_then_potential"][1],
        )
    R_subset = [R_test[i] for i in subset]
    out = {
        "pairs": count,
        "subset": "random.Random(0).sample of the test pairs",
        "settings": free.get_params(),
        "structures": {
            name: agreement_figures([structures[i] for i in subset], R_subset)
            for name, structures in translated.items()
        },
        "relaxations": {},
    }
    relaxed_structures = {}
    for name, (relaxer, start) in starts.items():
        begin = time.perf_counter()
        relaxed_structures[name], report = relax_with_potential(relaxer, start)
        seconds = time.perf_counter() - begin
        out["structures"][name] = agreement_figures(relaxed_structures[name], R_subset)
        out["relaxations"][name] = {
            "steps_mean": float(report["n_steps"].mean()),
            "steps_median": float(report["n_steps"].median()),
            "not_converged": int((~report["converged"] & ~report["failed"]).sum()),
            "failed": int(report["failed"].sum()),
            "seconds_per_structure": round(seconds / count, 2),
            "n_jobs": args.n_jobs,
        }
        print(name, out["relaxations"][name], out["structures"][name], flush=True)
    from_u = out["relaxations"]["potential_relaxer"]["steps_mean"]
    from_t = out["relaxations"]["translator_then_potential"]["steps_mean"]
    out["steps_saved_by_translator_pct"] = 100 * (1 - from_t / from_u)
    return subset, relaxed_structures, out


def plot(record, path):
    energy = record["energy_mae_eV_per_atom"]
    structures = record["structures"]
    potential = record.get("potential")
    fig, axes = plt.subplots(1, 3 if potential else 2, figsize=(17 if potential else 11, 4))
    left, right = axes[0], axes[1]
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
    if potential:
        names = list(potential["structures"])
        x = np.arange(len(names))
        axes[2].bar(
            x - 0.2,
            [100 * potential["structures"][n]["match_rate"] for n in names],
            0.4,
            label="match %",
        )
        axes[2].bar(
            x + 0.2,
            [1000 * potential["energy_mae_eV_per_atom"][f"R->T(U), T={n}"] for n in names],
            0.4,
            label="R->T(U) energy MAE (meV/atom)",
        )
        axes[2].set_xticks(x, [n.replace("_", "\n") for n in names], fontsize=8)
        axes[2].legend(fontsize=8)
        test_pairs = int(record["split"].split(" / ")[1].split()[0])
        which = "all" if potential["pairs"] == test_pairs else "random"
        axes[2].set_title(f"{which} {potential['pairs']} test pairs, CHGNet included")
    seeds = record["settings"].get("translator_seeds")
    learned = f"; relaxation_translator: seed ensemble {seeds}" if seeds else ""
    fig.suptitle(f"NREL pairs, {record['split']}{learned}")
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
    parser.add_argument(
        "--potential-pairs", type=int, default=300, help="test pairs relaxed by CHGNet (0: none)"
    )
    parser.add_argument("--n-jobs", type=int, default=1, help="processes for CHGNet")
    parser.add_argument(
        "--translator-seeds",
        type=int,
        nargs="+",
        default=None,
        help="a SeedEnsembleTranslator of these seeds (trained with --n-jobs processes)",
    )
    parser.add_argument(
        "--fix-symmetry",
        action="store_true",
        help="also relax both starts with PotentialRelaxer(fix_symmetry=True)",
    )
    parser.add_argument("--run", default="default", help="run folder name")
    parser.add_argument(
        "--plot-only", action="store_true", help="redraw the PNG from the existing JSON"
    )
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    torch.set_num_threads(args.threads)
    if args.plot_only:
        record = json.loads((RESULTS / "translation_nrel" / args.run / "record.json").read_text())
        plot(record, RESULTS / "translation_nrel" / args.run / "agreement.png")
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
        # structures with elements unseen in fit (possible in an --n subset) keep their volume
        "isotropic_volume": IsotropicVolumeTranslator(handle_unknown="keep_volume"),
        "relaxation_translator": RelaxationTranslator(random_state=0, verbose=1, **epochs),
    }
    if args.translator_seeds:
        translators["relaxation_translator"] = SeedEnsembleTranslator(
            RelaxationTranslator(**epochs), random_states=args.translator_seeds, n_jobs=args.n_jobs
        )
        record["settings"]["translator_seeds"] = args.translator_seeds
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
    volumes = translators["isotropic_volume"].element_volumes_
    record["data"]["test_structures_with_elements_unseen_in_fit"] = sum(
        not {el.symbol for el in u.composition}.issubset(volumes) for u in U_test
    )
    learned = translators["relaxation_translator"]
    nets = [m.net_ for m in getattr(learned, "estimators_", [learned])]
    record["translator_epochs"] = {
        "run": [len(net.history) for net in nets],
        "best": [int(np.argmin(net.history[:, "valid_loss"])) + 1 for net in nets],
    }
    record["structures"] = structures
    record["speed"] = timing
    if args.potential_pairs:
        subset, relaxed_by_potential, record["potential"] = potential_figures(
            args, translated, U_test, R_test
        )

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
    if args.potential_pairs:
        y_subset = y_test[subset]
        on_subset = {
            "R->R": on_relaxed.predict([R_test[i] for i in subset]),
            "R->U": on_relaxed.predict([U_test[i] for i in subset]),
            "U->U": on_unrelaxed.predict([U_test[i] for i in subset]),
        }
        for name, structures in {**translated, **relaxed_by_potential}.items():
            chosen = structures if name in relaxed_by_potential else [structures[i] for i in subset]
            on_subset[f"R->T(U), T={name}"] = on_relaxed.predict(chosen)
        subset_mae = {
            name: regression_report(y_subset, pred)["mae"] for name, pred in on_subset.items()
        }
        record["potential"]["energy_mae_eV_per_atom"] = subset_mae
        record["potential"]["ratios_to_R->R"] = {
            name: value / subset_mae["R->R"]
            for name, value in subset_mae.items()
            if name.startswith("R->T(U)")
        }
    record["energy_mae_eV_per_atom"] = mae
    best = mae["R->T(U), T=relaxation_translator"]
    record["ratios"] = {
        "R->T(U) / R->R": best / mae["R->R"],
        "R->T(U) / R->U": best / mae["R->U"],
        "R->T(U) / U->U": best / mae["U->U"],
    }
    write_record(RESULTS / "translation_nrel" / args.run / "record.json", record)
    plot(record, RESULTS / "translation_nrel" / args.run / "agreement.png")


if __name__ == "__main__":
    main()
