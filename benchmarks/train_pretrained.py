"""Regenerate every shipped pretrained model from the shipped MP data, and measure it.

For each recipe of :mod:`sklearn_bandgap.pretrained` (the settings and seeds of
the README's headline seed ensembles), this script

1. loads the 33,144 MP structures and makes the project's split (GroupShuffleSplit
   on reduced formulas, 10 % of the formulas held out, seed 0);
2. trains one ``NeighborLSTMRegressor`` per seed on the 90 % part, one torch
   thread each, two members at a time (joblib processes); each finished member
   is saved with :func:`sklearn_bandgap.io.save` (safetensors, no pickle) in
   ``--work-dir`` (default ``benchmarks/results/train_pretrained/members/``,
   committed, so that a run cut by the end of a session resumes in the next one
   on another machine where it stopped);
3. puts the members of each recipe into the ``SeedEnsembleRegressor`` they make
   (``SeedEnsembleRegressor.from_fitted``: the clones, one per seed, that the
   ensemble's ``fit`` trains; a member's weights are those of the seeding of the
   package version that trained it, which changed with commit cb0b7a9), wraps it
   in a ``ConformalRegressor`` conformalized on one half of the test formulas
   (68 % and 90 % intervals), after a ``NeighborListFeaturizer``; measures the
   pipeline once on the 10 % test split (the split no member saw, neither for
   training nor for early stopping; interval coverage on the other half), and
   writes the ``.safetensors`` model and its model card into the package
   (``sklearn_bandgap/pretrained/models/``), and a record with the figures,
   command, commit, machine and time under
   ``benchmarks/results/train_pretrained/<run>/``.

Usage::

    python benchmarks/train_pretrained.py                  # every shipped model
    python benchmarks/train_pretrained.py --train-only     # members only (checkpoints)
    python benchmarks/train_pretrained.py --models band_gap_mp2018
    python benchmarks/train_pretrained.py --models band_gap_mp2018 --seeds 0 1  # members 0, 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from dataclasses import replace
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
from _machine import cpu_model, git_commit, write_record
from _members import (
    checkpoint_paths,
    finished_member,
    member_settings,
    mp_neighbor_lists,
    unlabelled_crystal_lists,
    validation_rows,
)
from joblib import Parallel, delayed
from train_mp import parse_param

from sklearn_bandgap.datasets import load_mp_gap_eform
from sklearn_bandgap.datasets._mp import MP_TARGETS
from sklearn_bandgap.io import save
from sklearn_bandgap.model_selection import (
    SPLIT_RANDOM_STATE,
    SPLIT_TEST_SIZE,
    formula_group_split,
)
from sklearn_bandgap.models import NeighborLSTMRegressor, TrainingCheckpoint
from sklearn_bandgap.pretrained import load_pretrained
from sklearn_bandgap.pretrained._distillation import (
    distilled_targets,
    out_of_fold_labels,
    teacher_folds,
    teacher_labels,
    teacher_member,
    teacher_member_file,
    teacher_predictions,
    with_extra_crystals,
)
from sklearn_bandgap.pretrained._recipes import EXTRA_CRYSTAL_SETS, RECIPES, Recipe

RESULTS = Path(__file__).parent / "results" / "train_pretrained"
MEMBERS = RESULTS / "members"


def train_member(
    recipe: Recipe,
    seed: int,
    lists_train: Any,
    y_train: np.ndarray,
    work_dir: Path,
    threads: int | None = None,
    train_only: np.ndarray | None = None,
) -> dict[str, Any]:
    """Train one member with its seed and the recipe's torch threads; checkpoint it.

    ``train_only`` marks appended teacher-labelled crystals (``extra_crystals``):
    they train but never enter the validation part.
    """
    import torch

    warnings.simplefilter("ignore")
    threads = threads or recipe.torch_threads
    torch.set_num_threads(threads)
    model_path, info_path = checkpoint_paths(work_dir, recipe, seed)
    # saved after every epoch: a run cut off (session limit) resumes mid-member
    progress = TrainingCheckpoint(model_path.with_suffix(".partial.pt"))
    member = NeighborLSTMRegressor(
        **recipe.regressor_params, random_state=seed, verbose=1, callbacks=[progress]
    )
    start = time.perf_counter()
    member.fit(lists_train, y_train, train_only=train_only)
    seconds = time.perf_counter() - start
    history = member.net_.history_
    n_extra = 0 if train_only is None else int(train_only.sum())
    info = {
        "settings": member_settings(recipe, seed, len(y_train) - n_extra),
        "torch_threads": threads,
        "fit_seconds": round(seconds, 1),  # this run's; a resumed member's earlier runs aside
        "training_seconds": round(float(np.sum(history[:, "dur"])), 1),  # every epoch's
        "resumed_from_epoch": progress.resumed_from_epoch_,
        "epochs": len(history),
        "best_epoch": int(np.argmin(history[:, "valid_loss"])) + 1,
        "seconds_per_epoch_median": round(float(np.median(history[:, "dur"])), 2),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": cpu_model(),
    }
    if n_extra:
        info["extra_crystals"] = n_extra
    member.set_params(verbose=0)
    save(member, model_path, drop_callbacks=True)  # the saved parameters are the recipe's
    progress.path_.unlink(missing_ok=True)  # the member's result is now in model_path
    info_path.write_text(json.dumps(info, indent=2) + "\n")
    print(f"{recipe.name} seed {seed}: {info['epochs']} epochs in {seconds:.0f} s", flush=True)
    return info


def fold_teacher_recipe(student: Recipe, fold: int, max_epochs: int | None = None) -> Recipe:
    """The recipe of the student's out-of-fold teacher member for ``fold``.

    The teacher's own recipe under its own name with the fold appended (its
    members' files and settings say which fold they left out); ``--max-epochs``
    reaches it too, for a quick look.
    """
    assert student.teacher is not None
    teacher = RECIPES[student.teacher]
    params = dict(teacher.regressor_params)
    if max_epochs is not None:
        params["max_epochs"] = max_epochs
    name = f"{teacher.name}_fold{fold}of{student.teacher_folds}_for_{student.name}"
    return replace(teacher, name=name, regressor_params=params)


def fill_missing(targets: np.ndarray, train: np.ndarray, columns: list[str]) -> np.ndarray:
    """Fill each column's missing values with its median over the training rows (and say so).

    Only auxiliary columns have gaps (``efermi``: 2 of 33,144 crystals); the
    headline targets have none, so their figures are untouched.
    """
    filled = targets.copy()
    for k, column in enumerate(columns):
        missing = np.isnan(filled[:, k])
        if missing.any():
            median = float(np.nanmedian(filled[train, k]))
            filled[missing, k] = median
            print(f"{column}: {int(missing.sum())} missing values filled with {median:.4g}")
    return filled


def with_extra_columns(recipe: Recipe, extra: tuple[str, ...]) -> Recipe:
    """The recipe with auxiliary target columns appended after its own.

    The pipeline still predicts the recipe's target alone (``output_column``) and
    an appended band gap is clipped at 0 like the headline one.
    """
    repeated = [c for c in extra if c in recipe.columns]
    if repeated or len(set(extra)) < len(extra):
        raise SystemExit(f"--extra-columns {list(extra)}: {recipe.name} learns {recipe.columns}")
    columns = recipe.columns + extra
    params = dict(recipe.regressor_params)
    params.setdefault("output_column", columns.index(recipe.target))
    if "band_gap" in extra:
        clipped = params.get("nonnegative", [])
        if isinstance(clipped, bool):
            clipped = range(len(recipe.columns)) if clipped else []
        params["nonnegative"] = sorted({*clipped, columns.index("band_gap")})
    return replace(recipe, columns=columns, outputs=recipe.outputs + extra, regressor_params=params)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--work-dir", type=Path, default=None, help="member checkpoints")
    parser.add_argument("--n-jobs", type=int, default=2, help="members trained at once")
    parser.add_argument("--train-only", action="store_true", help="stop after the members")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads per member (recorded)"
    )
    parser.add_argument("--run", default=None, help="name of the record's run folder")
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=None,
        help="train only these of the recipes' seeds (what fits in a session; with --train-only)",
    )
    parser.add_argument(
        "--max-epochs", type=int, default=None, help="override, for a quick look only"
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a regressor parameter of every recipe (e.g. ema_epochs=2: a candidate "
        "recipe; its members differ in settings, so give them their own --work-dir)",
    )
    parser.add_argument(
        "--extra-columns",
        nargs="+",
        default=[],
        choices=list(MP_TARGETS),
        help="auxiliary targets appended to every recipe's columns (a candidate recipe: give "
        "it its own --work-dir); a missing value is filled with the training part's median; "
        "the recipe's model still predicts its own target alone (output_column)",
    )
    parser.add_argument(
        "--atom-features",
        choices=["chgnet"],
        default=None,
        help="every recipe's featurizer attaches CHGNet's atom features (a candidate recipe: "
        "give it its own --work-dir); the MP set's are computed once and cached",
    )
    parser.add_argument(
        "--teacher",
        default=None,
        choices=list(RECIPES),
        help="distil: every recipe's members train on DFT targets blended with the prediction "
        "of this shipped model's member of the same seed, taken from the shipped file (a "
        "candidate recipe: give it its own --work-dir)",
    )
    parser.add_argument(
        "--teacher-weight", type=float, default=0.5, help="the teacher's share of the blend"
    )
    parser.add_argument(
        "--teacher-folds",
        type=int,
        default=0,
        help="with --teacher: out-of-fold teacher labels from this many teacher members per "
        "student seed, each trained (with the teacher's recipe, into --work-dir) on all folds "
        "of the student's fit part but one (Recipe.teacher_folds)",
    )
    parser.add_argument(
        "--extra-crystals",
        choices=list(EXTRA_CRYSTAL_SETS),
        default=None,
        help="every recipe's members also train on these crystals, labelled by the recipe's "
        "teacher's member of the same seed, other columns missing; never in the validation "
        "part, test formulas left out (a candidate recipe: give it its own --work-dir)",
    )
    parser.add_argument(
        "--note", default=None, help="a decision or caveat, written into the record and the cards"
    )
    args = parser.parse_args()
    work_dir = args.work_dir or MEMBERS
    work_dir.mkdir(parents=True, exist_ok=True)
    warnings.simplefilter("ignore")
    started = time.perf_counter()
    recipes = [RECIPES[name] for name in args.models]
    overrides = dict(parse_param(text) for text in args.param)
    if args.max_epochs is not None:
        overrides["max_epochs"] = args.max_epochs
    if overrides:
        recipes = [
            replace(r, regressor_params={**r.regressor_params, **overrides}) for r in recipes
        ]
    if args.extra_columns:
        recipes = [with_extra_columns(r, tuple(args.extra_columns)) for r in recipes]

    if args.atom_features:
        recipes = [
            replace(r, featurizer_params={**r.featurizer_params, "atom_features": "chgnet"})
            for r in recipes
        ]

    if args.teacher_folds and not args.teacher:
        raise SystemExit("--teacher-folds needs --teacher.")
    if args.teacher:
        recipes = [
            replace(
                r,
                teacher=args.teacher,
                teacher_weight=args.teacher_weight,
                teacher_members=None,
                teacher_folds=args.teacher_folds,
            )
            for r in recipes
        ]

    if args.extra_crystals:
        if any(r.teacher is None for r in recipes):
            raise SystemExit("--extra-crystals needs a recipe with a teacher (or --teacher).")
        if any(r.teacher_folds for r in recipes):
            raise SystemExit("--extra-crystals and out-of-fold teachers do not combine.")
        recipes = [
            replace(
                r,
                extra_crystals=args.extra_crystals,
                regressor_params={**r.regressor_params, "missing_targets": "ignore"}
                if len(r.columns) > 1
                else r.regressor_params,
            )
            for r in recipes
        ]

    fold_teachers = {  # (student recipe, fold): the teacher's recipe for that fold's member
        (r.name, k): fold_teacher_recipe(r, k, args.max_epochs)
        for r in recipes
        for k in range(r.teacher_folds)
    }
    columns = list(dict.fromkeys(c for r in [*recipes, *fold_teachers.values()] for c in r.columns))
    data = load_mp_gap_eform(target=columns, n_jobs=2, progress=False)
    train, test = formula_group_split(data.formula)
    print(f"Loaded {len(data.data)} structures: {len(train)} train, {len(test)} test.", flush=True)
    targets = fill_missing(np.asarray(data.target, dtype=np.float64), train, columns)
    atom_features = {r.featurizer_params.get("atom_features") for r in recipes}
    if len(atom_features) > 1:
        raise SystemExit("train recipes with and without atom features in separate runs.")
    lists = mp_neighbor_lists(data.data, atom_features.pop())
    lists_train = lists[train]

    def y_of(recipe: Recipe, rows: np.ndarray) -> np.ndarray:
        picked = [columns.index(c) for c in recipe.columns]
        y = targets[rows][:, picked]
        return y[:, 0] if len(picked) == 1 else y

    jobs = [
        (recipe, seed)
        for recipe in recipes
        for seed in recipe.random_states
        if (args.seeds is None or seed in args.seeds)
        and not finished_member(work_dir, recipe, seed, len(train))
    ]
    print(f"Members to train: {[(r.name, s) for r, s in jobs]} (checkpoints in {work_dir})")
    teachers: dict[str, Any] = {}  # each teacher loaded once, its lists built once
    teacher_lists: dict[str, Any] = {}

    def training_lists(features: str | None) -> Any:
        """The training part's lists with these atom features (built once each)."""
        if features not in teacher_lists:
            teacher_lists[features] = (
                lists_train if features is None else mp_neighbor_lists(data.data, features)[train]
            )
        return teacher_lists[features]

    student_folds: dict[tuple[str, int], np.ndarray] = {}

    def folds_of(recipe: Recipe, seed: int) -> np.ndarray:
        """Fold of each training row for the student's out-of-fold teacher; -1: validation."""
        if (recipe.name, seed) not in student_folds:
            student = NeighborLSTMRegressor(**recipe.regressor_params, random_state=seed)
            student_folds[recipe.name, seed] = teacher_folds(
                np.asarray(data.formula)[train],
                validation_rows(student, lists_train),
                recipe.teacher_folds,
                seed,
            )
        return student_folds[recipe.name, seed]

    def fold_teacher_rows(recipe: Recipe, seed: int, k: int) -> np.ndarray:
        """Training rows the teacher member of fold ``k`` trains on: the other folds."""
        folds = folds_of(recipe, seed)
        return np.flatnonzero((folds >= 0) & (folds != k))

    def fold_teacher_data(recipe: Recipe, seed: int, k: int) -> tuple[Any, np.ndarray]:
        """The lists and targets the teacher member of fold ``k`` trains on."""
        fold_recipe = fold_teachers[recipe.name, k]
        rows = fold_teacher_rows(recipe, seed, k)
        features = fold_recipe.featurizer_params.get("atom_features")
        return training_lists(features)[rows], y_of(fold_recipe, train[rows])

    def out_of_fold_teacher(recipe: Recipe, seed: int) -> np.ndarray:
        """Each training row's label by the fold member that did not train on it."""
        folds = folds_of(recipe, seed)
        predictions = []
        for k in range(recipe.teacher_folds):
            fold_recipe = fold_teachers[recipe.name, k]
            path = checkpoint_paths(work_dir, fold_recipe, seed)[0]
            lists_k = training_lists(fold_recipe.featurizer_params.get("atom_features"))
            predictions.append(teacher_predictions(teacher_member_file(path, seed), lists_k))
        labels = out_of_fold_labels(predictions, folds)
        dft = targets[train, columns.index(recipe.target)]
        for part, rows in (("fit part", folds >= 0), ("validation part", folds < 0)):
            error = np.mean(np.abs(labels[rows] - dft[rows]))
            print(f"{recipe.name} seed {seed}: out-of-fold teacher MAE on the {part} {error:.4f}")
        return labels

    def the_teacher_member(recipe: Recipe, seed: int) -> tuple[Any, str | None]:
        """The teacher's member of ``seed`` and the atom features its featurizer attaches."""
        assert recipe.teacher is not None
        if recipe.teacher_members is not None:
            stem = RESULTS / recipe.teacher_members / f"{recipe.teacher}_seed{seed}"
            info = json.loads(stem.with_suffix(".json").read_text())
            member = teacher_member_file(stem.with_suffix(".safetensors"), seed)
            return member, info["settings"].get("featurizer_params", {}).get("atom_features")
        if recipe.teacher not in teachers:
            teachers[recipe.teacher] = load_pretrained(recipe.teacher)
        teacher = teachers[recipe.teacher]
        return teacher_member(teacher, seed), teacher[0].get_params().get("atom_features")

    def training_data(recipe: Recipe, seed: int) -> tuple[Any, np.ndarray, np.ndarray | None]:
        """The member's lists, targets and ``train_only`` mask.

        DFT targets, blended with its teacher's if the recipe has one; then the
        recipe's extra crystals, labelled by the same teacher member, if any.
        """
        y = y_of(recipe, train)
        if recipe.teacher is None:
            return lists_train, y, None
        if recipe.teacher_folds:
            predicted = out_of_fold_teacher(recipe, seed)
            source = f"out of {recipe.teacher_folds} folds"
        else:
            member, features = the_teacher_member(recipe, seed)
            predicted = teacher_predictions(member, training_lists(features))
            source = recipe.teacher_members or "shipped file"
        column = recipe.columns.index(recipe.target)
        error = np.mean(np.abs(predicted - targets[train, columns.index(recipe.target)]))
        print(
            f"{recipe.name} seed {seed}: teacher {recipe.teacher} ({source}) member MAE on the "
            f"training part {error:.4f}",
            flush=True,
        )
        y = distilled_targets(y, predicted, recipe.teacher_weight, column)
        if recipe.extra_crystals is None:
            return lists_train, y, None
        extra = extra_crystal_lists(recipe.extra_crystals, features)
        kept, labels = teacher_labels(
            member, extra["teacher"], extra["formula"], exclude_formulas=test_formulas
        )
        print(
            f"{recipe.name} seed {seed}: {len(kept)} of {len(extra['formula'])} extra crystals "
            f"({recipe.extra_crystals}) labelled by the teacher (mean {labels.mean():.3f})",
            flush=True,
        )
        return with_extra_crystals(lists_train, y, extra["student"].take(kept), labels, column)

    extra_sets: dict[tuple[str, str | None], dict[str, Any]] = {}
    test_formulas = set(np.asarray(data.formula)[test])

    def extra_crystal_lists(name: str, features: str | None) -> dict[str, Any]:
        """The extra crystals' lists as the student and as the teacher read them (once each)."""
        if (name, features) not in extra_sets:
            extra_sets[name, features] = unlabelled_crystal_lists(name, features)
        return extra_sets[name, features]

    fold_jobs = [
        (recipe, seed, k)
        for recipe, seed in jobs
        for k in range(recipe.teacher_folds)
        if not finished_member(
            work_dir,
            fold_teachers[recipe.name, k],
            seed,
            len(fold_teacher_rows(recipe, seed, k)),
        )
    ]
    if fold_jobs:
        print(f"Teacher members to train first: {[(r.name, s, k) for r, s, k in fold_jobs]}")
    Parallel(n_jobs=args.n_jobs, verbose=0)(
        delayed(train_member)(fold_teachers[recipe.name, k], seed, *data_k, work_dir, args.threads)
        for recipe, seed, k in fold_jobs
        for data_k in [fold_teacher_data(recipe, seed, k)]
    )
    Parallel(n_jobs=args.n_jobs, verbose=0)(
        delayed(train_member)(recipe, seed, lists_m, y_m, work_dir, args.threads, train_only)
        for recipe, seed in jobs
        for lists_m, y_m, train_only in [training_data(recipe, seed)]
    )
    if args.train_only or args.seeds is not None:
        print(f"Members trained in {time.perf_counter() - started:.0f} s; stopping (--train-only).")
        return

    from export_pretrained import export_recipe  # the second phase, beside this script

    run = args.run or datetime.now(UTC).strftime("%Y-%m-%d")
    record: dict[str, Any] = {
        "benchmark": "train_pretrained",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "commit": git_commit(),
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "platform": platform.platform()},
        "versions": {p: version(p) for p in ("sklearn_bandgap", "torch", "scikit-learn")},
        "data": {"set": "mp_gap_eform", "n_structures": len(data.data)},
        "split": {
            "kind": "GroupShuffleSplit on reduced formulas",
            "test_size": SPLIT_TEST_SIZE,
            "seed": SPLIT_RANDOM_STATE,
            "n_train": len(train),
            "n_test": len(test),
        },
        "models": {},
    }
    if args.note:
        record["note"] = args.note
    for recipe in recipes:
        record["models"][recipe.name] = export_recipe(
            recipe,
            work_dir=work_dir,
            lists_train=lists_train,
            y_train=y_of(recipe, train),
            test_structures=[data.data[i] for i in test],
            y_test=y_of(recipe, test),
            formulas_test=np.asarray(data.formula)[test],
            record=record,
            plot_path=RESULTS / run / f"{recipe.name}_parity.png",
        )
    record["wall_seconds_this_run"] = round(time.perf_counter() - started, 1)
    write_record(RESULTS / run / "record.json", record)


if __name__ == "__main__":
    main()
