"""The ``sklearn-bandgap`` command: predict, demo, train, compare, tune, translate.

Only argparse is imported here; each subcommand imports what it needs when it
runs, so ``sklearn-bandgap --help`` answers at once.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

__all__ = ["build_parser", "compare_main", "main"]

#: subcommand -> module whose ``run(args)`` carries it out.
_HANDLERS = {
    "predict": "sklearn_bandgap.cli._predict",
    "demo": "sklearn_bandgap.cli._demo",
    "train": "sklearn_bandgap.cli._train",
    "compare": "sklearn_bandgap.cli._compare",
    "tune": "sklearn_bandgap.cli._tune",
    "translate": "sklearn_bandgap.cli._translate",
    "serve": "sklearn_bandgap.cli._serve",
}

#: ``train --fast``: a seeded subset and few epochs, for a first result in minutes.
FAST_SUBSET, FAST_EPOCHS = 8000, 8


def _version() -> str:
    try:
        return version("sklearn_bandgap")
    except PackageNotFoundError:  # pragma: no cover - run from a source tree
        from sklearn_bandgap import __version__

        return __version__


def _add_table_arguments(p: argparse.ArgumentParser, *, target_help: str) -> None:
    """Your own table (``train`` and ``tune``): file, targets, structure and group columns."""
    p.add_argument(
        "table",
        nargs="?",
        type=Path,
        default=None,
        help="your own table of structures and targets (default: the shipped MP set)",
    )
    p.add_argument("--target", action="append", default=None, help=target_help)
    p.add_argument(
        "--structure-column",
        default=None,
        help="the table's structure column (default: structure, cif or poscar)",
    )
    p.add_argument(
        "--group-column",
        default=None,
        help="labels kept on one side of every split (default: the reduced formulas)",
    )
    p.add_argument(
        "--missing-targets",
        choices=["error", "ignore"],
        default="error",
        help="an empty target cell (or NaN in the MP set's efermi): refused (error, the "
        "default), or a value that was not measured and is left out of the loss and the "
        "figures (ignore: missing_targets='ignore'); a row needs at least one target",
    )


def _add_atom_features_argument(p: argparse.ArgumentParser) -> None:
    """``--atom-features`` (``train`` and ``tune``): CHGNet's atom features as inputs."""
    p.add_argument(
        "--atom-features",
        choices=["chgnet"],
        default=None,
        help="each atom also gets the 64 features of the pretrained potential CHGNet "
        '(pip install "sklearn_bandgap[potential]"; about 30 structures/s on one core, '
        "elements up to Pu); default: none",
    )


def _add_predict(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict",
        help="predict band gaps (and more) of your own structure files with a shipped model",
        description="Predict properties of crystal structures with a shipped or saved model. "
        "Inputs: CIF and POSCAR files (any name: POSCAR, CONTCAR, *.vasp, ...), folders "
        "(their *.cif, *.mcif, *.vasp, POSCAR* and CONTCAR* files), glob patterns, and "
        "CSV/JSON tables with a structure column (CIF or POSCAR text, file paths, or "
        "pymatgen Structure dicts). Writes one CSV row per structure: id, reduced formula, "
        "predictions, warning (out of the training domain), error. Files are read and "
        "predicted in chunks, so memory stays "
        "bounded; the output file is replaced only when complete. Exit status 0 when every "
        "input was predicted, 1 if any failed (each is named in its error column), 2 for a "
        "usage or output error, 130 when interrupted.",
    )
    p.add_argument(
        "inputs",
        nargs="*",
        help="files, folders, glob patterns or CSV/JSON tables; - reads one structure "
        "(CIF or POSCAR text) from standard input",
    )
    p.add_argument(
        "--model",
        default=None,
        help="shipped model name or .safetensors path (default: band_gap_mp2018; "
        "see --list-models)",
    )
    p.add_argument(
        "--formation-energy",
        action="store_true",
        help="also predict the formation energy (shipped formation_energy_mp2018 model)",
    )
    p.add_argument("-o", "--output", default="-", help="CSV file to write (default: stdout)")
    p.add_argument(
        "--structure-column", default=None, help="column of tables holding the structures"
    )
    p.add_argument("--id-column", default=None, help="column of tables naming each row")
    p.add_argument("--recursive", action="store_true", help="look into sub-folders too")
    p.add_argument("--n-jobs", type=int, default=1, help="processes (default 1; -1: all cores)")
    p.add_argument("--chunk-size", type=int, default=512, help="structures per chunk")
    p.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="a running Dask scheduler (e.g. tcp://host:8786): chunks run on its workers "
        "instead of --n-jobs local processes (needs the dask extra)",
    )
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: when stderr is a terminal)",
    )
    p.add_argument("--list-models", action="store_true", help="list the shipped models and exit")


def _add_demo(sub: argparse._SubParsersAction) -> None:
    sub.add_parser(
        "demo",
        help="the main job: shipped models on example crystals and on the project's test split",
        description="Predict the shipped example crystals with the shipped band-gap and "
        "formation-energy models, then measure both models on the project's test split "
        "(10 % of the MP formulas, seed 0, which the shipped models never saw) and write "
        "a parity plot. A few minutes on 2 cores; training from scratch is `train`.",
    ).add_argument("--output-dir", type=Path, default=Path("results"), help="where the figures go")


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a model on the MP set or your own table and measure it on a test split",
        description="Train NeighborListFeaturizer + NeighborLSTMRegressor on a seeded 90 % "
        "group split (reduced formulas, or --group-column) of the MP set (band gap, with "
        "the formation energy as a second target unless --band-gap-only) or of your own "
        "table (TABLE --target COLUMN [--target ANOTHER ...]: a CSV or JSON file, "
        "compressed or not, with a structure column of CIF or POSCAR text, file paths or "
        "pymatgen dicts), and report test MAE, RMSE, R² (band gaps: also gap > 0 and the "
        "metal/non-metal ROC-AUC) and the wall time; writes a parity plot and the figures "
        "(JSON); --save keeps the model, its outputs named after the targets.",
    )
    _add_table_arguments(
        p,
        target_help="a column to learn, repeatable, the headline first (MP set default: "
        "band_gap and formation_energy_per_atom)",
    )
    p.add_argument("--unit", default=None, help="unit of the headline target, for the figures")
    p.add_argument(
        "--init",
        default=None,
        help="fine-tune: start from this shipped model's (or saved file's) network, with a "
        "new output layer for the target(s)",
    )
    p.add_argument(
        "--teacher",
        default=None,
        metavar="MODEL",
        help="distil: train on the headline target blended with this shipped model's (or "
        "saved file's) prediction of it, --teacher-weight of the teacher (the test figures "
        "use the table's values); e.g. band_gap_mp2018_chgnet, whose distillation made "
        "band_gap_mp2018's members 5-7 %% better on their validation parts",
    )
    p.add_argument(
        "--teacher-weight",
        type=float,
        default=0.5,
        help="the teacher's share of the blended target, in [0, 1] (default 0.5)",
    )
    p.add_argument(
        "--init-output",
        nargs="+",
        default=None,
        metavar="OUTPUT",
        help="with --init: start each target's output from this output of the source (name "
        "or index, one per --target; e.g. formation_energy_per_atom of band_gap_mp2018), "
        "rescaled to the target by least squares, instead of a new output layer",
    )
    p.add_argument(
        "--subset",
        choices=["full", "sample200"],
        default="full",
        help="the 33k-structure MP set (default) or its 200-row sample",
    )
    p.add_argument(
        "--fast",
        action="store_true",
        help=f"{FAST_SUBSET} structures and {FAST_EPOCHS} epochs: a first result in minutes",
    )
    p.add_argument(
        "--max-epochs",
        type=int,
        default=200,
        help="upper bound; early stopping (patience 15) ends training before it",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=128,
        help="crystals per batch (default 128; on ~1,000 crystals 32 trained better, see "
        "the docs' fine-tuning measurements)",
    )
    p.add_argument(
        "--ema-epochs",
        type=float,
        default=0.0,
        help="train with a moving average of the weights spanning this many epochs "
        "(ema_epochs; 0: the raw weights; 2 was 2.7 %% and 16 %% better for the band-gap and "
        "formation-energy members on their validation parts, see the docs' measurements)",
    )
    p.add_argument(
        "--lr-schedule",
        choices=["plateau", "cosine"],
        default="plateau",
        help="learning-rate schedule: halve it when the validation loss stalls (plateau, the "
        "default) or anneal it to 0 along a cosine over --max-epochs (cosine)",
    )
    p.add_argument(
        "--message-layers",
        type=int,
        default=0,
        help="rounds of messages between neighbouring atoms, each atom's vector updated from "
        "its listed neighbours' (message_layers; default 0 as in the shipped band-gap models; "
        "formation_energy_mp2018 has 2)",
    )
    p.add_argument(
        "--checkpoint-dir",
        type=Path,
        default=None,
        help="save each model's training state there after every epoch; the same command "
        "run again resumes a run cut off (or stopped with Ctrl-C) from its last epoch, with "
        "the result of a run never cut; models that had ended are not trained again (their "
        "files keep the result: remove the folder when done)",
    )
    _add_atom_features_argument(p)
    p.add_argument(
        "--distil-atom-features",
        type=float,
        default=0.0,
        metavar="WEIGHT",
        help="with --atom-features: learn those features as per-atom targets (this weight "
        "times their squared error joins the training loss) instead of reading them, so "
        "that the saved model predicts without CHGNet, at the speed of a model without "
        "them; only the training part is run through CHGNet; default: 0 (read them)",
    )
    p.add_argument(
        "--n-jobs",
        type=int,
        default=-1,
        help="processes for parsing the CIFs and featurizing, CHGNet's atom features "
        "included (default: all; the saved model does not keep it)",
    )
    p.add_argument(
        "--band-gap-only",
        action="store_true",
        help="train on the band gap alone (default: band gap and formation energy together)",
    )
    p.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=None,
        help="train one model per seed and average them (default: one model, seed 0)",
    )
    p.add_argument(
        "--loss",
        choices=["l1", "mse", "huber"],
        default="l1",
        help="training loss on the standardized targets (default l1; mse for a mostly-zero "
        "target, whose median is 0)",
    )
    p.add_argument(
        "--output-weights",
        type=float,
        nargs="+",
        default=None,
        metavar="W",
        help="one positive loss weight per --target, in order (output_weights): the "
        "headline target can count more than auxiliary ones, e.g. 1 0.25 (default: alike)",
    )
    p.add_argument(
        "--composition-baseline",
        action="store_true",
        help="elemental references first (a ridge regression on the element fractions), the "
        "network on what they leave: for energies per atom (CompositionBaselineRegressor)",
    )
    p.add_argument(
        "--test-size",
        type=float,
        default=0.1,
        help="fraction of the groups held out for the test figures (default 0.1)",
    )
    p.add_argument("--split-seed", type=int, default=0, help="seed of the group split (default 0)")
    p.add_argument("--save", type=Path, default=None, help="write the model (.safetensors)")
    p.add_argument("--output-dir", type=Path, default=Path("results"), help="where the figures go")


def _add_compare(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="compare the LSTM pipeline with matminer baselines on your own CSV",
        description="Compare the LSTM pipeline with the matminer baselines on a CSV with one "
        "row per crystal: a structure column (CIF text, or a path relative to the CSV's "
        "folder) and a numeric target column. Folds are GroupKFold on reduced formulas. "
        "Writes comparison.csv and comparison.png.",
    )
    p.add_argument("csv", type=Path, help="one row per crystal")
    p.add_argument("--target", required=True, help="column of the property to predict")
    p.add_argument("--structure-column", default="cif", help="CIF text or file paths")
    p.add_argument(
        "--group-column",
        default=None,
        help="labels kept on one side of every fold (default: the reduced formulas)",
    )
    p.add_argument("--folds", type=int, default=5, help="GroupKFold splits on the groups")
    p.add_argument(
        "--estimators",
        nargs="+",
        choices=("lstm", "lstm_chgnet", "rf_scm_magpie", "rf_magpie", "mean"),
        default=["lstm", "rf_scm_magpie", "rf_magpie", "mean"],
        help="what to compare: the LSTM pipeline, the same with CHGNet's atom features "
        '(lstm_chgnet; pip install "sklearn_bandgap[potential]"; computed again in every '
        "fold) and the matminer baselines",
    )
    p.add_argument(
        "--pretrained",
        nargs="+",
        default=[],
        help="also compare shipped models, frozen (never refitted), e.g. band_gap_mp2018; "
        "refused when the model's output is not the --target column",
    )
    p.add_argument(
        "--same-quantity",
        action="store_true",
        help="--target holds what the --pretrained models predict, in their unit, under "
        "another column name",
    )
    p.add_argument("--n-estimators", type=int, default=500, help="trees of the forests")
    p.add_argument("--max-epochs", type=int, default=200, help="LSTM epochs at most")
    p.add_argument("--n-jobs", type=int, default=None, help="featurizer and forest workers")
    p.add_argument("--unit", default="", help="unit of the target, for the plot")
    p.add_argument(
        "--output-dir",
        type=Path,
        default=Path("comparison"),
        help="where comparison.csv and comparison.png go",
    )


def _add_tune(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tune",
        help="one Optuna tuning worker on the training split of the MP set or your table "
        "(start several to share)",
        description="Tune NeighborListFeaturizer + NeighborLSTMRegressor on the training part "
        "of the seeded 90/10 group split of the MP set or of your own table (TABLE --target "
        "COLUMN ...; the test part is never seen; with several targets the first is scored). "
        "Start the same command on as many processes or machines as you like, all with one "
        "storage: they share the study until it holds --n-trials finished trials. Across "
        "machines use an RDB URL all reach, e.g. postgresql://user:password@host/optuna.",
    )
    p.add_argument(
        "--storage", required=True, help="sqlite:///x.db, postgresql://..., or a journal file"
    )
    p.add_argument("--study-name", required=True, help="the study every worker shares")
    p.add_argument(
        "--n-trials", type=int, default=40, help="finished trials in the study, all workers"
    )
    p.add_argument("--timeout", type=float, default=None, help="seconds for this worker")
    _add_table_arguments(
        p,
        target_help="a column to learn, repeatable, the scored one first (MP set: band_gap or "
        "formation_energy_per_atom; default band_gap)",
    )
    p.add_argument("--subset", default="full", choices=["full", "sample200"], help="which MP set")
    p.add_argument("--n", type=int, default=None, help="seeded random subset of the structures")
    p.add_argument("--max-epochs", type=int, default=60, help="epochs per trial at most")
    p.add_argument("--threads", type=int, default=1, help="torch threads of this worker")
    _add_atom_features_argument(p)
    p.add_argument(
        "--n-jobs",
        type=int,
        default=None,
        help="processes for featurizing, once before the trials (CHGNet's atom features "
        "included; default 1, -1: all cores)",
    )


def _add_translate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "translate",
        help="turn unrelaxed structures into predicted relaxed ones (RelaxationTranslator)",
        description="Translate unrelaxed structures (prototype guesses) into predicted "
        "DFT-relaxed ones with a saved translator, writing one CIF per structure and a CSV "
        "of volume changes. --train fits a RelaxationTranslator on the shipped NREL pairs "
        "(about 10 minutes on 2 cores) and --save keeps it.",
    )
    p.add_argument("inputs", nargs="*", help="files, folders, glob patterns or CSV/JSON tables")
    p.add_argument("--model", type=Path, default=None, help="a saved translator (.safetensors)")
    p.add_argument(
        "--train", action="store_true", help="fit a RelaxationTranslator on the NREL pairs"
    )
    p.add_argument("--save", type=Path, default=None, help="where --train writes the translator")
    p.add_argument("--max-epochs", type=int, default=150, help="--train: epochs at most")
    p.add_argument("--output-dir", type=Path, default=Path("translated"), help="where the CIFs go")
    p.add_argument(
        "--structure-column", default=None, help="column of tables holding the structures"
    )
    p.add_argument("--recursive", action="store_true", help="look into sub-folders too")


def _add_serve(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="a web page and an HTTP API for predictions (needs the serve extra)",
        description="Serve the shipped models: a page at / (drop files, see and download "
        "the rows) and an HTTP API (POST /api/predict, GET /api/models; schema at "
        "/openapi.json) with the rows of sklearn-bandgap predict. Listens on this machine "
        "only unless --host says otherwise. Needs pip install 'sklearn_bandgap[serve]'.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=8000, help="port to listen on")
    p.add_argument(
        "--model",
        default=None,
        help="shipped model name or .safetensors path (default: band_gap_mp2018)",
    )
    p.add_argument("--workers", type=int, default=1, help="prediction worker processes")
    p.add_argument(
        "--max-structures", type=int, default=5000, help="structures per request at most"
    )
    p.add_argument("--max-request-mb", type=float, default=50.0, help="request size at most")
    p.add_argument(
        "--timeout", type=float, default=120.0, help="seconds of prediction per request at most"
    )


def build_parser() -> argparse.ArgumentParser:
    """The command line parser (cheap: no subcommand's code is imported)."""
    parser = argparse.ArgumentParser(
        prog="sklearn-bandgap",
        description="Crystal property prediction (band gap, formation energy) as "
        "scikit-learn estimators. Start with `sklearn-bandgap predict my.cif`.",
    )
    parser.add_argument("--version", action="version", version=f"sklearn_bandgap {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands = (_add_predict, _add_demo, _add_train, _add_compare, _add_tune, _add_translate)
    for add in (*commands, _add_serve):
        add(sub)
    for command in sub.choices.values():  # --help shows every default
        command.formatter_class = argparse.ArgumentDefaultsHelpFormatter
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``sklearn-bandgap``; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    from sklearn_bandgap.cli._errors import EXIT_USAGE, UsageError
    from sklearn_bandgap.cli._interrupt import remembering_interrupts, was_interrupted
    from sklearn_bandgap.exceptions import InvalidStructureError, ModelOutputError

    with remembering_interrupts():
        try:
            handler = importlib.import_module(_HANDLERS[args.command])
            status: int = handler.run(args)
        except (UsageError, ModelOutputError, InvalidStructureError) as exc:
            # InvalidStructureError: inputs that cannot be featurized (coinciding atoms,
            # ...), every one named by its row; predict reports them row by row instead
            if was_interrupted():  # e.g. an import cut short by Ctrl-C
                return _interrupted(args.command)
            notes = "".join(f"\n{note}" for note in getattr(exc, "__notes__", []))
            print(f"sklearn-bandgap {args.command}: error: {exc}{notes}", file=sys.stderr)
            return EXIT_USAGE
        except KeyboardInterrupt:
            return _interrupted(args.command)
        except BaseException:
            # Ctrl-C during the lazy import of a compiled extension surfaces as
            # "ImportError: initialization failed": still an interruption
            if was_interrupted():
                return _interrupted(args.command)
            raise
    return status


def _interrupted(command: str) -> int:
    from sklearn_bandgap.cli._errors import EXIT_INTERRUPTED

    print(
        f"sklearn-bandgap {command}: interrupted; an existing output was left as it was.",
        file=sys.stderr,
    )
    return EXIT_INTERRUPTED


def compare_main(argv: list[str] | None = None) -> int:
    """``sklearn-bandgap-compare``: the same as ``sklearn-bandgap compare``."""
    return main(["compare", *(sys.argv[1:] if argv is None else argv)])
