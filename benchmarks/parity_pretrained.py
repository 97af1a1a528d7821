"""The parity plot of each shipped model on the project's test split, for its model card.

Predicts the 3,333 test crystals (GroupShuffleSplit on reduced formulas, 10 %,
seed 0) with each shipped model as loaded by ``load_pretrained``, writes
``sklearn_bandgap/pretrained/models/<name>_parity.png`` (shown by
``sklearn-bandgap serve`` with the card) and a record with the test MAE, which
must equal the card's.

Writes ``benchmarks/results/parity_pretrained/<run>/record.json``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _machine import run_dir, write_record

from sklearn_bandgap.datasets import load_mp_gap_eform
from sklearn_bandgap.experiments import plot_parity
from sklearn_bandgap.metrics import headline_figures, regression_report
from sklearn_bandgap.model_selection import formula_group_split
from sklearn_bandgap.pretrained import list_pretrained, load_pretrained, model_card
from sklearn_bandgap.pretrained._registry import MODELS_DIR


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default=None, help="name of the record's run folder")
    args = parser.parse_args()
    data = load_mp_gap_eform(
        target=["band_gap", "formation_energy_per_atom"], n_jobs=2, progress=False
    )
    _, test = formula_group_split(data.formula)
    structures = [data.data[i] for i in test]
    record: dict = {
        "benchmark": "parity_pretrained",
        "split": {"kind": "GroupShuffleSplit on reduced formulas", "test_size": 0.1, "seed": 0},
        "n_test": len(test),
        "models": {},
    }
    for name in list_pretrained():
        card = model_card(name)
        output = card["outputs"][0]
        column = ["band_gap", "formation_energy_per_atom"].index(output["name"])
        start = time.perf_counter()
        y_pred = np.asarray(load_pretrained(name).predict(structures)).reshape(len(test), -1)[:, 0]
        seconds = time.perf_counter() - start
        y_true = data.target[test, column]
        figures = regression_report(y_true, y_pred)
        path = MODELS_DIR / f"{name}_parity.png"
        plot_parity(
            y_true,
            y_pred,
            title=f"{name}: {len(test)} test crystals of unseen formulas\n"
            f"MAE {figures['mae']:.3f} {output['unit']}",
            unit=output["unit"],
            path=path,
        )
        card_mae = headline_figures(card["test"])["mae"]
        record["models"][name] = {
            "test": figures,
            "card_mae": card_mae,
            "equals_card": bool(abs(figures["mae"] - card_mae) < 1e-6),
            "predict_seconds": round(seconds, 1),
            "png": path.name,
            "png_bytes": path.stat().st_size,
        }
        print(name, record["models"][name])
    write_record(run_dir("parity_pretrained", args.run) / "record.json", record)


if __name__ == "__main__":
    main()
