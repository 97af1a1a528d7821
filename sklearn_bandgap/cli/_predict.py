"""``sklearn-bandgap predict``: a CSV of predictions for structure files, streamed in chunks."""

from __future__ import annotations

import argparse
import csv
import itertools
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from sklearn_bandgap.cli._sources import Item, iter_items, parse_item

#: The first chunk is small, so that the first rows come out at once.
FIRST_CHUNK = 32


@dataclass(frozen=True)
class ModelSpec:
    """A model to apply: its file and the names of its output columns."""

    path: str
    outputs: tuple[str, ...]


def resolve_model(name_or_path: str) -> ModelSpec:
    """A shipped model's name or a ``.safetensors`` path -> its file and output columns."""
    from sklearn_bandgap.io import read_metadata
    from sklearn_bandgap.pretrained import list_pretrained, pretrained_path

    if name_or_path in list_pretrained():
        path = pretrained_path(name_or_path)
    else:
        path = Path(name_or_path)
        if not path.is_file():
            shipped = ", ".join(list_pretrained())
            raise SystemExit(
                f"--model {name_or_path!r}: neither a shipped model ({shipped}) nor a file."
            )
    metadata = read_metadata(path)["metadata"]
    outputs = tuple(o["name"] for o in metadata.get("outputs", [])) or (path.stem,)
    return ModelSpec(str(path), outputs)


_LOADED: dict[str, Any] = {}


def _model(spec: ModelSpec) -> Any:
    """The model of ``spec``, loaded once per process (each worker loads its own)."""
    if spec.path not in _LOADED:
        from sklearn.pipeline import Pipeline, make_pipeline

        from sklearn_bandgap.featurizers import NeighborListFeaturizer
        from sklearn_bandgap.io import load

        model = load(spec.path)
        if not isinstance(model, Pipeline):  # a bare regressor reads neighbour lists
            model = make_pipeline(NeighborListFeaturizer(), model)
        _LOADED[spec.path] = model
    return _LOADED[spec.path]


def predict_chunk(specs: list[ModelSpec], items: list[Item]) -> list[list[Any]]:
    """Rows ``[id, formula, *predictions, warning, error]`` for one chunk of items.

    Items that cannot be read or are not valid crystals get their reason in the
    ``error`` column and empty predictions; the others are predicted together.
    Structures a model flags as outside what it was fitted on (its
    :class:`~sklearn_bandgap.exceptions.OutOfDomainWarning`) are predicted and
    get the reason in the ``warning`` column.
    """
    import warnings

    import numpy as np

    from sklearn_bandgap.exceptions import OutOfDomainWarning, StructureProblem
    from sklearn_bandgap.utils._validation import read_periodic_arrays

    n_outputs = sum(len(spec.outputs) for spec in specs)
    rows: list[list[Any]] = []
    valid, positions = [], []
    for item in items:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the reason goes to the error column
                structure = parse_item(item)
        except Exception as exc:
            rows.append([item.id, "", *[""] * n_outputs, "", f"cannot read: {_reason(exc)}"])
            continue
        checked = read_periodic_arrays(structure, None)
        formula = _formula(structure)
        if isinstance(checked, StructureProblem):
            rows.append([item.id, formula, *[""] * n_outputs, "", f"invalid: {checked.reason}"])
            continue
        rows.append([item.id, formula, *[""] * n_outputs, "", ""])
        valid.append(structure)
        positions.append(len(rows) - 1)
    if not valid:
        return rows
    column = 2
    notes: dict[int, list[str]] = {}
    for spec in specs:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            predicted = np.asarray(_model(spec).predict(valid), dtype=np.float64)
        for record in caught:
            if isinstance(record.message, OutOfDomainWarning):
                for problem in record.message.problems:
                    if problem.index is None:
                        continue
                    reasons = notes.setdefault(positions[problem.index], [])
                    if problem.reason not in reasons:  # the models may flag it alike
                        reasons.append(problem.reason)
        predicted = predicted.reshape(len(valid), -1)
        if predicted.shape[1] != len(spec.outputs):
            raise SystemExit(
                f"{spec.path} predicts {predicted.shape[1]} values per structure, but its file "
                f"names {len(spec.outputs)} output(s) {list(spec.outputs)}; save it with "
                "metadata={'outputs': [{'name': ...}, ...]}."
            )
        for position, values in zip(positions, predicted, strict=True):
            rows[position][column : column + len(values)] = [f"{v:.6f}" for v in values]
        column += len(spec.outputs)
    for position, reasons in notes.items():
        rows[position][-2] = "outside the training domain: " + "; ".join(reasons)
    return rows


def _reason(exc: Exception) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]


def _formula(structure: Any) -> str:
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="No Pauling electronegativity")
            return str(structure.composition.reduced_formula)
    except Exception:
        return ""


def chunks(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    """Consecutive lists of items: a small first one, then ``size`` each."""
    iterator = iter(items)
    first = list(itertools.islice(iterator, min(FIRST_CHUNK, size)))
    if first:
        yield first
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def predict_stream(
    specs: list[ModelSpec], items: Iterable[Item], *, n_jobs: int, chunk_size: int
) -> Iterator[list[list[Any]]]:
    """Rows chunk by chunk, in input order; with ``n_jobs`` > 1 chunks run in joblib workers.

    Workers get chunks as they free up (at most two pending per worker), so
    memory stays bounded whatever the number of inputs; each worker loads the
    models once.
    """
    from joblib import Parallel, delayed, effective_n_jobs

    if effective_n_jobs(n_jobs) == 1:
        for chunk in chunks(items, chunk_size):
            yield predict_chunk(specs, chunk)
        return
    parallel = Parallel(n_jobs=n_jobs, return_as="generator", pre_dispatch="2*n_jobs")
    yield from parallel(delayed(predict_chunk)(specs, chunk) for chunk in chunks(items, chunk_size))


def _list_models(out: TextIO) -> int:
    from sklearn_bandgap.pretrained import list_pretrained, model_card

    for name in list_pretrained():
        card = model_card(name)
        test = card["test"]
        mae = test["all"]["mae"] if "all" in test else test["mae"]
        unit = card["outputs"][0]["unit"]
        out.write(
            f"{name}: {card['description']}; test MAE {mae:.3f} {unit} "
            f"({card['split']['n_test']} structures of unseen formulas)\n"
        )
    return 0


def run(args: argparse.Namespace) -> int:
    """Carry out ``sklearn-bandgap predict``."""
    if args.list_models:
        return _list_models(sys.stdout)
    from tqdm.auto import tqdm

    from sklearn_bandgap.pretrained import DEFAULT_MODEL

    names = [args.model or DEFAULT_MODEL]
    if args.formation_energy:
        names.append("formation_energy_mp2018")
    specs = [resolve_model(name) for name in names]
    columns = ["id", "formula", *[o for spec in specs for o in spec.outputs], "warning", "error"]
    items = iter_items(
        args.inputs,
        structure_column=args.structure_column,
        id_column=args.id_column,
        recursive=args.recursive,
    )
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    out = sys.stdout if args.output == "-" else open(args.output, "w", newline="")
    failures: list[list[Any]] = []
    n_rows = 0
    try:
        writer = csv.writer(out)
        writer.writerow(columns)
        with tqdm(unit=" structures", disable=not progress, file=sys.stderr) as bar:
            for rows in predict_stream(
                specs, items, n_jobs=args.n_jobs, chunk_size=max(args.chunk_size, 1)
            ):
                writer.writerows(rows)
                out.flush()
                n_rows += len(rows)
                failures.extend(row for row in rows if row[-1])
                bar.update(len(rows))
    finally:
        if out is not sys.stdout:
            out.close()
    where = "" if args.output == "-" else f" to {args.output}"
    print(
        f"{n_rows - len(failures)} of {n_rows} structures predicted{where}"
        + (f"; {len(failures)} failed (their error column says why):" if failures else "."),
        file=sys.stderr,
    )
    for row in failures[:10]:
        print(f"  {row[0]}: {row[-1]}", file=sys.stderr)
    if len(failures) > 10:
        print(f"  ... and {len(failures) - 10} more", file=sys.stderr)
    return 1 if failures or n_rows == 0 else 0
