"""Train on the project's formula-group split of the MP set and measure everything."""

from __future__ import annotations

import resource
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
from joblib import parallel_config
from pymatgen.core import Structure
from sklearn.base import clone
from sklearn.pipeline import make_pipeline

from sklearn_bandgap.datasets import MP_UNITS as UNITS
from sklearn_bandgap.featurizers import NeighborListFeaturizer
from sklearn_bandgap.metrics import band_gap_report, regression_report
from sklearn_bandgap.model_selection import (
    SPLIT_RANDOM_STATE,
    SPLIT_TEST_SIZE,
    formula_group_split,
)
from sklearn_bandgap.models import (
    CompositionBaselineRegressor,
    NeighborLSTMRegressor,
    SeedEnsembleRegressor,
)
from sklearn_bandgap.utils._targets import distilled_targets


def plot_parity_panels(panels: Sequence[tuple[str, Any, Any, str]], path: Path) -> None:
    """Save predicted-vs-DFT parity plots side by side (hexbin, log counts) as one PNG.

    Parameters
    ----------
    panels : sequence of (title, y_true, y_pred, unit)
        One panel each.
    path : Path
        The PNG to write.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4.2))
    for ax, (title, y_true, y_pred, unit) in zip(np.atleast_1d(axes), panels, strict=True):
        y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
        low = float(min(y_true.min(), y_pred.min()))
        high = float(max(y_true.max(), y_pred.max()))
        hexes = ax.hexbin(y_true, y_pred, gridsize=60, bins="log", cmap="viridis", mincnt=1)
        ax.plot([low, high], [low, high], color="crimson", lw=1)
        ax.set_xlabel(f"DFT ({unit})")
        ax.set_ylabel(f"predicted ({unit})")
        ax.set_title(title, fontsize=9)
        fig.colorbar(hexes, ax=ax, label="structures")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_parity(y_true: Any, y_pred: Any, *, title: str, unit: str, path: Path) -> None:
    """Save a predicted-vs-DFT parity plot (hexbin, log counts) as PNG."""
    plot_parity_panels([(title, y_true, y_pred, unit)], path)


def train_and_evaluate(
    structures: Sequence[Structure],
    y: np.ndarray,
    formulas: np.ndarray,
    *,
    target: str,
    auxiliary_targets: Sequence[str] = (),
    model_params: dict[str, Any] | None = None,
    random_states: Sequence[int] | None = None,
    plot_path: Path | None = None,
    save_path: Path | None = None,
    units: dict[str, str] | None = None,
    test_size: float = SPLIT_TEST_SIZE,
    split_seed: int = SPLIT_RANDOM_STATE,
    groups_name: str = "reduced formulas",
    composition_baseline: bool = False,
    featurizer_params: dict[str, Any] | None = None,
    teacher: Any = None,
    teacher_weight: float = 0.5,
    n_jobs: int | None = None,
) -> tuple[dict[str, Any], tuple[np.ndarray, np.ndarray]]:
    """Fit ``NeighborLSTMRegressor`` on the project split and report test figures.

    Parameters
    ----------
    structures : sequence of Structure
        All structures (train and test).
    y : ndarray of shape (n_samples,) or (n_samples, 1 + len(auxiliary_targets))
        The target, then the auxiliary targets' columns if any. NaN marks a
        value that was not measured when ``model_params`` has
        ``missing_targets="ignore"``: it is left out of training, and each
        column's test figures are over its test rows with a value.
    formulas : ndarray of str
        The split's groups: reduced formulas, or any labels to keep together.
    target : str
        Name of the target (``"band_gap"`` adds the band-gap figures).
    auxiliary_targets : sequence of str, default=()
        Names of further columns of ``y`` trained in the same model
        (multi-task); their test figures go to ``auxiliary_test``, the headline
        figures are the target's. Band-gap columns are then clipped at 0 after
        prediction (each regressor gets ``nonnegative`` set to those columns).
    model_params : dict, default=None
        Parameters of :class:`NeighborLSTMRegressor`.
    random_states : sequence of int, default=None
        If given, a :class:`~sklearn_bandgap.models.SeedEnsembleRegressor` of
        one regressor per seed (each clipping its band-gap columns at 0) is
        trained and evaluated instead of a single regressor; ``epochs`` then
        counts all members' epochs and ``members`` lists each one's.
    plot_path : Path, default=None
        Where to save the parity plot.
    save_path : Path, default=None
        Where to save the fitted pipeline (featurizer and model) with
        :func:`sklearn_bandgap.io.save`; its metadata names the output columns
        (the target, then the auxiliary targets).
    units : dict of str to str, default=None
        Units of the targets, for the plot and the saved file's metadata
        (default: those of the MP columns, else none).
    test_size : float, default=0.1
        Fraction of the groups held out for the test figures.
    split_seed : int, default=0
        Seed of the ``GroupShuffleSplit`` (the project's split: 0).
    groups_name : str, default="reduced formulas"
        What the groups are, for the record of the split.
    composition_baseline : bool, default=False
        Wrap the model in a
        :class:`~sklearn_bandgap.models.CompositionBaselineRegressor`
        (elemental references first, the network on the residuals): for
        energies per atom.
    featurizer_params : dict, default=None
        Parameters of the :class:`NeighborListFeaturizer` (e.g.
        ``{"atom_features": "chgnet"}``). With ``distil_atom_features > 0``
        in ``model_params`` the atom features are targets of training only:
        the training part gets them, the test part and the saved pipeline's
        featurizer do not (prediction runs without the potential).
    teacher : fitted regressor, default=None
        Knowledge distillation: a fitted model that takes structures (a shipped
        or saved pipeline) and predicts the target (its first output). The
        model is then trained on ``(1 - teacher_weight) x y + teacher_weight x``
        the teacher's predictions in the target's column; early stopping reads
        the same blend, the test figures the true values. The teacher must not
        have seen the test part (the shipped models saw only the project's
        training part of the MP set).
    teacher_weight : float, default=0.5
        The teacher's share of the blend.
    n_jobs : int, default=None
        Processes for featurizing (neighbour lists and, with
        ``atom_features="chgnet"``, CHGNet's atom features), for training,
        for the teacher and for the test part's predictions, through
        ``joblib.parallel_config``: the saved
        featurizer keeps its own ``n_jobs`` (None unless
        ``featurizer_params`` sets it), so the file does not carry this
        machine's core count. None: the featurizer's ``n_jobs`` (or an
        enclosing ``parallel_config``).

    Returns
    -------
    results : dict
        Split, timings (featurization, training, seconds per epoch,
        structures/s in training and in inference with featurization), test
        figures and peak memory (JSON-ready).
    (test_index, y_pred) : tuple of ndarray
        The test indices and their predictions.
    """
    params = {"random_state": 0, **(model_params or {})}
    units = {**UNITS, **(units or {})}
    multitask = len(auxiliary_targets) > 0
    if target == "band_gap" and not multitask:
        params.setdefault("nonnegative", True)
    gap_columns = [k for k, name in enumerate([target, *auxiliary_targets]) if name == "band_gap"]
    if multitask:
        # only the band-gap columns are clipped (in an ensemble, each member clips, as
        # benchmarks/ensemble_mp.py averages clipped predictions); training is unaffected
        params.setdefault("nonnegative", gap_columns)
    if multitask and np.shape(y) != (len(structures), 1 + len(auxiliary_targets)):
        raise ValueError(
            f"y must have one column for {target!r} and one per auxiliary target "
            f"{list(auxiliary_targets)}, got shape {np.shape(y)}."
        )
    train, test = formula_group_split(formulas, test_size=test_size, random_state=split_seed)
    distilling = bool(params.get("distil_atom_features"))
    featurizer_params = dict(featurizer_params or {})
    # distilled features are learnt in training, never read: only the training part gets them
    learnt = featurizer_params.pop("atom_features", None) if distilling else None
    featurizer = NeighborListFeaturizer(**featurizer_params)
    start = time.perf_counter()
    with _featurizing_jobs(n_jobs):
        if learnt is None:
            lists = featurizer.transform(structures)
            lists_fit, lists_test = lists[train], lists[test]
        else:  # each part featurized once: the training part with the features to learn
            with_features = clone(featurizer).set_params(atom_features=learnt)
            lists_fit = with_features.transform([structures[i] for i in train])
            lists_test = featurizer.transform([structures[i] for i in test])
    featurize_s = time.perf_counter() - start

    regressor = NeighborLSTMRegressor(**params)
    core: Any = (
        regressor
        if random_states is None
        else SeedEnsembleRegressor(regressor, random_states=random_states)
    )
    model = CompositionBaselineRegressor(core) if composition_baseline else core
    y_fit = y[train]
    teacher_figures = None
    if teacher is not None:
        with _featurizing_jobs(n_jobs):
            taught = np.asarray(
                teacher.predict([structures[i] for i in train]), dtype=np.float64
            ).reshape(len(train), -1)[:, 0]
        y_fit = distilled_targets(y_fit, taught, teacher_weight)
        truth = y[train] if np.ndim(y) == 1 else y[train, 0]
        teacher_figures = {
            "weight": teacher_weight,
            "training_part_mae": float(np.nanmean(np.abs(taught - truth))),
        }
    start = time.perf_counter()
    model.fit(lists_fit, y_fit)
    fit_s = time.perf_counter() - start
    fitted_core: Any = model.regressor_ if composition_baseline else model
    members = (
        [fitted_core] if isinstance(fitted_core, NeighborLSTMRegressor) else fitted_core.estimators_
    )
    histories = [_history_figures(member) for member in members]
    epoch_s = [s for h in histories for s in h["seconds"]]
    best_epoch = histories[0]["best_epoch"] if random_states is None else None
    n_fit = round(len(train) * (1 - regressor.validation_fraction))
    # For choosing between settings: the validation split is part of training,
    # never the test split. The loss is L1 on standardized targets, so x scale = MAE.
    validation_mae = (
        histories[0]["valid_loss"] * float(members[0].y_scale_[0])
        if best_epoch is not None and regressor.loss == "l1" and not multitask
        else None
    )

    pipeline = make_pipeline(featurizer, model)
    if save_path is not None:
        from sklearn_bandgap.io import save

        names = [target, *auxiliary_targets]
        save(
            pipeline,
            save_path,
            metadata={"outputs": [{"name": n, "unit": units.get(n, "")} for n in names]},
            drop_callbacks=True,  # e.g. TrainingCheckpoint: they act only in fit
        )
    test_structures = [structures[i] for i in test]
    start = time.perf_counter()
    y_std = None
    with _featurizing_jobs(n_jobs):  # the inference figure includes featurizing
        if random_states is not None and composition_baseline:  # the spread: the network's
            y_pred = pipeline.predict(test_structures)
            _, y_std = fitted_core.predict(lists_test, return_std=True)
            y_std = np.asarray(y_std).reshape(len(test), -1)[:, 0]
        elif random_states is not None:  # a seed ensemble: its members' spread comes free
            y_pred, y_std = pipeline.predict(test_structures, return_std=True)
            y_std = np.asarray(y_std).reshape(len(test), -1)[:, 0]
        else:
            y_pred = pipeline.predict(test_structures)
    predict_s = time.perf_counter() - start
    auxiliary_test = {}
    if multitask:
        y_pred = y_pred.reshape(len(test), -1)
        y_pred[:, gap_columns] = np.maximum(y_pred[:, gap_columns], 0.0)
        auxiliary_test = {
            name: _present_report(y[test, k], y_pred[:, k])
            for k, name in enumerate(auxiliary_targets, start=1)
        }
        y_pred, y = y_pred[:, 0], y[:, 0]
    n_predicted = len(test)
    scored = ~np.isnan(y[test])  # every test row unless the target has missing values
    if not scored.any():
        raise ValueError(f"no test structure has a value of {target!r}: nothing to score")
    test, y_pred, y_std = test[scored], y_pred[scored], None if y_std is None else y_std[scored]

    report = (
        band_gap_report(y[test], y_pred)
        if target == "band_gap"
        else regression_report(y[test], y_pred)
    )
    if plot_path is not None:
        mae = regression_report(y[test], y_pred)["mae"]
        plot_parity(
            y[test],
            y_pred,
            title=f"{target}, test split ({len(test)} structures)\n"
            f"MAE {mae:.3f} {units.get(target, '')}",
            unit=units.get(target, ""),
            path=plot_path,
        )
    results = {
        "target": target,
        "split": {
            "kind": f"GroupShuffleSplit on {groups_name}",
            "test_size": test_size,
            "seed": split_seed,
            "n_train": len(train),
            "n_test": len(scored),
            **({"n_test_without_target": int((~scored).sum())} if not scored.all() else {}),
        },
        "model_params": {k: v for k, v in regressor.get_params().items() if k != "callbacks"},
        "composition_baseline": composition_baseline,
        **({"teacher": teacher_figures} if teacher_figures else {}),
        "auxiliary_targets": list(auxiliary_targets),
        "validation_mae_best_epoch": validation_mae,
        "test": report,
        "auxiliary_test": auxiliary_test,
        "epochs": len(epoch_s),
        "best_epoch": best_epoch,
        "seconds": {
            "featurize_all": round(featurize_s, 2),
            "fit": round(fit_s, 2),
            "per_epoch_mean": round(float(np.mean(epoch_s)), 2),
            "per_epoch_median": round(float(np.median(epoch_s)), 2),
            "per_epoch_all": [round(x, 2) for x in epoch_s],
            "predict_test_with_featurization": round(predict_s, 2),
        },
        "structures_per_s": {
            "training": round(n_fit * len(epoch_s) / sum(epoch_s), 1),
            "inference_with_featurization": round(n_predicted / predict_s, 1),
        },
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3, 1),
    }
    if y_std is not None:
        from scipy.stats import spearmanr

        error = np.abs(np.ravel(y_pred) - y[test])
        results["spread"] = {
            "mean": float(y_std.mean()),
            "spearman_vs_abs_error": float(spearmanr(y_std, error)[0]),
        }
    if random_states is not None:
        results["random_states"] = [int(seed) for seed in random_states]
        results["members"] = [
            {
                "random_state": int(member.random_state),
                "epochs": len(h["seconds"]),
                "best_epoch": h["best_epoch"],
            }
            for member, h in zip(members, histories, strict=True)
        ]
    return results, (test, y_pred)


def _present_report(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    """:func:`regression_report` over the rows with a value (NaN: not measured)."""
    present = ~np.isnan(y_true)
    return regression_report(y_true[present], y_pred[present])


def _history_figures(regressor: NeighborLSTMRegressor) -> dict[str, Any]:
    """Seconds per epoch, best epoch and best validation loss of a fitted regressor."""
    history = regressor.net_.history_
    validated = "valid_loss" in history[-1]
    return {
        "seconds": [float(s) for s in history[:, "dur"]],
        "best_epoch": int(np.argmin(history[:, "valid_loss"])) + 1 if validated else None,
        "valid_loss": float(np.min(history[:, "valid_loss"])) if validated else None,
    }


def _featurizing_jobs(n_jobs: int | None) -> AbstractContextManager[Any]:
    """``parallel_config(n_jobs=n_jobs)``, or nothing (an enclosing one stays) for None."""
    return nullcontext() if n_jobs is None else parallel_config(n_jobs=n_jobs)
