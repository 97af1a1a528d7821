"""``sklearn-bandgap train``: train a model on the MP set or on your table, and measure it.

Trains ``NeighborListFeaturizer`` + ``NeighborLSTMRegressor`` on the seeded
90/10 group split (reduced formulas, or ``--group-column``) of the Materials
Project set, or of a table of your own (``train my.csv --target gap``: CSV or
JSON, compressed or not, a structure column and one or more ``--target``
columns, the first the headline), and reports test MAE, RMSE and R² (for band
gaps also gap > 0 and the metal/non-metal ROC-AUC) and the wall time; writes a
parity plot (PNG) and the figures (JSON); ``--save`` keeps the model as a
``.safetensors`` file whose outputs are named after the target columns.
``--init band_gap_mp2018`` (or a saved model's path) fine-tunes: the network
starts from that model's, all but its output layer, which is new for the
target.

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
import sys
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
from sklearn.utils import Bunch
from skorch.callbacks import Callback

from sklearn_bandgap.cli import FAST_EPOCHS, FAST_SUBSET
from sklearn_bandgap.cli._errors import UsageError
from sklearn_bandgap.cli._interrupt import raise_if_interrupted
from sklearn_bandgap.cli._missing import check_missing_targets
from sklearn_bandgap.cli._potential import refuse_rows_beyond_potential, require_potential
from sklearn_bandgap.datasets import MP_UNITS, load_mp_gap_eform, load_table
from sklearn_bandgap.experiments import train_and_evaluate
from sklearn_bandgap.metrics import headline_figures

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
    table: Path | None = None,
    targets: list[str] | None = None,
    structure_column: str | None = None,
    group_column: str | None = None,
    unit: str | None = None,
    init: str | None = None,
    init_output: list[str] | None = None,
    loss: str = "l1",
    batch_size: int = 128,
    ema_epochs: float = 0.0,
    lr_schedule: str = "plateau",
    message_layers: int = 0,
    output_weights: list[float] | None = None,
    missing_targets: str = "error",
    atom_features: str | None = None,
    distil_atom_features: float = 0.0,
    test_size: float = 0.1,
    split_seed: int = 0,
    composition_baseline: bool = False,
    teacher: str | None = None,
    teacher_weight: float = 0.5,
    checkpoint_dir: Path | None = None,
) -> dict[str, Any]:
    """Train and evaluate a model on the MP set or on ``table``; print and return the figures."""
    start = time.perf_counter()
    if not 0.0 < test_size < 1.0:
        raise UsageError(f"--test-size {test_size}: give a fraction of the groups, in (0, 1)")
    if not distil_atom_features >= 0:  # NaN too
        raise UsageError(f"--distil-atom-features {distil_atom_features}: give a weight, 0 or more")
    if distil_atom_features and not atom_features:
        raise UsageError(
            f"--distil-atom-features {distil_atom_features:g} learns the atom features of "
            "--atom-features as targets: give --atom-features chgnet too"
        )
    if atom_features:
        require_potential(f"--atom-features {atom_features}")
    if table is not None:
        if not targets:
            raise UsageError(f"{table}: name the column(s) to learn with --target")
        try:
            data = load_table(
                table,
                target=targets,
                structure_column=structure_column,
                group_column=group_column,
                allow_missing=missing_targets == "ignore",
            )
        except ValueError as exc:  # missing columns, bad numbers, unreadable structures
            raise UsageError(str(exc)) from None
        structures, y, formulas = data.data, data.target, data.groups
        source = f"{len(structures)} structures of {table}"
    else:
        if targets is None:
            targets = ["band_gap"] if band_gap_only else ["band_gap", "formation_energy_per_atom"]
        unknown = sorted(set(targets) - set(MP_UNITS))
        if unknown:
            raise UsageError(
                f"--target {unknown[0]}: the MP set has {sorted(MP_UNITS)}; for another "
                "column give your table: sklearn-bandgap train TABLE --target COLUMN"
            )
        rows = None
        if fast and subset == "full":
            # only the subset's CIFs are parsed, never the whole set
            rows = sorted(random.Random(0).sample(range(MP_FULL_ROWS), FAST_SUBSET))
        data = load_mp_gap_eform(subset=subset, n_jobs=n_jobs, target=targets, rows=rows)
        assert isinstance(data, Bunch)
        structures, y, formulas = data.data, data.target, data.formula
        source = f"{len(structures)} Materials Project structures" + (
            f" (--fast: a seeded random subset of {FAST_SUBSET})" if rows else ""
        )
    target, auxiliary = targets[0], targets[1:]
    y = np.asarray(y, dtype=np.float64).reshape(len(structures), -1)
    check_missing_targets(y, targets, missing_targets, composition_baseline)
    if atom_features:  # every row CHGNet cannot read, named before any work
        refuse_rows_beyond_potential(structures, f"--atom-features {atom_features}")
    print(f"Loaded {source} in {time.perf_counter() - start:.1f} s.")
    epochs = FAST_EPOCHS if fast else max_epochs
    what = (
        "NeighborLSTMRegressor"
        if seeds is None
        else f"{len(seeds)} NeighborLSTMRegressors (seeds {', '.join(map(str, seeds))}; "
        "their mean predicts)"
    )
    print(
        f"Training {what} for up to {epochs} epochs on {' and '.join(targets)}"
        + " (early stopping on a composition-grouped validation split)..."
    )
    if batch_size < 1:
        raise UsageError(f"--batch-size {batch_size}: give a positive number of crystals")
    if not ema_epochs >= 0:
        raise UsageError(f"--ema-epochs {ema_epochs}: give a span in epochs, 0 or more")
    if message_layers < 0:
        raise UsageError(f"--message-layers {message_layers}: give 0 or more layers")
    model_params: dict[str, Any] = {
        "max_epochs": epochs,
        "verbose": 1,
        "loss": loss,
        "batch_size": batch_size,
        "ema_epochs": ema_epochs,
        "lr_schedule": lr_schedule,
    }
    if message_layers:
        model_params["message_layers"] = message_layers
    if distil_atom_features:
        model_params["distil_atom_features"] = distil_atom_features
        print(
            f"Learning CHGNet's atom features of the training part as targets (weight "
            f"{distil_atom_features:g}); the model will predict without them."
        )
    callbacks: list[Any] = []
    if checkpoint_dir is not None:
        from sklearn_bandgap.models import TrainingCheckpoint

        if checkpoint_dir.exists() and not checkpoint_dir.is_dir():
            raise UsageError(f"--checkpoint-dir {checkpoint_dir}: is a file; name a folder")
        checkpoint_dir.mkdir(parents=True, exist_ok=True)
        # one file per model of the ensemble, named by its seed
        callbacks.append(TrainingCheckpoint(checkpoint_dir / "model_{seed}.ckpt"))
    model_params["callbacks"] = [*callbacks, StopWhenInterrupted()]
    if output_weights is not None:
        if len(output_weights) != len(targets):
            raise UsageError(
                f"--output-weights: {len(output_weights)} weight(s) for {len(targets)} "
                f"target(s) ({', '.join(targets)}): give one per target"
            )
        if not all(w > 0 for w in output_weights):  # NaN too
            raise UsageError(f"--output-weights {output_weights}: every weight must be positive")
        model_params["output_weights"] = list(output_weights)
    if missing_targets != "error":
        model_params["missing_targets"] = missing_targets
    if init is not None:  # fine-tuning: the source's network, a new output layer
        from sklearn_bandgap.models import architecture_of
        from sklearn_bandgap.models._init import resolve_source

        try:
            source = resolve_source(init)
        except ValueError as exc:
            raise UsageError(f"--init: {exc}") from None
        architecture = architecture_of(source)
        if message_layers and message_layers != architecture.get("message_layers", 0):
            raise UsageError(
                f"--message-layers {message_layers}: {init}'s network has "
                f"{architecture.get('message_layers', 0)}; fine-tuning keeps the source's network"
            )
        model_params.update(architecture, init=init)
        source_features = int(getattr(source, "n_atom_features_", 0))
        if source_features and distil_atom_features:
            raise UsageError(
                f"--distil-atom-features: {init}'s network reads CHGNet's atom features as "
                "inputs; a fine-tuned copy reads them too and cannot learn them as targets"
            )
        if source_features and atom_features is None:
            atom_features = "chgnet"  # the source's network reads CHGNet's atom features
            option = f"--init {init} (its network reads CHGNet's atom features)"
            require_potential(option)
            refuse_rows_beyond_potential(structures, option)
            print(f"{init} reads CHGNet's atom features: the structures get them too.")
        elif atom_features and not source_features and not distil_atom_features:
            raise UsageError(
                f"--atom-features {atom_features}: {init}'s network was trained without atom "
                "features and cannot read them"
            )
        if init_output:
            columns = source_output_columns(init, source, init_output, len(targets))
            model_params["init_output"] = columns if len(columns) > 1 else columns[0]
            print(
                f"Starting from the network of {init}, each target's output from its "
                f"output(s) {init_output} rescaled by least squares."
            )
        else:
            print(f"Starting from the network of {init} (every layer but the output layer).")
    elif init_output:
        raise UsageError("--init-output needs --init (the model whose outputs to start from)")
    teacher_model = None
    if teacher is not None:
        if not 0.0 <= teacher_weight <= 1.0:
            raise UsageError(f"--teacher-weight {teacher_weight}: give a share in [0, 1]")
        from sklearn_bandgap.model_selection import SPLIT_RANDOM_STATE, SPLIT_TEST_SIZE
        from sklearn_bandgap.models._init import load_model
        from sklearn_bandgap.pretrained import list_pretrained

        project_split = (test_size, split_seed) == (SPLIT_TEST_SIZE, SPLIT_RANDOM_STATE)
        if table is None and teacher in list_pretrained() and not project_split:
            raise UsageError(
                f"--teacher {teacher} trained on the training part of the project's split of "
                f"this set (--test-size {SPLIT_TEST_SIZE:g} --split-seed {SPLIT_RANDOM_STATE}); "
                "with another split it has seen your test crystals and the figures would flatter"
            )
        try:
            teacher_model = load_model(teacher)
        except ValueError as exc:
            raise UsageError(f"--teacher: {exc}") from None
        print(
            f"Distilling: the training targets of {target} are {1 - teacher_weight:g} x the "
            f"table's values + {teacher_weight:g} x {teacher}'s predictions."
        )
    if composition_baseline:
        print(
            "Elemental references first (ridge on the element fractions); the network "
            "learns what they leave."
        )
    plot = output_dir / f"parity_{target}.png"
    try:
        result, _ = train_and_evaluate(
            structures,
            y if auxiliary else y[:, 0],
            formulas,
            target=target,
            auxiliary_targets=auxiliary,
            model_params=model_params,
            random_states=seeds,
            plot_path=plot,
            save_path=save,
            units={target: unit} if unit else None,
            test_size=test_size,
            split_seed=split_seed,
            groups_name=f"the {group_column!r} column" if group_column else "reduced formulas",
            composition_baseline=composition_baseline,
            featurizer_params={"atom_features": atom_features} if atom_features else None,
            teacher=teacher_model,
            teacher_weight=teacher_weight,
            n_jobs=n_jobs,  # featurizing (CHGNet's atom features too); not saved in the file
        )
    except KeyboardInterrupt:
        if checkpoint_dir is not None:
            print(
                f"The training state of the unfinished models is in {checkpoint_dir}: "
                "the same command resumes them.",
                file=sys.stderr,
            )
        raise
    result["wall_seconds"] = round(time.perf_counter() - start, 1)
    result["fast"] = fast
    test, split = result["test"], result["split"]
    kept_apart = f"{group_column!r} labels" if group_column else "reduced formulas"
    print(
        f"\nTest split: {split['n_test']} structures whose {kept_apart} are not in "
        f"training ({split['n_train']}), GroupShuffleSplit test_size {split['test_size']:g} "
        f"seed {split['seed']}."
    )
    headline = headline_figures(test)
    shown_unit = f" {unit or MP_UNITS.get(target, '')}".rstrip()
    label = "Band gap" if target == "band_gap" else target
    print(
        f"{label}, all structures: MAE {headline['mae']:.3f}{shown_unit}, "
        f"RMSE {headline['rmse']:.3f}{shown_unit}, R² {headline['r2']:.3f}"
    )
    if "gap_positive" in test:
        gp = test["gap_positive"]
        print(
            f"Band gap, gap > 0 ({gp['n']}): MAE {gp['mae']:.3f} eV, "
            f"RMSE {gp['rmse']:.3f} eV, R² {gp['r2']:.3f}"
        )
    if "roc_auc" in test:
        print(
            f"Metal / non-metal ROC-AUC of the predicted gap: {test['roc_auc']:.3f}; balanced "
            f"accuracy {test['balanced_accuracy']:.3f} with 'metal' = predicted gap <= "
            f"{test['metal_threshold']:g} eV"
        )
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
    print(f"Wrote {output_dir / 'main_job.json'} and {plot}")
    if save is not None:
        print(f"Saved the model to {save} (sklearn-bandgap predict --model {save} ...)")
    return result


class StopWhenInterrupted(Callback):
    """A training callback: Ctrl-C ends the command, not only the fit it lands in.

    skorch catches ``KeyboardInterrupt`` and takes it as the end of training,
    so a seed ensemble would go on with its next model and the command would
    evaluate and save a half-trained one. At the end of every fit this
    callback raises the interrupt again if one arrived (remembered by
    :func:`~sklearn_bandgap.cli._interrupt.remembering_interrupts`).
    """

    def on_train_end(self, net: Any, **kwargs: Any) -> None:
        """Raise ``KeyboardInterrupt`` if Ctrl-C was pressed during this fit."""
        raise_if_interrupted()


def source_output_names(init: str, n_outputs: int) -> list[str] | None:
    """Names of the source network's outputs: a shipped recipe's columns or a file's outputs."""
    from sklearn_bandgap.io import read_metadata
    from sklearn_bandgap.pretrained._recipes import RECIPES

    if init in RECIPES:
        return list(RECIPES[init].columns)
    path = Path(init)
    if path.is_file():
        outputs = read_metadata(path)["metadata"].get("outputs")
        if isinstance(outputs, list) and len(outputs) == n_outputs:
            return [str(o["name"]) if isinstance(o, dict) else str(o) for o in outputs]
    return None


def source_output_columns(init: str, source: Any, wanted: list[str], n_targets: int) -> list[int]:
    """``--init-output`` values (names or indices) as column indices of the source network."""
    n_outputs = int(getattr(source, "n_outputs_", 0))
    if not n_outputs:
        raise UsageError(f"--init-output: {init} is not a regressor; its outputs are not targets")
    if len(wanted) != n_targets:
        raise UsageError(
            f"--init-output names {len(wanted)} output(s) for {n_targets} --target column(s): "
            "give one per target"
        )
    names = source_output_names(init, n_outputs)
    columns = []
    for value in wanted:
        if value.isdigit() and int(value) < n_outputs:
            columns.append(int(value))
        elif names is not None and value in names:
            columns.append(names.index(value))
        else:
            known = f"{names} or " if names else ""
            raise UsageError(
                f"--init-output {value}: {init} has {n_outputs} output(s): give "
                f"{known}an index 0 to {n_outputs - 1}"
            )
    return columns


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
        table=args.table,
        targets=args.target,
        structure_column=args.structure_column,
        group_column=args.group_column,
        unit=args.unit,
        init=args.init,
        init_output=args.init_output,
        loss=args.loss,
        batch_size=args.batch_size,
        ema_epochs=args.ema_epochs,
        lr_schedule=args.lr_schedule,
        message_layers=args.message_layers,
        output_weights=args.output_weights,
        missing_targets=args.missing_targets,
        atom_features=args.atom_features,
        distil_atom_features=args.distil_atom_features,
        test_size=args.test_size,
        split_seed=args.split_seed,
        composition_baseline=args.composition_baseline,
        teacher=args.teacher,
        teacher_weight=args.teacher_weight,
        checkpoint_dir=args.checkpoint_dir,
    )
    return 0
