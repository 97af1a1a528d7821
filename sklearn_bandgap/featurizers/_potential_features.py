"""Per-atom features of CHGNet, a pretrained universal interatomic potential."""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Sequence
from functools import lru_cache, partial
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from joblib import Parallel, delayed

from sklearn_bandgap.datasets._cache import load_or_build, remove_cache_files
from sklearn_bandgap.exceptions import InvalidStructureError, StructureProblem
from sklearn_bandgap.utils._parallel import map_chunks
from sklearn_bandgap.utils._validation import PeriodicArrays, check_structures

if TYPE_CHECKING:
    from pymatgen.core import Structure

#: Pretrained CHGNet weights that ship inside the ``chgnet`` wheel.
CHGNET_MODELS = ("0.3.0", "0.2.0", "r2scan")
#: CHGNet's element embedding covers H (1) to Pu (94): its own limit, below the
#: package's (utils._elements.MAX_ATOMIC_NUMBER, 118).
CHGNET_MAX_ATOMIC_NUMBER = 94
#: Structures per CHGNet batch: 16 to 32 ran at the same speed on one core.
CHGNET_BATCH_SIZE = 32
#: Structures per cached chunk of :func:`cached_chgnet_atom_features`: the 33k MP
#: structures take over an hour on one core, so a run cut off (e.g. by a time
#: limit) resumes from its last finished chunk of a few minutes.
CHGNET_CACHE_CHUNK = 2000
#: Structures per task when :func:`chgnet_atom_features` runs in several processes:
#: a few seconds of work each, so that the processes stay busy to the end.
CHGNET_PARALLEL_CHUNK = 128
CHGNET_INSTALL_HINT = (
    "CHGNet (the pretrained potential) is an optional dependency; its wheel carries the "
    'pretrained weights: pip install "sklearn_bandgap[potential]".'
)


@lru_cache(maxsize=4)
def load_chgnet(model: str = "0.3.0", device: str = "cpu") -> Any:
    """The CHGNet model named ``model`` from the ``chgnet`` wheel, in eval mode (cached).

    Loading reads the weights shipped in the wheel (nothing is downloaded);
    the loaded model is kept, so that featurizing many batches loads it once.
    """
    try:
        from chgnet.model import CHGNet
    except ImportError as exc:  # pragma: no cover - chgnet is in the dev extras
        raise ImportError(CHGNET_INSTALL_HINT) from exc
    with contextlib.redirect_stdout(io.StringIO()):  # it prints its size and device
        potential = CHGNet.load(model_name=model, use_device=device, verbose=False)
    potential.eval()
    # An atom with no neighbour within 6 Å (a sparse or vacuum-padded cell) gets the
    # features of its element alone: CHGNet's bond weights fall smoothly to 0 at the
    # cutoff, so that is the limit of a neighbour moving away, not an error.
    potential.graph_converter.on_isolated_atoms = "ignore"
    return potential


def _structure(arrays: PeriodicArrays) -> Any:
    from pymatgen.core import Lattice, Structure

    return Structure(
        Lattice(arrays.lattice),
        arrays.atomic_numbers.tolist(),
        arrays.cart_coords,
        coords_are_cartesian=True,
    )


def chgnet_atom_features(
    structures: list[PeriodicArrays],
    *,
    model: str = "0.3.0",
    device: str = "cpu",
    batch_size: int = CHGNET_BATCH_SIZE,
    indices: list[int | None] | None = None,
    n_jobs: int | None = None,
) -> list[np.ndarray]:
    """CHGNet's feature vector of every atom of every structure, in site order.

    The vector is CHGNet's atom feature after its interaction blocks (the one
    its magnetic-moment readout reads, ``return_atom_feas=True``): a learned
    description of each atom's chemical environment within 6 Å, trained on the
    Materials Project relaxation trajectories (MPtrj). CHGNet's graph weighs
    neighbours down smoothly to 0 at its cutoffs, so the features are
    continuous functions of the positions, and they are invariant to
    rotation, translation, site order and the choice of (super)cell.

    Parameters
    ----------
    structures : list of PeriodicArrays
        Structures as read by the package's input layer.
    model : {"0.3.0", "0.2.0", "r2scan"}, default="0.3.0"
        Which CHGNet weights of the wheel.
    device : str, default="cpu"
        Torch device of the potential.
    batch_size : int, default=CHGNET_BATCH_SIZE
        Structures per CHGNet batch.
    indices : list of int or None, default=None
        Position of each structure in the user's input, for error messages
        (default: ``0, 1, ...``).
    n_jobs : int, default=None
        Processes (joblib semantics: None is 1 unless inside
        ``joblib.parallel_config``, -1 is all cores). Each process loads CHGNet
        once and featurizes chunks of ``CHGNET_PARALLEL_CHUNK`` structures; the
        features do not depend on it.

    Returns
    -------
    features : list of ndarray of shape (n_atoms_i, 64)
        float32, one array per structure.

    Raises
    ------
    InvalidStructureError
        Naming every structure CHGNet cannot read (an element above Pu, Z = 94,
        or a graph CHGNet fails to build), with its index and formula.
    """
    indices = list(range(len(structures))) if indices is None else indices
    problems = _unknown_elements(structures, indices)
    if problems:
        raise InvalidStructureError(problems)
    results = map_chunks(
        partial(_features_or_problems, model=model, device=device, batch_size=batch_size),
        list(zip(indices, structures, strict=True)),
        n_jobs=n_jobs,
        chunk_size=CHGNET_PARALLEL_CHUNK,
    )
    problems = [result for result in results if isinstance(result, StructureProblem)]
    if problems:
        raise InvalidStructureError(problems)
    return [result for result in results if isinstance(result, np.ndarray)]


def _features_or_problems(
    chunk: Sequence[tuple[int | None, PeriodicArrays]],
    start: int,
    *,
    model: str,
    device: str,
    batch_size: int,
) -> list[np.ndarray | StructureProblem]:
    """Each structure's atom features, or the problem CHGNet had with it (a map_chunks task)."""
    import torch

    potential = load_chgnet(model, device)
    results: list[np.ndarray | StructureProblem] = []
    with torch.no_grad():
        for first in range(0, len(chunk), batch_size):
            batch = chunk[first : first + batch_size]
            try:
                results.extend(_predict(potential, [item for _, item in batch], batch_size))
            except (ValueError, RuntimeError, IndexError):
                # find the culprits one by one, so that the error names them all
                for index, item in batch:
                    try:
                        results.extend(_predict(potential, [item], 1))
                    except (ValueError, RuntimeError, IndexError) as exc:
                        results.append(
                            StructureProblem(index, item.formula, f"CHGNet failed: {exc}")
                        )
    return results


def _stacked_features(chunk: list[PeriodicArrays], model: str, rows: list[int]) -> np.ndarray:
    """The atom features of ``chunk`` stacked (``rows``: the structures' indices)."""
    return np.concatenate(chgnet_atom_features(chunk, model=model, indices=list(rows)))


def _cached_chunk(
    source: Path,
    chunk: list[PeriodicArrays],
    model: str,
    start: int,
    *,
    cache: bool,
    cache_dir: str | os.PathLike[str] | None,
    derived: str,
) -> np.ndarray:
    """One chunk of :func:`cached_chgnet_atom_features`, read from or written to its cache."""
    n_atoms = sum(len(item.atomic_numbers) for item in chunk)
    rows = list(range(start, start + len(chunk)))
    return load_or_build(
        source,
        partial(_stacked_features, chunk, model, rows),
        cache=cache,
        cache_dir=cache_dir,
        validate=partial(_holds_rows, n_rows=n_atoms),
        derived=derived,
    )


def _holds_rows(obj: Any, n_rows: int) -> bool:
    return isinstance(obj, np.ndarray) and obj.shape[0] == n_rows


def _unknown_elements(
    structures: Sequence[PeriodicArrays], indices: Sequence[int | None]
) -> list[StructureProblem]:
    """The structures holding an element CHGNet does not know, named by index and formula."""
    return [
        _beyond_chgnet(index, item.formula, int(item.atomic_numbers.max()))
        for index, item in zip(indices, structures, strict=True)
        if item.atomic_numbers.max() > CHGNET_MAX_ATOMIC_NUMBER
    ]


def chgnet_domain_problems(structures: Sequence[Structure]) -> list[StructureProblem]:
    """The structures CHGNet's atom features cannot describe, before any is computed.

    CHGNet knows the elements up to Pu (Z = 94). Checking a whole table first
    names every such row by its position in ``structures`` (a featurizer run on
    a training part or a fold would count within that part).

    Parameters
    ----------
    structures : sequence of pymatgen Structure
        The structures, as read (e.g. by :func:`~sklearn_bandgap.datasets.load_table`).

    Returns
    -------
    problems : list of StructureProblem
        One per structure holding an element beyond Pu, in input order (empty
        if there is none).
    """
    problems = []
    for index, structure in enumerate(structures):
        heaviest = max(element.Z for element in structure.composition.elements)
        if heaviest > CHGNET_MAX_ATOMIC_NUMBER:
            formula = structure.composition.reduced_formula
            problems.append(_beyond_chgnet(index, formula, heaviest))
    return problems


def _beyond_chgnet(index: int | None, formula: str | None, atomic_number: int) -> StructureProblem:
    return StructureProblem(
        index,
        formula,
        f"holds Z={atomic_number}; CHGNet's atom features know elements "
        f"up to Z={CHGNET_MAX_ATOMIC_NUMBER} (Pu).",
    )


def _predict(potential: Any, batch: list[PeriodicArrays], batch_size: int) -> list[np.ndarray]:
    outputs = potential.predict_structure(
        [_structure(item) for item in batch],
        task="e",
        return_atom_feas=True,
        batch_size=batch_size,
    )
    if isinstance(outputs, dict):
        outputs = [outputs]
    return [np.asarray(out["atom_fea"], dtype=np.float32) for out in outputs]


def cached_chgnet_atom_features(
    source: str | os.PathLike[str],
    structures: Sequence[Any],
    *,
    model: str = "0.3.0",
    part: str | None = None,
    cache: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    chunk_size: int = CHGNET_CACHE_CHUNK,
    progress: bool = False,
    n_jobs: int | None = None,
) -> np.ndarray:
    """CHGNet atom features of a data file's structures, computed once and cached.

    The features of the 33,144 MP structures take over an hour on one core;
    like the parsed structures, they are cached keyed by the data file's
    content (and the CHGNet model and library versions), so later runs read
    them in a second. They are computed in chunks of ``chunk_size`` structures,
    each cached as it finishes: a run that is cut off resumes from its last
    finished chunk, and the chunk files are removed once the whole is cached.

    Parameters
    ----------
    source : path-like
        The data file the structures were read from (the cache key).
    structures : sequence of structures
        All of the file's structures, in its order (e.g.
        ``load_mp_gap_eform().data``).
    model : str, default="0.3.0"
        Which CHGNet weights of the wheel.
    part : str, default=None
        Which of the file's structures, when it holds more than one kind (e.g.
        ``"relaxed"`` for the NREL pairs): part of the cache key.
    cache, cache_dir
        As in :func:`~sklearn_bandgap.datasets.load_mp_gap_eform`.
    chunk_size : int, default=CHGNET_CACHE_CHUNK
        Structures per cached chunk (part of the chunks' cache key only).
    progress : bool, default=False
        Print one line to stderr per finished chunk while computing.
    n_jobs : int, default=None
        Processes computing chunks at once (joblib semantics: None is 1 unless
        inside ``joblib.parallel_config``, -1 is all cores); each chunk is
        cached by the process that computed it.

    Returns
    -------
    atom_features : ndarray of shape (n_total_atoms, 64)
        float32, the structures' atoms stacked in order: the ``atom_features``
        of the matching :class:`NeighborLists`.

    Raises
    ------
    InvalidStructureError
        Before any chunk is computed, naming every structure that holds an
        element CHGNet does not know; otherwise as :func:`chgnet_atom_features`
        (indices are positions in ``structures``).
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive number of structures, got {chunk_size}.")
    n_total = sum(len(structure) for structure in structures)
    derived = ("" if part is None else f"{part}-") + f"chgnet{model}-{version('chgnet')}"
    bounds = [
        (start, min(start + chunk_size, len(structures)))
        for start in range(0, len(structures), chunk_size)
    ]

    def chunk_name(start: int, stop: int) -> str:
        return f"{derived}-rows{start}-{stop}"

    built = []  # whether this call computed the whole (and so may leave chunk files)

    def build() -> np.ndarray:
        built.append(True)
        items = check_structures(structures)
        problems = _unknown_elements(items, list(range(len(items))))
        if problems:
            raise InvalidStructureError(problems)
        chunks = Parallel(n_jobs=n_jobs, return_as="generator")(
            delayed(_cached_chunk)(
                Path(source),
                items[start:stop],
                model,
                start,
                cache=cache,
                cache_dir=cache_dir,
                derived=chunk_name(start, stop),
            )
            for start, stop in bounds
        )
        parts = []
        for (_, stop), part in zip(bounds, chunks, strict=True):
            parts.append(part)
            if progress:
                print(
                    f"CHGNet atom features: {stop}/{len(items)} structures",
                    file=sys.stderr,
                    flush=True,
                )
        return np.concatenate(parts)

    features: np.ndarray = load_or_build(
        Path(source),
        build,
        cache=cache,
        cache_dir=cache_dir,
        validate=partial(_holds_rows, n_rows=n_total),
        derived=derived,
    )
    if cache and built:
        for start, stop in bounds:
            remove_cache_files(Path(source), cache_dir, chunk_name(start, stop))
    return features
