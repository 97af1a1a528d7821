"""``sklearn-bandgap demo``: the main job with the shipped models, in a few minutes.

1. Loads the shipped band-gap and formation-energy models (fitted pipelines
   read from ``.safetensors``, no training).
2. Predicts the shipped example crystals (Si, GaAs, NaCl, MgO, Cu, TiO2, ZnO).
3. Measures both models on the project's test split of the Materials Project
   set (reduced formulas held out by GroupShuffleSplit, 10 %, seed 0): the
   shipped models were trained on the other 90 % only, so these are honest
   figures, and they must equal the ones on the models' cards.
4. Their uncertainty on the same split: how well the members' spread ranks the
   errors (Spearman), and split-conformal intervals conformalized on half of
   the test formulas and measured on the other half.
5. Writes a parity plot and the figures (JSON) to ``--output-dir``.

Training from scratch is ``sklearn-bandgap train`` (about 30 minutes on 2
cores for one model; ``--seeds 0 1 2`` for the shipped setting).
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path
from typing import Any

from sklearn_bandgap.datasets import MP_UNITS as UNITS
from sklearn_bandgap.metrics import headline_figures

EXAMPLES = Path(__file__).resolve().parents[1] / "pretrained" / "examples"
MODELS = {"band_gap": "band_gap_mp2018", "formation_energy_per_atom": "formation_energy_mp2018"}


def _headline(report: dict[str, Any]) -> float:
    return float(headline_figures(report)["mae"])


def _uncertainty(
    model: Any, X: Any, y: Any, y_pred: Any, y_std: Any, formulas: Any, gap: bool
) -> dict[str, Any]:
    """Spread-error rank correlation and split-conformal coverage on half the test formulas."""
    import numpy as np
    from mapie.metrics.regression import regression_coverage_score
    from scipy.stats import spearmanr
    from sklearn.model_selection import GroupShuffleSplit

    from sklearn_bandgap.models import ConformalRegressor
    from sklearn_bandgap.utils import take

    calibrate, measure = next(
        GroupShuffleSplit(n_splits=1, test_size=0.5, random_state=0).split(y, y, formulas)
    )
    conformal = ConformalRegressor(
        model, confidence_level=(0.68, 0.9), lower_bound=0.0 if gap else None, prefit=True
    ).fit(take(X, calibrate), y[calibrate])
    _, intervals = conformal.predict_interval(take(X, measure))
    return {
        "spearman_spread_vs_abs_error": float(spearmanr(y_std, np.abs(y_pred - y))[0]),
        "conformal": {
            "levels": [0.68, 0.9],
            "half_widths": conformal.half_widths_.round(4).tolist(),
            "coverage": regression_coverage_score(y[measure], intervals).round(4).tolist(),
            "n_conformalize": len(calibrate),
            "n_measured": len(measure),
            "split": "test formulas halved by GroupShuffleSplit, seed 0",
        },
    }


def run(args: argparse.Namespace) -> int:
    """Carry out ``sklearn-bandgap demo``."""
    from sklearn.utils import Bunch

    from sklearn_bandgap.datasets import load_mp_gap_eform
    from sklearn_bandgap.experiments import plot_parity_panels
    from sklearn_bandgap.metrics import band_gap_report, regression_report
    from sklearn_bandgap.model_selection import formula_group_split
    from sklearn_bandgap.pretrained import load_pretrained, model_card
    from sklearn_bandgap.utils._structure_files import read_structure_file

    start = time.perf_counter()
    models = {target: load_pretrained(name) for target, name in MODELS.items()}
    cards = {target: model_card(name) for target, name in MODELS.items()}
    print(
        f"Loaded the shipped models {', '.join(MODELS.values())} in "
        f"{time.perf_counter() - start:.1f} s (no training)."
    )

    print("\nLoading the Materials Project set for the test split...", flush=True)
    data = load_mp_gap_eform(target=list(MODELS), n_jobs=-1, progress=False)
    assert isinstance(data, Bunch)
    train, test = formula_group_split(data.formula)
    seen = set(data.formula[train])

    files = sorted(p for p in EXAMPLES.iterdir() if p.suffix in (".cif", ".vasp"))
    structures = [read_structure_file(p) for p in files]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        example_predictions = {t: m.predict(structures, return_std=True) for t, m in models.items()}
    print(f"\nShipped example crystals ({EXAMPLES}):")
    print(
        f"  {'file':22s} {'formula':8s} {'band gap ± spread':>18s} {'E_form':>12s}  "
        "formula in training"
    )
    examples = []
    for k, (path, structure) in enumerate(zip(files, structures, strict=True)):
        formula = structure.composition.reduced_formula
        gap, gap_std = (float(v[k]) for v in example_predictions["band_gap"])
        eform = float(example_predictions["formation_energy_per_atom"][0][k])
        print(
            f"  {path.name:22s} {formula:8s} {gap:6.2f} ± {gap_std:4.2f} eV   "
            f"{eform:7.3f} eV/atom  {'yes' if formula in seen else 'no'}"
        )
        examples.append(
            {
                "file": path.name,
                "formula": formula,
                "band_gap": gap,
                "band_gap_std": gap_std,
                "e_form": eform,
            }
        )

    test_structures = [data.data[i] for i in test]
    figures: dict[str, Any] = {}
    panels = []
    t0 = time.perf_counter()
    featurizers = [model[0] for model in models.values()]
    same = all(f.get_params() == featurizers[0].get_params() for f in featurizers)
    lists = featurizers[0].transform(test_structures) if same else None  # once for both
    for column, (target, model) in enumerate(models.items()):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tail, X = (model[1:], lists) if same else (model, test_structures)
            y_pred, y_std = tail.predict(X, return_std=True)
            y_true = data.target[test, column]
            uncertainty = _uncertainty(
                tail, X, y_true, y_pred, y_std, data.formula[test], gap=target == "band_gap"
            )
        report = (band_gap_report if target == "band_gap" else regression_report)(y_true, y_pred)
        figures[target] = {
            "test": report,
            "card": cards[target]["test"],
            "uncertainty": uncertainty,
        }
        title = f"{MODELS[target]}, test split\nMAE {_headline(report):.3f}"
        panels.append((title, y_true, y_pred, UNITS[target]))
    predict_s = time.perf_counter() - t0

    print(
        f"\nTest split: {len(test)} structures whose reduced formulas the models never saw "
        f"(GroupShuffleSplit on formulas, 10 %, seed 0; {len(train)} for training)."
    )
    gap = figures["band_gap"]["test"]
    print(
        f"Band gap: MAE {gap['all']['mae']:.3f} eV (gap > 0: {gap['gap_positive']['mae']:.3f} eV), "
        f"R² {gap['all']['r2']:.3f}, metal/non-metal ROC-AUC {gap['roc_auc']:.3f}"
    )
    eform = figures["formation_energy_per_atom"]["test"]
    print(f"Formation energy: MAE {eform['mae']:.3f} eV/atom, R² {eform['r2']:.3f}")
    for target in MODELS:
        mae, card_mae = _headline(figures[target]["test"]), _headline(figures[target]["card"])
        status = "as on its card" if abs(mae - card_mae) < 5e-4 else f"card says {card_mae:.4f}"
        print(f"  {MODELS[target]}: {mae:.4f} {UNITS[target]}, {status}")
    print("Uncertainty (the members' spread, and split-conformal intervals measured on half")
    print("of the test formulas after conformalizing on the other half):")
    for target in MODELS:
        u = figures[target]["uncertainty"]
        c = u["conformal"]
        widths, covered = c["half_widths"], c["coverage"]
        print(
            f"  {MODELS[target]}: spread-error Spearman {u['spearman_spread_vs_abs_error']:.2f}; "
            f"90 % interval ± {widths[1]:.3g} {UNITS[target]} covers {covered[1]:.1%}, "
            f"68 % ± {widths[0]:.3g} covers {covered[0]:.1%}"
        )
    print(
        f"Predicted {2 * len(test)} structure-model pairs with their uncertainty in "
        f"{predict_s:.1f} s; "
        f"wall time {time.perf_counter() - start:.0f} s."
    )
    args.output_dir.mkdir(parents=True, exist_ok=True)
    plot_parity_panels(panels, args.output_dir / "demo_parity.png")
    summary = {
        "models": MODELS,
        "examples": examples,
        "split": {"n_train": len(train), "n_test": len(test), "seed": 0, "test_size": 0.1},
        "figures": figures,
        "wall_seconds": round(time.perf_counter() - start, 1),
    }
    (args.output_dir / "demo.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"Wrote {args.output_dir / 'demo_parity.png'} and {args.output_dir / 'demo.json'}.")
    print(
        "\nYour own crystals: sklearn-bandgap predict my.cif POSCAR folder/ --formation-energy\n"
        "Train from scratch: sklearn-bandgap train (add --fast for a first result in minutes)."
    )
    return 0
