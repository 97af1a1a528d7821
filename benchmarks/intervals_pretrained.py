"""Uncertainty of the shipped models on the test split: members' spread and conformal intervals.

The shipped ``band_gap_mp2018`` and ``formation_energy_mp2018`` are seed
ensembles trained on the project's training part (formula groups, 90 %, seed
0), so the test split (3,333 structures of unseen formulas) is the only data
they never saw. On it:

- the members' spread (``predict(X, return_std=True)``) against the absolute
  error of the ensemble mean: Spearman rank correlation;
- split-conformal intervals around each shipped model
  (``ConformalRegressor(prefit=True)``, MAPIE's absolute-residual score): the
  test formulas are halved (GroupShuffleSplit, seed 0); conformalized on one
  half and measured on the other, then the other way round. Coverage and
  width at each level, over all crystals and the gapped ones; for the band gap
  also with ``separate_at=0.1`` (crystals predicted at most 0.1 eV, nearly all
  metals, conformalized apart from the rest).

Writes ``benchmarks/results/intervals_pretrained/<run>/record.json``,
``spread_vs_error.png`` and ``reliability.png``.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from importlib.metadata import version
from typing import Any

import numpy as np
from _machine import cpu_model, run_dir, write_record
from mapie.metrics.regression import regression_coverage_score, regression_mean_width_score
from scipy.stats import spearmanr
from sklearn.model_selection import GroupShuffleSplit

from sklearn_bandgap.datasets import load_mp_gap_eform
from sklearn_bandgap.model_selection import formula_group_split
from sklearn_bandgap.models import ConformalRegressor
from sklearn_bandgap.pretrained import load_pretrained

LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.68, 0.7, 0.8, 0.9, 0.95)
MODELS = {"band_gap": "band_gap_mp2018", "formation_energy_per_atom": "formation_energy_mp2018"}


def coverage(y: np.ndarray, intervals: np.ndarray, rows: np.ndarray) -> dict[str, Any]:
    """Share of ``y`` inside its interval, and the mean width, at each level."""
    return {
        "n": int(rows.sum()),
        "coverage": regression_coverage_score(y[rows], intervals[rows]).round(4).tolist(),
        "mean_width": regression_mean_width_score(intervals[rows]).round(4).tolist(),
    }


def halves_conformal(
    model: Any, lists: Any, y: np.ndarray, groups: np.ndarray, gap: bool, **params: Any
) -> dict[str, Any]:
    """Conformalize on one half of the test formulas, measure on the other, both ways."""
    a, b = next(GroupShuffleSplit(n_splits=1, test_size=0.5, random_state=0).split(y, y, groups))
    out: dict[str, Any] = {}
    for name, (cal, new) in {"a_to_b": (a, b), "b_to_a": (b, a)}.items():
        conformal = ConformalRegressor(model, confidence_level=LEVELS, prefit=True, **params)
        conformal.fit(lists[cal], y[cal])
        y_pred, intervals = conformal.predict_interval(lists[new])
        y_new = y[new]
        subsets = {"all": np.ones(len(new), bool)}
        if gap:
            subsets["gap_positive"] = y_new > 0
        if params.get("separate_at") is not None:
            subsets["predicted_low"] = y_pred <= params["separate_at"]
            subsets["predicted_high"] = y_pred > params["separate_at"]
        out[name] = {
            "n_conformalize": len(cal),
            "half_widths": conformal.half_widths_.round(4).tolist(),
            **{key: coverage(y_new, intervals, rows) for key, rows in subsets.items()},
        }
        if params.get("separate_at") is not None:
            out[name]["low_half_widths"] = conformal.low_half_widths_.round(4).tolist()
    return out


def spread_plot(panels: list[tuple[str, np.ndarray, np.ndarray, str]], path: Any) -> None:
    """Absolute error against members' spread, binned by spread decile."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels), 4.0))
    for ax, (title, spread, error, unit) in zip(np.atleast_1d(axes), panels, strict=True):
        edges = np.quantile(spread, np.linspace(0, 1, 11))
        bins = np.clip(np.searchsorted(edges, spread, side="right") - 1, 0, 9)
        filled = [k for k in range(10) if (bins == k).any()]
        centres = [spread[bins == k].mean() for k in filled]
        ax.scatter(spread, error, s=3, alpha=0.15, color="grey", label="test crystals")
        ax.plot(centres, [error[bins == k].mean() for k in filled], "o-", label="decile mean")
        ax.plot(centres, [np.median(error[bins == k]) for k in filled], "s--", label="median")
        ax.set_xscale("symlog", linthresh=1e-3)
        ax.set_yscale("symlog", linthresh=1e-2)
        ax.set_xlabel(f"members' spread ({unit})")
        ax.set_ylabel(f"|error| of the ensemble ({unit})")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def reliability_plot(results: dict[str, Any], path: Any) -> None:
    """Observed against nominal coverage over the whole test split (both halves measured)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(4.4 * len(results), 4.2), squeeze=False)
    for ax, entry in zip(axes[0], results.values(), strict=True):
        ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="ideal")
        for option, halves in entry["conformal_halves"].items():
            for subset in ("all", "gap_positive"):
                if subset not in halves["a_to_b"]:
                    continue
                n = np.array([halves[h][subset]["n"] for h in ("a_to_b", "b_to_a")])
                covered = np.array([halves[h][subset]["coverage"] for h in ("a_to_b", "b_to_a")])
                label = f"{option}, {'gap > 0' if subset == 'gap_positive' else 'all'}"
                ax.plot(LEVELS, n @ covered / n.sum(), marker="o", ms=3, label=label)
        ax.set_xlabel("nominal coverage")
        ax.set_ylabel("observed coverage (test split, other half)")
        ax.set_title(f"{entry['model']}: split-conformal intervals", fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default=None)
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # the OOD warnings of unseen elements: counted elsewhere
    start = time.perf_counter()
    data = load_mp_gap_eform(target=list(MODELS), n_jobs=2, progress=False)
    _, test = formula_group_split(data.formula)
    formulas = data.formula[test]
    models = {target: load_pretrained(name) for target, name in MODELS.items()}
    featurizer = models["band_gap"][0]
    lists = featurizer.transform([data.data[i] for i in test])
    results: dict[str, Any] = {}
    panels = []
    for column, (target, model) in enumerate(models.items()):
        assert model[0].get_params() == featurizer.get_params()
        ensemble = model[1:]
        y = data.target[test, column]
        mean, spread = ensemble.predict(lists, return_std=True)
        mean, spread = np.ravel(mean), np.ravel(spread)
        error = np.abs(mean - y)
        gap = target == "band_gap"
        entry: dict[str, Any] = {
            "model": MODELS[target],
            "n_members": len(ensemble[-1].estimators_),
            "mae": float(error.mean()),
            "spearman_spread_vs_abs_error": {"all": float(spearmanr(spread, error)[0])},
            "mean_spread": float(spread.mean()),
        }
        if gap:
            gapped = y > 0
            entry["spearman_spread_vs_abs_error"]["gap_positive"] = float(
                spearmanr(spread[gapped], error[gapped])[0]
            )
            entry["predicted_exactly_zero"] = float(np.mean(mean == 0))
        bound = {"lower_bound": 0.0} if gap else {}
        entry["conformal_halves"] = {
            "pooled": halves_conformal(ensemble, lists, y, formulas, gap, **bound)
        }
        if gap:
            entry["conformal_halves"]["separate_at_0.1"] = halves_conformal(
                ensemble, lists, y, formulas, gap, separate_at=0.1, **bound
            )
        results[target] = entry
        unit = "eV" if gap else "eV/atom"
        rho = entry["spearman_spread_vs_abs_error"]["all"]
        panels.append((f"{MODELS[target]}, test split (Spearman {rho:.2f})", spread, error, unit))
    out = run_dir("intervals_pretrained", args.run)
    spread_plot(panels, out / "spread_vs_error.png")
    reliability_plot(results, out / "reliability.png")
    record = {
        "benchmark": "intervals_pretrained",
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count()},
        "versions": {p: version(p) for p in ("sklearn_bandgap", "mapie", "scikit-learn")},
        "split": {
            "test": "formula groups, 10 %, seed 0 (the shipped models' held-out part)",
            "n_test": len(test),
            "halves": "GroupShuffleSplit of the test formulas, test_size 0.5, seed 0",
        },
        "levels": list(LEVELS),
        "results": results,
        "seconds": round(time.perf_counter() - start, 1),
    }
    write_record(out / "record.json", record)


if __name__ == "__main__":
    main()
