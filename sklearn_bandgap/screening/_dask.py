"""Screening past one machine: the rows of ``sklearn-bandgap predict`` computed by Dask.

Two entry points, both on :func:`~sklearn_bandgap.screening._chunks.predict_chunk`
(so the columns, the ``error`` and ``warning`` policies and the numbers are
those of the command line):

- :func:`predict_dask` maps a lazy Dask collection (a ``dask.bag`` of file
  paths, CIF/POSCAR texts or ``(id, source)`` pairs, or a ``dask.dataframe``
  with a structure column) to a lazy ``dask.dataframe`` of prediction rows,
  one partition per input partition, ready for ``to_parquet``/``to_csv``;
- :func:`predict_stream_dask` streams chunks of items through a
  ``dask.distributed.Client`` in input order with a bounded number in flight
  (what ``sklearn-bandgap predict --scheduler ADDRESS`` uses).

The models are read from their ``.safetensors`` files once per worker process
(shipped models come with the package; a model of your own must be a file the
workers can read). A worker that dies mid-task costs only a recomputation: every
task is a pure function of its chunk.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd

from sklearn_bandgap.screening._chunks import ModelSpec, chunks, predict_chunk, resolve_model
from sklearn_bandgap.screening._sources import Item, table_item

__all__ = ["predict_dask", "predict_stream_dask", "rows_to_frame"]


def rows_to_frame(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """Rows of :func:`predict_chunk` as a typed frame: predictions float (NaN if none)."""
    frame = pd.DataFrame(list(rows), columns=list(header), dtype=object)
    for column in header[2:-2]:
        frame[column] = pd.to_numeric(frame[column].replace("", np.nan), errors="raise").astype(
            np.float64
        )
    for column in ("id", "formula", "warning", "error"):
        frame[column] = frame[column].astype(str)
    return frame


def _item(element: Any) -> Item:
    """A bag element as an item: a path, text, a Structure (or its dict), or (id, source)."""
    if isinstance(element, tuple) and len(element) == 2:
        row_id, source = element
        item = _item(source)
        return Item(str(row_id), item.source, item.kind, item.base, item.error)
    if hasattr(element, "lattice") and hasattr(element, "sites"):  # a Structure or IStructure
        return Item(f"structure-{_digest(repr(element.as_dict()))}", element, "structure")
    if isinstance(element, dict):
        return Item(f"dict-{_digest(repr(sorted(element.items())))}", element, "dict")
    if isinstance(element, str) and "\n" in element:
        return Item(f"text-{_digest(element)}", element, "text")
    if isinstance(element, str):
        return Item(element, element)
    return Item(
        repr(element)[:60],
        error=f"not a path, CIF/POSCAR text, Structure or dict ({element!r:.40})",
    )


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:12]


def _bag_partition(elements: Iterable[Any], specs: list[ModelSpec]) -> pd.DataFrame:
    items = [_item(element) for element in elements]
    header, rows = predict_chunk(specs, items)
    return rows_to_frame(header, rows)


def _frame_partition(
    frame: pd.DataFrame, specs: list[ModelSpec], structure_column: str, id_column: str | None
) -> pd.DataFrame:
    ids = frame[id_column] if id_column is not None else frame.index
    items = [
        table_item(str(row_id), value, "")
        for row_id, value in zip(ids, frame[structure_column], strict=True)
    ]
    header, rows = predict_chunk(specs, items)
    return rows_to_frame(header, rows).set_index(frame.index)


def _specs(model: str, formation_energy: bool) -> list[ModelSpec]:
    names = [model]
    if formation_energy:
        names.append("formation_energy_mp2018")
    return [resolve_model(name) for name in names]


def predict_dask(
    structures: Any,
    model: str = "band_gap_mp2018",
    *,
    formation_energy: bool = False,
    structure_column: str = "structure",
    id_column: str | None = None,
) -> Any:
    """Prediction rows for a Dask collection of structures, as a lazy Dask DataFrame.

    Parameters
    ----------
    structures : dask.bag.Bag or dask.dataframe.DataFrame
        A bag of file paths, CIF or POSCAR texts, pymatgen Structures or their
        dicts, or ``(id, source)`` pairs (give ids to Structures: without, their
        id is a digest of their content); or a DataFrame with the structures (the same
        kinds) in ``structure_column``.
    model : str, default="band_gap_mp2018"
        A shipped model's name or a ``.safetensors`` file every worker can read.
    formation_energy : bool, default=False
        Also predict the formation energy (shipped ``formation_energy_mp2018``).
    structure_column : str, default="structure"
        Column of a DataFrame holding the structures.
    id_column : str or None, default=None
        Column of a DataFrame naming its rows (default: its index). A bag's ids
        are the paths, ``text-<sha1>`` of texts, or the ids of ``(id, source)``.

    Returns
    -------
    predictions : dask.dataframe.DataFrame
        One partition per input partition, the columns of ``sklearn-bandgap
        predict`` (``id``, ``formula``, the model outputs as float64, NaN where
        an input failed, ``warning``, ``error``). Write it with ``to_parquet``
        or ``to_csv``; nothing runs before.

    Examples
    --------
    >>> import dask.bag as db  # doctest: +SKIP
    >>> from sklearn_bandgap.screening import predict_dask  # doctest: +SKIP
    >>> paths = db.from_sequence(sorted(glob.glob("candidates/*.cif")), 64)  # doctest: +SKIP
    >>> predict_dask(paths).to_parquet("predictions/")  # doctest: +SKIP
    """
    import dask.bag as db
    import dask.dataframe as dd

    specs = _specs(model, formation_energy)
    header, _ = predict_chunk(specs, [])  # the columns, from the models themselves
    meta = rows_to_frame(header, [])
    if isinstance(structures, db.Bag):
        from dask import delayed

        partitions = [delayed(_bag_partition)(part, specs) for part in structures.to_delayed()]
        return dd.from_delayed(partitions, meta=meta, verify_meta=False)
    if isinstance(structures, dd.DataFrame):
        if structure_column not in structures.columns:
            raise ValueError(
                f"no column {structure_column!r} in the DataFrame; columns: "
                f"{list(structures.columns)}"
            )
        return structures.map_partitions(
            _frame_partition, specs, structure_column, id_column, meta=meta
        )
    raise TypeError(
        f"structures must be a dask.bag.Bag or a dask.dataframe.DataFrame, got "
        f"{type(structures).__name__}; for lists use sklearn-bandgap predict or the model."
    )


def predict_stream_dask(
    specs: list[ModelSpec],
    items: Iterable[Item],
    client: Any,
    *,
    chunk_size: int,
    max_pending: int | None = None,
) -> Iterator[tuple[list[str], list[list[Any]]]]:
    """``(header, rows)`` chunk by chunk, in input order, computed on a Dask cluster.

    At most ``max_pending`` chunks (default: two per worker thread) are in
    flight, so memory stays bounded whatever the number of items; a chunk
    whose worker dies is recomputed by the scheduler.
    """
    if max_pending is None:
        max_pending = 2 * max(sum(client.nthreads().values()), 1)
    pending: deque[Any] = deque()
    for chunk in chunks(items, chunk_size):
        pending.append(client.submit(predict_chunk, specs, chunk, pure=False))
        if len(pending) >= max_pending:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()
