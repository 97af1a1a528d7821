"""Prediction rows for structures, chunk by chunk: what ``sklearn-bandgap predict`` writes.

A chunk of :class:`~sklearn_bandgap.screening._sources.Item` becomes rows
``[id, formula, *predictions, warning, error]``; the models are loaded once
per process. The command line streams chunks through joblib workers
(:func:`predict_stream`), :func:`~sklearn_bandgap.screening.predict_dask`
through Dask partitions.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sklearn_bandgap.screening._sources import Item, parse_item

#: The first chunk is small, so that the first rows come out at once.
FIRST_CHUNK = 32


@dataclass(frozen=True)
class ModelSpec:
    """A model to apply: its file and the names of the outputs it predicts."""

    path: str
    outputs: tuple[str, ...]

    def columns(self) -> tuple[str, ...]:
        """Its CSV columns (:func:`output_columns`); loads the model in this process."""
        return output_columns(_model(self.path)[-1], self.outputs)


def resolve_model(name_or_path: str) -> ModelSpec:
    """A shipped model's name or a ``.safetensors`` path -> its file and output columns.

    The columns are the outputs the file names (its metadata), then, when the
    model has them, the spread of a seed ensemble's members (``<output>_std``,
    :meth:`~sklearn_bandgap.models.SeedEnsembleRegressor.predict` with
    ``return_std=True``), its conformal interval bounds (``<output>_low_<level>`` and
    ``<output>_high_<level>`` for each confidence level of a
    :class:`~sklearn_bandgap.models.ConformalRegressor`) and its metal
    probability (``metal_probability``, from a model with
    ``nonzero_probability`` such as
    :class:`~sklearn_bandgap.models.ZeroInflatedRegressor`).
    """
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


def _has_intervals(final: Any, n_outputs: int) -> bool:
    return hasattr(final, "predict_interval") and n_outputs == 1


def _has_std(final: Any) -> bool:
    from sklearn_bandgap.models import SeedEnsembleRegressor

    return isinstance(final, SeedEnsembleRegressor)


def _has_zero_probability(final: Any, n_outputs: int) -> bool:
    return hasattr(final, "nonzero_probability") and n_outputs == 1


def output_columns(final: Any, outputs: tuple[str, ...]) -> tuple[str, ...]:
    """The CSV columns of a model whose last step is ``final`` and whose outputs are named."""
    columns = list(outputs)
    if _has_std(final):
        columns += [f"{name}_std" for name in outputs]
    if _has_intervals(final, len(outputs)):
        for level in final.confidence_levels_:
            columns += [f"{outputs[0]}_low_{100 * level:g}", f"{outputs[0]}_high_{100 * level:g}"]
    if _has_zero_probability(final, len(outputs)):
        name = outputs[0]
        columns.append(
            "metal_probability" if name.startswith("band_gap") else f"{name}_zero_probability"
        )
    return tuple(columns)


_LOADED: dict[str, Any] = {}


def _model(path: str) -> Any:
    """The model in ``path`` as a Pipeline, loaded once per process (each worker loads its own)."""
    if path not in _LOADED:
        from sklearn.pipeline import Pipeline, make_pipeline

        from sklearn_bandgap.featurizers import NeighborListFeaturizer
        from sklearn_bandgap.io import load

        model = load(path)
        if not isinstance(model, Pipeline):  # a bare regressor reads neighbour lists
            model = make_pipeline(NeighborListFeaturizer(), model)
        _LOADED[path] = model
    return _LOADED[path]


def predicted_columns(model: Any, structures: list[Any], n_outputs: int) -> Any:
    """The values of :func:`output_columns` for ``structures``: shape (n, columns)."""
    import numpy as np

    final = model[-1]
    X = model[:-1].transform(structures) if len(model) > 1 else structures
    if _has_intervals(final, n_outputs):
        y_pred, intervals = final.predict_interval(X)
        blocks = [np.asarray(y_pred, dtype=np.float64).reshape(len(structures), -1)]
        for k in range(intervals.shape[2]):
            blocks += [intervals[:, 0, k, None], intervals[:, 1, k, None]]
    elif _has_std(final):
        y_pred, y_std = final.predict(X, return_std=True)
        blocks = [
            np.asarray(v, dtype=np.float64).reshape(len(structures), -1) for v in (y_pred, y_std)
        ]
    else:
        y_pred = np.asarray(final.predict(X), dtype=np.float64)
        blocks = [y_pred.reshape(len(structures), -1)]
    if _has_zero_probability(final, n_outputs):
        blocks.append(1.0 - np.asarray(final.nonzero_probability(X)).reshape(-1, 1))
    return np.hstack(blocks)


def predict_chunk(specs: list[ModelSpec], items: list[Item]) -> tuple[list[str], list[list[Any]]]:
    """The CSV header and rows ``[id, formula, *predictions, warning, error]`` of a chunk.

    The header comes from the models themselves (:func:`output_columns`), as
    they are loaded in the process that predicts, so the main process of a
    parallel run never loads them.

    Items that cannot be read or are not valid crystals get their reason in the
    ``error`` column and empty predictions; the others are predicted together.
    Structures a model flags as outside what it was fitted on (its
    :class:`~sklearn_bandgap.exceptions.OutOfDomainWarning`) are predicted and
    get the reason in the ``warning`` column.
    """
    import warnings

    from sklearn_bandgap.exceptions import OutOfDomainWarning, StructureProblem
    from sklearn_bandgap.utils._validation import read_periodic_arrays

    header = ["id", "formula", *[c for spec in specs for c in spec.columns()], "warning", "error"]
    n_outputs = len(header) - 4
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
        return header, rows
    column = 2
    notes: dict[int, list[str]] = {}
    for spec in specs:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            predicted = predicted_columns(_model(spec.path), valid, len(spec.outputs))
        for record in caught:
            if isinstance(record.message, OutOfDomainWarning):
                for problem in record.message.problems:
                    if problem.index is None:
                        continue
                    reasons = notes.setdefault(positions[problem.index], [])
                    if problem.reason not in reasons:  # the models may flag it alike
                        reasons.append(problem.reason)
        if predicted.shape[1] != len(spec.columns()):
            raise SystemExit(
                f"{spec.path} predicts {predicted.shape[1]} values per structure, but its file "
                f"names {len(spec.outputs)} output(s) {list(spec.outputs)}; save it with "
                "metadata={'outputs': [{'name': ...}, ...]}."
            )
        for position, values in zip(positions, predicted, strict=True):
            rows[position][column : column + len(values)] = [f"{v:.6f}" for v in values]
        column += len(spec.columns())
    for position, reasons in notes.items():
        rows[position][-2] = "outside the training domain: " + "; ".join(reasons)
    return header, rows


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
) -> Iterator[tuple[list[str], list[list[Any]]]]:
    """(header, rows) chunk by chunk, in input order; ``n_jobs`` > 1 runs chunks in workers.

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
