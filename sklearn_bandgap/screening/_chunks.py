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
from sklearn_bandgap.utils._formulas import reduced_formula

#: The first chunk is small, so that the first rows come out at once.
FIRST_CHUNK = 32


@dataclass(frozen=True)
class ModelSpec:
    """A model to apply: its file and the names of the outputs it predicts."""

    path: str
    outputs: tuple[str, ...]

    def names(self) -> tuple[str, ...]:
        """The outputs' names: from the file's metadata, else ``output_0``, ``output_1``, ...

        Loads the model in this process when the file names none.
        """
        if self.outputs:
            return self.outputs
        count = model_output_count(_model(self.path)[-1])
        return tuple(f"output_{k}" for k in range(count))

    def columns(self) -> tuple[str, ...]:
        """Its CSV columns (:func:`output_columns`); loads the model in this process."""
        return output_columns(_model(self.path)[-1], self.names())


def model_output_count(model: Any) -> int:
    """How many values a fitted model predicts per structure (its outputs)."""
    from sklearn.pipeline import Pipeline

    if isinstance(model, Pipeline):
        return model_output_count(model[-1])
    if hasattr(model, "predict_interval") or getattr(model, "output_column", None) is not None:
        return 1  # conformal wrappers and single-column LSTMs
    count = getattr(model, "n_outputs_", None)
    if isinstance(count, int):
        return count
    for name in ("estimators_", "estimator_", "regressor_"):
        inner = getattr(model, name, None)
        if isinstance(inner, list | tuple):
            inner = inner[0] if inner else None
        if inner is not None:
            return model_output_count(inner)
    return 1


def resolve_model(name_or_path: str) -> ModelSpec:
    """A shipped model's name or a ``.safetensors`` path -> its file and output columns.

    The columns are the outputs the file names (its metadata: ``save(model, path,
    metadata={"outputs": [{"name": "band_gap", "unit": "eV"}, ...]})``, one entry
    per predicted value; ``output_0``, ``output_1``, ... when it names none), then, when the
    model has them, the spread of a seed ensemble's members (``<output>_std``,
    :meth:`~sklearn_bandgap.models.SeedEnsembleRegressor.predict` with
    ``return_std=True``), its conformal interval bounds (``<output>_low_<level>`` and
    ``<output>_high_<level>`` for each confidence level of a
    :class:`~sklearn_bandgap.models.ConformalRegressor`) and its metal
    probability (``metal_probability``, from a model with
    ``nonzero_probability`` such as
    :class:`~sklearn_bandgap.models.ZeroInflatedRegressor`).
    """
    from sklearn_bandgap.io import ModelFileError, read_metadata
    from sklearn_bandgap.pretrained import list_pretrained, pretrained_path
    from sklearn_bandgap.pretrained._registry import verify_shipped_file

    if name_or_path in list_pretrained():
        path = pretrained_path(name_or_path)
        verify_shipped_file(path)
    else:
        path = Path(name_or_path)
        if not path.is_file():
            shipped = ", ".join(list_pretrained())
            raise ModelFileError(path, f"neither a shipped model ({shipped}) nor a file")
    metadata = read_metadata(path)["metadata"]
    outputs = tuple(str(o["name"]) for o in metadata.get("outputs", []) if "name" in o)
    return ModelSpec(str(path), outputs)


def _has_intervals(final: Any, n_outputs: int) -> bool:
    return hasattr(final, "predict_interval") and n_outputs == 1


def _has_std(final: Any) -> bool:
    from sklearn_bandgap.models import (
        ConformalRegressor,
        PooledEnsembleRegressor,
        SeedEnsembleRegressor,
    )

    if isinstance(final, ConformalRegressor):
        return final.has_std()  # the spread of the ensemble it wraps
    return isinstance(final, SeedEnsembleRegressor | PooledEnsembleRegressor)


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

        model = load(path)  # a shipped file was checked against its card by resolve_model
        if not isinstance(model, Pipeline):
            # a model that reads neighbour lists gets the featurizer; one that reads
            # structures (e.g. a ConformalRegressor around a Pipeline) gets a passthrough
            first: Any = "passthrough"
            if takes_neighbor_lists(model):
                chgnet = _reads_atom_features(model)
                first = NeighborListFeaturizer(atom_features="chgnet" if chgnet else None)
            model = make_pipeline(first, model)
        _LOADED[path] = model
    return _LOADED[path]


def _reads_arrays(model: Any) -> bool:
    """True if a loaded model starts with the featurizer, which reads checked arrays as such."""
    from sklearn_bandgap.featurizers import NeighborListFeaturizer

    return isinstance(model[0], NeighborListFeaturizer)


def _reads_atom_features(model: Any) -> bool:
    """True if the (first) LSTM inside a bare model was fitted on lists with atom features."""
    from sklearn_bandgap.models._base import BaseNeighborLSTM
    from sklearn_bandgap.models._unwrap import find_inner

    return bool(getattr(find_inner(model, BaseNeighborLSTM), "n_atom_features_", 0))


def takes_neighbor_lists(model: Any) -> bool:
    """True if a fitted model reads neighbour lists (not structures) as its input.

    The package's LSTM estimators do; meta-estimators (seed ensembles,
    conformal or zero-inflated wrappers) read what their inner models read; a
    Pipeline starts from structures.
    """
    from sklearn.pipeline import Pipeline

    from sklearn_bandgap.models._base import BaseNeighborLSTM
    from sklearn_bandgap.models._unwrap import WRAPPED_ATTRIBUTES, inner_model

    if isinstance(model, Pipeline):
        return False
    if isinstance(model, BaseNeighborLSTM):
        return True
    inner = inner_model(model, (*WRAPPED_ATTRIBUTES, "estimator"))
    if inner is not None:
        return takes_neighbor_lists(inner)
    return True  # the package's other estimators read neighbour lists


def predicted_columns(model: Any, structures: list[Any], n_outputs: int) -> Any:
    """The values of :func:`output_columns` for ``structures``: shape (n, columns)."""
    import numpy as np

    final = model[-1]
    X = model[:-1].transform(structures) if len(model) > 1 else structures
    if _has_intervals(final, n_outputs):
        if _has_std(final):
            y_pred, intervals, y_std = final.predict_interval(X, return_std=True)
            blocks = [np.asarray(v, dtype=np.float64).reshape(-1, 1) for v in (y_pred, y_std)]
        else:
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

    from sklearn_bandgap.exceptions import StructureProblem
    from sklearn_bandgap.utils._validation import PeriodicArrays, read_periodic_arrays

    header = ["id", "formula", *[c for spec in specs for c in spec.columns()], "warning", "error"]
    n_outputs = len(header) - 4
    arrays = all(_reads_arrays(_model(spec.path)) for spec in specs)
    rows: list[list[Any]] = []
    valid, positions = [], []
    for item in items:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the reason goes to the error column
                parsed = parse_item(item, arrays=arrays)
        except Exception as exc:
            rows.append([item.id, "", *[""] * n_outputs, "", f"cannot read: {_reason(exc)}"])
            continue
        for row_id, structure in parsed:
            if isinstance(structure, Exception):
                rows.append(
                    [row_id, "", *[""] * n_outputs, "", f"cannot read: {_reason(structure)}"]
                )
                continue
            checked = read_periodic_arrays(structure, None)
            formula = (structure.formula if isinstance(structure, PeriodicArrays) else None) or (
                reduced_formula(structure) or ""
            )
            if isinstance(checked, StructureProblem):
                rows.append([row_id, formula, *[""] * n_outputs, "", f"invalid: {checked.reason}"])
                continue
            rows.append([row_id, formula, *[""] * n_outputs, "", ""])
            valid.append(structure)
            positions.append(len(rows) - 1)
    if not valid:
        return header, rows
    column = 2
    notes: dict[int, list[str]] = {}
    for spec in specs:
        width = len(spec.columns())
        predicted, failed, flagged = _predict_isolating_failures(
            _model(spec.path), valid, len(spec.names()), width
        )
        for index, reason in failed.items():
            rows[positions[index]][-1] = reason
        for index, reasons in flagged.items():
            known = notes.setdefault(positions[index], [])
            known.extend(r for r in reasons if r not in known)  # the models may flag it alike
        for index, (position, values) in enumerate(zip(positions, predicted, strict=True)):
            if index not in failed:
                rows[position][column : column + width] = [f"{v:.6f}" for v in values]
        column += width
    for position, reasons in notes.items():
        rows[position][-2] = "outside the training domain: " + "; ".join(reasons)
    for row in rows:  # a structure one model could not predict gets no values at all
        if row[-1]:
            row[2:-2] = [""] * n_outputs
            row[-2] = ""
    return header, rows


def _predict_flagging(
    model: Any, structures: list[Any], n_outputs: int, width: int
) -> tuple[Any, dict[int, list[str]]]:
    """:func:`predicted_columns`, and the reasons of the structures flagged out of domain."""
    import warnings

    from sklearn_bandgap.exceptions import ModelOutputError, OutOfDomainWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        values = predicted_columns(model, structures, n_outputs)
    if values.shape[1] != width:
        raise ModelOutputError(
            f"the model predicts {values.shape[1]} values per structure, but its file names "
            f"{width} column(s); save it with metadata={{'outputs': [{{'name': ...}}, ...]}}."
        )
    flagged: dict[int, list[str]] = {}
    for record in caught:
        if isinstance(record.message, OutOfDomainWarning):
            for problem in record.message.problems:
                if problem.index is not None:
                    reasons = flagged.setdefault(problem.index, [])
                    if problem.reason not in reasons:
                        reasons.append(problem.reason)
    return values, flagged


def _predict_isolating_failures(
    model: Any, structures: list[Any], n_outputs: int, width: int
) -> tuple[Any, dict[int, str], dict[int, list[str]]]:
    """Predict all together; if that fails, find the structures that fail and predict the rest.

    Returns the values (rows of failed structures are NaN), ``{index: reason}``
    of the failed ones and ``{index: reasons}`` of those flagged out of
    domain. A structure the featurizer rejects (``InvalidStructureError``
    names it by index) or that fails on its own never costs the others their
    predictions. A model whose outputs do not match its file fails whole
    (:class:`ModelOutputError`): that is the model's fault, not an input's.
    """
    import numpy as np

    from sklearn_bandgap.exceptions import InvalidStructureError, ModelOutputError

    failed: dict[int, str] = {}
    try:
        values, flagged = _predict_flagging(model, structures, n_outputs, width)
        return values, failed, flagged
    except ModelOutputError:
        raise
    except InvalidStructureError as exc:
        failed = {p.index: f"invalid: {p.reason}" for p in exc.problems if p.index is not None}
    except Exception:  # isolated one by one below
        pass
    values = np.full((len(structures), width), np.nan)
    flagged = {}
    pending = [i for i in range(len(structures)) if i not in failed]
    if failed and pending:  # the featurizer named the culprits: the others together
        try:
            block, block_flags = _predict_flagging(
                model, [structures[i] for i in pending], n_outputs, width
            )
            values[pending] = block
            flagged.update({pending[k]: reasons for k, reasons in block_flags.items()})
            pending = []
        except ModelOutputError:
            raise
        except Exception:  # one by one below
            pass
    for i in pending:  # one by one: slower, and only after a failure nobody placed
        try:
            block, block_flags = _predict_flagging(model, [structures[i]], n_outputs, width)
        except ModelOutputError:
            raise
        except Exception as exc:  # the reason goes to its error cell
            failed[i] = f"cannot predict: {_reason(exc)}"
            continue
        values[i] = block[0]
        if 0 in block_flags:
            flagged[i] = block_flags[0]
    return values, failed, flagged


def _reason(exc: Exception) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]


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
