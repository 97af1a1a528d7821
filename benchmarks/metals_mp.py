"""Metals and gapped crystals on the MP set: the alternatives, the default, its intervals.

``--phase selection`` (choose, never on the test split): inside the training
part of the project's split, formula groups split again (10 %, seed 1) into a
fit part and a selection part; trained on the fit part and scored on the
selection part:

- ``composite``: ``NeighborLSTMClassifier`` (gap > 0) and a
  ``NeighborLSTMRegressor`` of the gapped crystals only, combined by
  ``ZeroInflatedRegressor`` as hard zeros and as the expected value p x gap;
- ``two_heads``: ``TwoHeadBandGapRegressor`` (one network, shared body), hard
  and expected.

``--phase fit --members NAME:SEED ...`` then ``--phase final`` (the chosen
composite, hard zeros, measured once): on the same fit part, each member
(``classifier``, ``gapped_regressor``, and the plain ``regressor`` for
comparison) is fitted and kept in ``$METALS_WORK`` (local training state, never
shipped); ``final`` then scores on the project's test split (10 % of the
formulas, seed 0, never used for a choice): the classifier's ROC-AUC, the
gapped-only regressor's MAE on the gapped test crystals (the seed's setting),
the composite's MAE on all of them, single (seed 0) and as a seed ensemble
(mean probability, mean gap; the members' spread against the error), the
training time against the plain regressor's, and split-conformal intervals
(``ConformalRegressor(prefit=True)``) conformalized on the selection part,
which no member was fitted on: coverage and width at each level, pooled and
with ``separate_at=0.0`` (predicted metals apart), and a reliability plot.

Each member trains in its own process with one torch thread (two at a time).
Writes ``benchmarks/results/metals_mp/<phase>-<run>/record.json`` (and PNGs).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
from _machine import cpu_model, git_commit, write_record
from joblib import Parallel, delayed
from scipy.stats import spearmanr
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.metrics import roc_auc_score

from sklearn_bandgap.datasets import load_mp_gap_eform
from sklearn_bandgap.featurizers import NeighborListFeaturizer
from sklearn_bandgap.metrics import band_gap_report, interval_coverage_report, regression_report
from sklearn_bandgap.model_selection import formula_group_split
from sklearn_bandgap.models import (
    ConformalRegressor,
    NeighborLSTMClassifier,
    NeighborLSTMRegressor,
    TwoHeadBandGapRegressor,
    ZeroInflatedRegressor,
)

RESULTS = Path(__file__).parent / "results" / "metals_mp"
LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.68, 0.7, 0.8, 0.9, 0.95)


def fit_one(model: Any, lists: Any, y: np.ndarray) -> tuple[Any, float]:
    """Fit a clone with one torch thread (in a worker process); return it and its seconds."""
    import torch

    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    start = time.perf_counter()
    fitted = clone(model).fit(lists, y)
    return fitted, time.perf_counter() - start


#: ``--max-epochs`` for a quick look (None: the estimators' defaults, early-stopped).
MAX_EPOCHS: dict[str, Any] = {}


def components(seed: int) -> dict[str, Any]:
    """The models the alternatives are made of, with one seed (defaults otherwise)."""
    return {
        "regressor": NeighborLSTMRegressor(random_state=seed, nonnegative=True, **MAX_EPOCHS),
        "classifier": NeighborLSTMClassifier(random_state=seed, **MAX_EPOCHS),
        # regularized options against the classifier's early memorization
        "classifier_dropout": NeighborLSTMClassifier(random_state=seed, dropout=0.3, **MAX_EPOCHS),
        "classifier_decay": NeighborLSTMClassifier(
            random_state=seed, weight_decay=1e-3, **MAX_EPOCHS
        ),
        "gapped_regressor": NeighborLSTMRegressor(
            random_state=seed, nonnegative=True, **MAX_EPOCHS
        ),
        "two_heads": TwoHeadBandGapRegressor(random_state=seed, **MAX_EPOCHS),
    }


def train(names: list[str], seed: int, lists: Any, y: np.ndarray, n_jobs: int) -> dict:
    """Fit the named components on ``lists`` (the gapped regressor on y > 0 only)."""
    models = components(seed)
    gapped = np.flatnonzero(y > 0)
    jobs = {
        "classifier": (models["classifier"], lists, y > 0),
        "gapped_regressor": (models["gapped_regressor"], lists[gapped], y[gapped]),
        "two_heads": (models["two_heads"], lists, y),
    }
    done = Parallel(n_jobs=n_jobs)(delayed(fit_one)(*jobs[name]) for name in names)
    return {name: result for name, result in zip(names, done, strict=True)}


#: Members of the final phase, fitted once and kept (local training state, never shipped).
WORK = Path(
    os.environ.get(
        "METALS_WORK", Path.home() / ".cache" / "sklearn_bandgap" / "metals_work" / "final"
    )
)


def fit_saved(name: str, seed: int, lists: Any, y: np.ndarray) -> str:
    """Fit one component (the gapped regressor on y > 0) and keep it in ``WORK``."""
    import json

    import joblib

    model = components(seed)[name]
    rows = np.flatnonzero(y > 0) if name == "gapped_regressor" else np.arange(len(y))
    target = y[rows] > 0 if name.startswith("classifier") else y[rows]
    fitted, seconds = fit_one(model, lists[rows], target)
    WORK.mkdir(parents=True, exist_ok=True)
    joblib.dump(fitted, WORK / f"{name}-seed{seed}.joblib")
    info = {
        "fit_seconds": round(seconds, 1),
        "epochs": len(fitted.net_.history_),
        "n_fit": len(rows),
    }
    (WORK / f"{name}-seed{seed}.json").write_text(json.dumps(info))
    return f"{name}-seed{seed}: {info}"


def composite(fitted: dict, mode: str) -> ZeroInflatedRegressor:
    """The ZeroInflatedRegressor of two fitted components (what its fit would make)."""
    return ZeroInflatedRegressor.from_fitted(
        fitted["classifier"][0], fitted["gapped_regressor"][0], mode=mode
    )


def scores(y: np.ndarray, y_pred: np.ndarray, p_gapped: np.ndarray) -> dict:
    report = band_gap_report(y, y_pred)
    report["roc_auc_of_p_gapped"] = float(roc_auc_score(y > 0, p_gapped))
    report["predicted_exactly_zero"] = float(np.mean(y_pred == 0))
    report["metals_predicted_exactly_zero"] = float(np.mean(y_pred[y == 0] == 0))
    return report


def evaluate(fitted: dict, lists: Any, y: np.ndarray) -> dict:
    """Every alternative's figures on (lists, y)."""
    out: dict[str, Any] = {}
    if "classifier" in fitted:
        for mode in ("hard", "expected"):
            model = composite(fitted, mode)
            out[f"composite:{mode}"] = scores(
                y, model.predict(lists), model.nonzero_probability(lists)
            )
        gapped = y > 0
        out["gapped_regressor_on_gapped"] = regression_report(
            y[gapped], fitted["gapped_regressor"][0].predict(lists[np.flatnonzero(gapped)])
        )
    if "two_heads" in fitted:
        model = fitted["two_heads"][0]
        p_gapped, _ = model.predict_heads(lists)
        for mode in ("hard", "expected"):
            model.set_params(mode=mode)
            out[f"two_heads:{mode}"] = scores(y, model.predict(lists), p_gapped)
    out["fit_seconds"] = {name: round(seconds, 1) for name, (_, seconds) in fitted.items()}
    out["epochs"] = {name: len(model.net_.history_) for name, (model, _) in fitted.items()}
    return out


def reliability_plot(
    levels: np.ndarray, panels: dict[str, dict[str, np.ndarray]], path: Path
) -> None:
    """Observed against nominal coverage, one panel per model, one line per subset."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels), 4.2), squeeze=False)
    for ax, (title, covered) in zip(axes[0], panels.items(), strict=True):
        ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="ideal")
        for name, values in covered.items():
            ax.plot(levels, values, marker="o", ms=3, label=name)
        ax.set_xlabel("nominal coverage")
        ax.set_ylabel("observed coverage on the test split")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


class MeanOfMembers(RegressorMixin, BaseEstimator):
    """The seed ensemble of composites: mean metal probability, mean gapped value.

    Built from members already fitted (``fit`` only records them), so that
    ``ConformalRegressor(prefit=True)`` can conformalize the ensemble.
    """

    def __init__(self, classifiers: list, regressors: list, mode: str = "hard") -> None:
        self.classifiers = classifiers
        self.regressors = regressors
        self.mode = mode

    def fit(self, X: Any = None, y: Any = None) -> MeanOfMembers:
        self.members_ = [
            ZeroInflatedRegressor.from_fitted(c, r, mode=self.mode)
            for c, r in zip(self.classifiers, self.regressors, strict=True)
        ]
        return self

    def nonzero_probability(self, X: Any) -> np.ndarray:
        return np.mean([m.nonzero_probability(X) for m in self.members_], axis=0)

    def predict(self, X: Any, return_std: bool = False) -> Any:
        p = self.nonzero_probability(X)
        gap = np.mean([m.regressor_.predict(X).ravel() for m in self.members_], axis=0)
        y_pred = self.members_[0].combine(p, gap)  # the composite's rule on the means
        if not return_std:
            return y_pred
        return y_pred, np.std([m.predict(X) for m in self.members_], axis=0)


def coverage_table(y: np.ndarray, intervals: np.ndarray, rows: dict[str, np.ndarray]) -> dict:
    """Observed coverage and mean width at each level, for each subset of rows."""
    return interval_coverage_report(y, intervals, rows)


def final_phase(
    lists: Any, y: np.ndarray, fit: np.ndarray, select: np.ndarray, test: np.ndarray, run: str
) -> dict:
    """Figures of the members kept by ``--phase fit``: single, ensemble, intervals, time."""
    import json

    import joblib

    used = ("classifier-", "gapped_regressor-", "regressor-")  # not the classifier options
    kept = {
        path.stem: joblib.load(path)
        for path in sorted(WORK.glob("*.joblib"))
        if path.stem.startswith(used)
    }
    info = {
        path.stem: json.loads(path.read_text())
        for path in sorted(WORK.glob("*.json"))
        if path.stem.startswith(used)
    }
    seeds = sorted(
        int(key.rpartition("seed")[2])
        for key in kept
        if key.startswith("classifier-") and f"gapped_regressor-{key.partition('-')[2]}" in kept
    )
    X_test, y_test = lists[test], y[test]
    gapped = y_test > 0
    out: dict[str, Any] = {"members": info, "seeds": seeds}

    single = {
        "classifier": (kept["classifier-seed0"], 0.0),
        "gapped_regressor": (kept["gapped_regressor-seed0"], 0.0),
    }
    out["single"] = evaluate(single, X_test, y_test)
    out["single"].pop("fit_seconds"), out["single"].pop("epochs")
    out["single"]["classifier_roc_auc"] = float(
        roc_auc_score(gapped, kept["classifier-seed0"].predict_proba(X_test)[:, 1])
    )
    if "regressor-seed0" in kept:
        plain = kept["regressor-seed0"].predict(X_test).ravel()
        out["single"]["plain_regressor"] = band_gap_report(y_test, plain)
        seconds = {
            k: info[f"{k}-seed0"]["fit_seconds"]
            for k in ("classifier", "gapped_regressor", "regressor")
        }
        out["training_time"] = {
            "fit_seconds": seconds,
            "composite_over_plain": round(
                (seconds["classifier"] + seconds["gapped_regressor"]) / seconds["regressor"], 3
            ),
            "note": "each member on one torch thread, two members at a time on the 2 cores",
        }

    ensemble = MeanOfMembers(
        [kept[f"classifier-seed{k}"] for k in seeds],
        [kept[f"gapped_regressor-seed{k}"] for k in seeds],
    ).fit()
    mean, spread = ensemble.predict(X_test, return_std=True)
    error = np.abs(mean - y_test)
    gap_spread = np.std(
        [kept[f"gapped_regressor-seed{k}"].predict(X_test).ravel() for k in seeds], axis=0
    )
    out["ensemble"] = {
        "seeds": seeds,
        "scores": scores(y_test, mean, ensemble.nonzero_probability(X_test)),
        "members_mae": [
            float(
                np.mean(
                    np.abs(
                        composite(
                            {
                                "classifier": (kept[f"classifier-seed{k}"], 0),
                                "gapped_regressor": (kept[f"gapped_regressor-seed{k}"], 0),
                            },
                            "hard",
                        ).predict(X_test)
                        - y_test
                    )
                )
            )
            for k in seeds
        ],
        "spearman_spread_vs_abs_error": {
            "all": float(spearmanr(spread, error)[0]),
            "gap_positive": float(spearmanr(spread[gapped], error[gapped])[0]),
            "gapped_regressors_spread_on_gap_positive": float(
                spearmanr(gap_spread[gapped], error[gapped])[0]
            ),
        },
    }

    # split conformal: conformalized on the selection part (never fitted on), measured on test
    X_cal, y_cal = lists[select], y[select]
    rows = {"all": np.ones(len(y_test), bool), "gap_positive": gapped, "metals": ~gapped}
    models = {"single": composite(single, "hard"), "ensemble": ensemble}
    intervals_out: dict[str, Any] = {
        "method": "MAPIE split conformal (absolute residual), prefit on the fit part, "
        "conformalized on the selection part (formula groups never fitted on)",
        "n_conformalize": len(select),
        "levels": list(LEVELS),
    }
    curves: dict[str, dict[str, np.ndarray]] = {}
    for name, model in models.items():
        for separate in (False, True):
            conformal = ConformalRegressor(
                model,
                confidence_level=LEVELS,
                lower_bound=0.0,
                prefit=True,
                separate_at=0.0 if separate else None,
            ).fit(X_cal, y_cal)
            y_pred, intervals = conformal.predict_interval(X_test)
            option = "separate_at=0" if separate else "pooled"
            key = f"{name}:{option}"
            table = coverage_table(
                y_test,
                intervals,
                {**rows, "predicted_0": y_pred == 0, "predicted_gapped": y_pred > 0},
            )
            table["half_widths"] = conformal.half_widths_.round(4).tolist()
            if separate:
                table["zero_half_widths"] = conformal.low_half_widths_.round(4).tolist()
            intervals_out[key] = table
            panel = curves.setdefault(f"{name} composite, conformalized on the selection part", {})
            panel[f"{option}, all"] = np.array(table["all"]["coverage"])
            panel[f"{option}, gap > 0"] = np.array(table["gap_positive"]["coverage"])
    out["intervals"] = intervals_out
    reliability_plot(np.asarray(LEVELS), curves, RESULTS / f"final-{run}" / "reliability.png")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--phase", choices=["selection", "fit", "final", "classifier-options"], required=True
    )
    parser.add_argument("--n", type=int, default=None, help="seeded subset (quick look only)")
    parser.add_argument("--max-epochs", type=int, default=None, help="quick look only")
    parser.add_argument("--run", default=None)
    parser.add_argument(
        "--members", nargs="+", default=[], help="--phase fit: NAME:SEED to fit and keep"
    )
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    data = load_mp_gap_eform(target="band_gap", n_jobs=2, progress=False)
    structures, y, formulas = data.data, data.target, data.formula
    if args.n is not None:
        import random

        keep = sorted(random.Random(0).sample(range(len(structures)), args.n))
        structures, y, formulas = [structures[i] for i in keep], y[keep], formulas[keep]
    lists = NeighborListFeaturizer().transform(structures)
    if args.max_epochs is not None:
        MAX_EPOCHS["max_epochs"] = args.max_epochs

    train_idx, test_idx = formula_group_split(formulas)
    record: dict[str, Any] = {
        "benchmark": "metals_mp",
        "phase": args.phase,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python", *sys.argv]),
        "commit": git_commit(),
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "threads_per_member": 1},
        "versions": {p: version(p) for p in ("sklearn_bandgap", "torch", "mapie")},
        "data": {"set": "mp_gap_eform", "n_structures": len(structures)},
    }
    if args.phase == "selection":
        fit_pos, select_pos = formula_group_split(formulas[train_idx], random_state=1)
        fit, select = train_idx[fit_pos], train_idx[select_pos]
        record["split"] = {"fit": len(fit), "selection": len(select), "seeds": [0, 1]}
        fitted = train(["classifier", "gapped_regressor"], 0, lists[fit], y[fit], n_jobs=2)
        fitted.update(train(["two_heads"], 0, lists[fit], y[fit], n_jobs=1))
        record["results"] = evaluate(fitted, lists[select], y[select])
    elif args.phase == "fit":
        # the final phase's members: fitted on the selection phase's fit part
        fit_pos, _ = formula_group_split(formulas[train_idx], random_state=1)
        fit = train_idx[fit_pos]
        todo = [(m.partition(":")[0], int(m.partition(":")[2])) for m in args.members]
        for line in Parallel(n_jobs=2)(
            delayed(fit_saved)(name, seed, lists[fit], y[fit]) for name, seed in todo
        ):
            print(line, flush=True)
        return
    elif args.phase == "classifier-options":
        import joblib

        fit_pos, select_pos = formula_group_split(formulas[train_idx], random_state=1)
        select = train_idx[select_pos]
        record["split"] = {"fit": len(fit_pos), "selection": len(select), "seeds": [0, 1]}
        out: dict[str, Any] = {}
        for path in sorted(WORK.glob("classifier*-seed0.joblib")):
            model = joblib.load(path)
            history = model.net_.history_
            p_gapped = model.predict_proba(lists[select])[:, 1]
            out[path.stem] = {
                "selection_roc_auc": float(roc_auc_score(y[select] > 0, p_gapped)),
                "params": {k: model.get_params()[k] for k in ("dropout", "weight_decay")},
                "epochs": len(history),
                "best_valid_loss": float(min(history[:, "valid_loss"])),
                "best_valid_acc": float(max(history[:, "valid_acc"])),
            }
        record["results"] = out
    elif args.phase == "final":
        fit_pos, select_pos = formula_group_split(formulas[train_idx], random_state=1)
        fit, select = train_idx[fit_pos], train_idx[select_pos]
        record["split"] = {
            "fit": len(fit),
            "selection_used_to_conformalize": len(select),
            "test": len(test_idx),
            "seeds": "test: formula groups 10 %, seed 0; selection: 10 % of the rest, seed 1",
        }
        run = args.run or datetime.now(UTC).strftime("%Y-%m-%d")
        record["results"] = final_phase(lists, y, fit, select, test_idx, run)
    run = args.run or datetime.now(UTC).strftime("%Y-%m-%d")
    write_record(RESULTS / f"{args.phase}-{run}" / "record.json", record)


if __name__ == "__main__":
    main()
