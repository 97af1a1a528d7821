"""``NeighborListFeaturizer``: per-atom nearest-neighbour lists of crystals."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
from matminer.featurizers.base import BaseFeaturizer
from pymatgen.core import IStructure
from sklearn.base import _fit_context
from sklearn.utils import Tags
from sklearn.utils._param_validation import Interval, StrOptions

from sklearn_bandgap.exceptions import InvalidStructureError, StructureProblem
from sklearn_bandgap.featurizers._neighbor_lists import NeighborLists
from sklearn_bandgap.featurizers._potential_features import CHGNET_MODELS, chgnet_atom_features
from sklearn_bandgap.featurizers._search import nearest_neighbors_batch
from sklearn_bandgap.utils import map_chunks
from sklearn_bandgap.utils._validation import (
    PeriodicArrays,
    as_item_list,
    read_periodic_arrays,
)

_Features = tuple[np.ndarray, ...]


def _refuse_error_rows(ignore_errors: bool, return_errors: bool) -> None:
    """Refuse matminer's NaN-row modes, which its ``transform`` always requests.

    This is how a ``MultipleFeaturizer`` (or any matminer batch path that wants a
    2-D matrix) is recognised without looking at the caller.
    """
    if ignore_errors or return_errors:
        raise ValueError(
            "NeighborListFeaturizer does not turn failures into NaN rows "
            "(ignore_errors/return_errors must be False; matminer's transform and "
            "fit_transform, MultipleFeaturizer's included, always pass ignore_errors=True). "
            "The InvalidStructureError it raises lists every offending item, to fix or "
            "drop them. " + _NOT_TABULAR
        )


_NOT_TABULAR = (
    "NeighborListFeaturizer's output is ragged (one row of n_neighbors + 1 neighbours per "
    "atom, and structures have different numbers of atoms), so it cannot be columns of "
    "MultipleFeaturizer's 2-D feature matrix. Use it alone: in a Pipeline before "
    "NeighborLSTMRegressor (transform gives NeighborLists), or featurize_dataframe(df, "
    "'structure') to keep each structure's two arrays in DataFrame cells."
)


def _read_chunk(
    indexed_items: Sequence[tuple[int | None, Any]], start: int
) -> list[PeriodicArrays | StructureProblem]:
    """Convert and read inputs that need parsing (CIF text, paths, ase) in a worker."""
    read = [read_periodic_arrays(item, index) for index, item in indexed_items]
    return [r.detached() if isinstance(r, PeriodicArrays) else r for r in read]


def _search_chunk(
    systems: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
    start: int,
    n_neighbors: int,
    cutoff: float | None,
    compact: bool,
) -> list[_Features | ValueError]:
    if not compact:
        return nearest_neighbors_batch(systems, n_neighbors, cutoff)
    # The dtypes of NeighborLists, per chunk: never hold all lists in 16 bytes an entry.
    results = nearest_neighbors_batch(systems, n_neighbors, cutoff, return_sites=True)
    return [
        r
        if isinstance(r, ValueError)
        else (r[0].astype(np.uint8), r[1].astype(np.float32), r[2].astype(np.int32))
        for r in results
    ]


class NeighborListFeaturizer(BaseFeaturizer):
    """Per-atom lists of the nearest neighbours of every atom of a crystal.

    For each atom, in site order: the atom itself (distance 0), then its
    ``n_neighbors`` nearest neighbours over all periodic images — images of the
    atom itself included — each as atomic number and distance in Å. This is the
    input of :class:`~sklearn_bandgap.models.NeighborLSTMRegressor`.

    It is both a matminer featurizer (``featurize``, ``featurize_many``,
    ``featurize_dataframe``, ``feature_labels``, ``citations``, ``implementors``)
    and a scikit-learn transformer whose ``transform`` returns a ragged
    :class:`NeighborLists` (memory proportional to the total number of atoms).

    Parameters
    ----------
    n_neighbors : int, default=19
        Neighbours per atom, not counting the atom itself; each row has
        ``n_neighbors + 1`` entries.
    cutoff : float, default=None
        First search radius in Å. The radius grows automatically (× 1.5) until
        every atom has ``n_neighbors`` neighbours and the last one's distance
        tie is complete, so ``cutoff`` only affects speed, never the result.
        None picks, per structure, the radius of a sphere expected to hold
        1.5 × (n_neighbors + 1) atoms at that structure's density.
    n_jobs : int, default=None
        Processes for ``transform`` and ``featurize_many`` (joblib semantics:
        None is 1 unless inside ``joblib.parallel_config``, -1 is all cores).
        Inputs that need parsing (CIF text, paths) are parsed in the workers,
        where it pays. pymatgen structures are read in the calling process and
        only the neighbour search runs in the workers; at ~5,000 structures/s on
        one core that rarely pays (on the 2-core benchmark machine, n_jobs=2 took
        8.0 s for the MP set against 6.7 s for n_jobs=1). With
        ``atom_features="chgnet"`` CHGNet's features are computed in ``n_jobs``
        processes too, where it does pay (each loads CHGNet once).
    verbose : int, default=0
        If > 0, ``transform`` shows a progress bar.
    atom_features : {None, "chgnet"}, default=None
        ``"chgnet"``: ``transform`` also attaches to every atom the 64 features
        of the pretrained universal potential CHGNet (its atom vector after the
        interaction blocks; :func:`chgnet_atom_features`), which
        :class:`~sklearn_bandgap.models.NeighborLSTMRegressor` then reads beside
        each atom's neighbours. About 30 structures/s on one core for MP crystals (the
        neighbour search alone: ~5,000/s); needs ``pip install
        "sklearn_bandgap[potential]"``; elements up to Pu (Z = 94). CHGNet was
        trained on Materials Project relaxations (energies, forces, stresses,
        magnetic moments), which include the MP structures of the shipped data.
    potential_model : {"0.3.0", "0.2.0", "r2scan"}, default="0.3.0"
        Which CHGNet weights of the ``chgnet`` wheel, with
        ``atom_features="chgnet"``.

    Attributes
    ----------
    This transformer is stateless: ``fit`` only validates the parameters, and
    ``transform`` works without it.

    See Also
    --------
    NeighborLists : The output of ``transform``.

    Notes
    -----
    **Accepted inputs.** ``pymatgen`` ``Structure``/``IStructure``;
    ``ase.Atoms`` periodic on all axes (converted by pymatgen's
    ``AseAtomsAdaptor``, about 0.1 ms each); CIF text; paths to structure files
    pymatgen reads. A ``Molecule``, a disordered structure, an element outside
    Z = 1..118, NaN coordinates, coinciding sites, or anything else raise
    :class:`~sklearn_bandgap.exceptions.InvalidStructureError` listing every
    offending item with its index and formula. Nothing becomes a NaN row.

    **Order and ties.** Neighbours are sorted by distance. Distances within
    1e-5 Å of each other form a tie, sorted by atomic number (lightest first).
    Neighbours of one tie with the same element are indistinguishable in the
    output, so the lists do not depend on site order, origin, orientation or
    choice of (super)cell.

    **Algorithm.** pymatgen's compiled cell-list search
    (``find_points_in_spheres``) gives every pair within the radius; one
    vectorised sort and gather per structure makes the lists. It is exact: the
    tests compare it with a brute-force ``Structure.get_all_neighbors`` search.

    Examples
    --------
    >>> from pymatgen.core import Lattice, Structure
    >>> from sklearn_bandgap.featurizers import NeighborListFeaturizer
    >>> nacl = Structure.from_spacegroup(
    ...     "Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    >>> numbers, distances = NeighborListFeaturizer().featurize(nacl)
    >>> numbers.shape, distances.shape
    ((8, 20), (8, 20))
    >>> print(numbers[0, :8], distances[0, :3].round(2))
    [11 17 17 17 17 17 17 11] [0.   2.82 2.82]
    >>> lists = NeighborListFeaturizer().fit_transform([nacl, nacl])
    >>> lists
    NeighborLists(n_structures=2, n_total_atoms=16, n_neighbors=19)
    """

    # matminer's BaseFeaturizer exposes ``n_jobs`` as a read-only property that a
    # method (``set_n_jobs``) changes; here it is a constructor parameter, so this
    # plain class attribute shadows that property.
    n_jobs: int | None = None

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "cutoff": [Interval(Real, 0, None, closed="neither"), None],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
        "atom_features": [StrOptions({"chgnet"}), None],
        "potential_model": [StrOptions(set(CHGNET_MODELS))],
    }

    def __init__(
        self,
        n_neighbors: int = 19,
        *,
        cutoff: float | None = None,
        n_jobs: int | None = None,
        verbose: int = 0,
        atom_features: str | None = None,
        potential_model: str = "0.3.0",
    ) -> None:
        self.n_neighbors = n_neighbors
        self.cutoff = cutoff
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.atom_features = atom_features
        self.potential_model = potential_model

    # ----------------------------------------------------------------- sklearn API
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any = None, y: Any = None, **fit_params: Any) -> NeighborListFeaturizer:
        """Validate the parameters; there is nothing to learn.

        Parameters
        ----------
        X : ignored
            Accepted for API compatibility.
        y : ignored
            Accepted for API compatibility.
        **fit_params : dict
            Ignored.

        Returns
        -------
        self : NeighborListFeaturizer
            The featurizer.
        """
        return self

    def transform(self, X: Any) -> NeighborLists:
        """Neighbour lists of every structure in ``X``.

        Parameters
        ----------
        X : sequence of structures
            List, tuple, 1-D object array or Series of accepted inputs (see Notes
            of the class).

        Returns
        -------
        lists : NeighborLists
            ``len(lists) == len(X)``; ``lists[i]`` holds structure ``i``'s
            ``atomic_numbers`` (uint8), ``distances`` (float32, Å) and
            ``neighbor_sites`` (int32: the site each neighbour is an image
            of), each of shape ``(n_atoms_i, n_neighbors + 1)``.

        Raises
        ------
        InvalidStructureError
            Listing every item that cannot be featurized (index, formula, reason).
        """
        self._validate_params()
        items = as_item_list(X)
        if not items:
            raise ValueError("X is empty: expected at least one structure.")
        read: list[PeriodicArrays] = []
        features = self._featurize_items(items, pbar=self.verbose > 0, compact=True, keep_read=read)
        atom_features = None
        if self.atom_features == "chgnet":
            atom_features = np.concatenate(
                chgnet_atom_features(read, model=self.potential_model, n_jobs=self.n_jobs)
            )
        return NeighborLists(
            np.concatenate([found[0] for found in features]),
            np.concatenate([found[1] for found in features]),
            np.array([len(found[0]) for found in features], dtype=np.int64),
            atom_features,
            neighbor_sites=np.concatenate([found[2] for found in features]),
        )

    def __sklearn_is_fitted__(self) -> bool:
        return True  # stateless: usable without fit, like matminer featurizers

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False  # input: a sequence of crystal structures
        tags.requires_fit = False
        tags.target_tags.required = False
        return tags

    # ---------------------------------------------------------------- matminer API
    def featurize(self, structure: Any) -> list[np.ndarray]:
        """Neighbour lists of one structure.

        Parameters
        ----------
        structure : Structure, IStructure, ase.Atoms, CIF text or path
            An ordered, periodic crystal.

        Returns
        -------
        features : list of two ndarrays of shape (n_atoms, n_neighbors + 1)
            ``[neighbor_atomic_numbers (int64), neighbor_distances (float64, Å)]``.
        """
        self._validate_params()
        (result,) = self._featurize_items([structure], pbar=False, lone=True)
        return list(result)

    def featurize_many(
        self,
        entries: Any,
        ignore_errors: bool = False,
        return_errors: bool = False,
        pbar: bool = True,
    ) -> list[list[np.ndarray]]:
        """Featurize a sequence of structures, in parallel with ``n_jobs``.

        Parameters
        ----------
        entries : sequence of structures
            See :meth:`transform`.
        ignore_errors : bool, default=False
            Must be False: failures are never turned into NaN rows. The error
            raised lists every offending item, to fix or drop them at once.
            (matminer's ``transform``, and so ``MultipleFeaturizer``'s, always
            passes True: the ragged output cannot be a 2-D feature matrix.)
        return_errors : bool, default=False
            Must be False, as ``ignore_errors``.
        pbar : bool, default=True
            Show a progress bar.

        Returns
        -------
        features : list
            One ``[neighbor_atomic_numbers, neighbor_distances]`` per entry.
        """
        _refuse_error_rows(ignore_errors, return_errors)
        self._validate_params()
        items = as_item_list(entries, "entries")
        return [list(pair) for pair in self._featurize_items(items, pbar=pbar)]

    def featurize_wrapper(
        self, x: Any, return_errors: bool = False, ignore_errors: bool = False
    ) -> list[np.ndarray]:
        """Featurize one entry for matminer's batch code (``MultipleFeaturizer``).

        Parameters
        ----------
        x : tuple
            The arguments of :meth:`featurize`: ``(structure,)``.
        return_errors : bool, default=False
            Must be False, as ``ignore_errors``.
        ignore_errors : bool, default=False
            Must be False: see :meth:`featurize_many`.

        Returns
        -------
        features : list of two ndarrays
            As :meth:`featurize`.

        Raises
        ------
        ValueError
            When asked for NaN rows, which is what matminer's ``transform`` and
            ``fit_transform`` ask for: the output is ragged and cannot become
            columns of a 2-D feature matrix.
        """
        _refuse_error_rows(ignore_errors, return_errors)
        return self.featurize(*x)

    def set_n_jobs(self, n_jobs: int) -> None:
        """Set ``n_jobs`` (matminer compatibility; prefer the constructor parameter)."""
        self.n_jobs = n_jobs

    def feature_labels(self) -> list[str]:
        """Names of the two features returned by :meth:`featurize`."""
        return ["neighbor_atomic_numbers", "neighbor_distances"]

    def citations(self) -> list[str]:
        """BibTeX of the neighbour-list representation and of the search code used."""
        return [
            "@article{xie2018cgcnn,\n"
            "  title={Crystal Graph Convolutional Neural Networks for an Accurate and "
            "Interpretable Prediction of Material Properties},\n"
            "  author={Xie, Tian and Grossman, Jeffrey C.},\n"
            "  journal={Physical Review Letters}, volume={120}, pages={145301}, year={2018},\n"
            "  doi={10.1103/PhysRevLett.120.145301}\n}",
            "@article{ong2013pymatgen,\n"
            "  title={Python Materials Genomics (pymatgen): A robust, open-source python "
            "library for materials analysis},\n"
            "  author={Ong, Shyue Ping and Richards, William Davidson and Jain, Anubhav and "
            "Hautier, Geoffroy and Kocher, Michael and Cholia, Shreyas and Gunter, Dan and "
            "Chevrier, Vincent L. and Persson, Kristin A. and Ceder, Gerbrand},\n"
            "  journal={Computational Materials Science}, volume={68}, pages={314--319}, "
            "year={2013},\n  doi={10.1016/j.commatsci.2012.10.028}\n}",
        ]

    def implementors(self) -> list[str]:
        """People who wrote this featurizer."""
        return ["sklearn_bandgap developers"]

    # ---------------------------------------------------------------- internals
    def _featurize_items(
        self,
        items: list[Any],
        *,
        pbar: bool,
        lone: bool = False,
        compact: bool = False,
        keep_read: list[PeriodicArrays] | None = None,
    ) -> list[_Features]:
        """Featurize ``items``, raising one error that lists every bad item.

        Structures are read into arrays here, in the calling process: reading
        costs ~40 µs, pickling a Structure to a worker costs more than
        featurizing it. Inputs that need parsing (CIF text, paths, ase) are
        converted in the workers. Only arrays travel to the search workers.
        ``compact`` returns uint8 atomic numbers, float32 distances and int32
        neighbour sites (the dtypes of :class:`NeighborLists`) instead of
        int64 and float64 numbers and distances alone.
        ``keep_read`` (a list) receives the structures as read, for a second
        featurization (CHGNet's) that needs them.
        """
        indices: list[int | None] = [None] * len(items) if lone else list(range(len(items)))
        read: list[PeriodicArrays | StructureProblem | None] = [
            read_periodic_arrays(item, index)
            if isinstance(item, IStructure | PeriodicArrays)
            else None
            for item, index in zip(items, indices, strict=True)
        ]
        to_parse = [i for i, r in enumerate(read) if r is None]
        if to_parse:
            parsed = map_chunks(
                _read_chunk,
                [(indices[i], items[i]) for i in to_parse],
                n_jobs=self.n_jobs,
                chunk_size=64,
                progress=pbar,
                desc=f"{type(self).__name__}: reading",
            )
            for i, parsed_item in zip(to_parse, parsed, strict=True):
                read[i] = parsed_item
        valid = [r for r in read if isinstance(r, PeriodicArrays)]
        found = iter(
            map_chunks(
                partial(
                    _search_chunk,
                    n_neighbors=self.n_neighbors,
                    cutoff=self.cutoff,
                    compact=compact,
                ),
                [(r.lattice, r.cart_coords, r.atomic_numbers) for r in valid],
                n_jobs=self.n_jobs,
                chunk_size=128,  # measured: smaller chunks were faster and 2.4x leaner than 1024
                progress=pbar,
                desc=type(self).__name__,
            )
        )
        results: list[_Features] = []
        problems: list[StructureProblem] = []
        for index, r in zip(indices, read, strict=True):
            if isinstance(r, StructureProblem):
                problems.append(r)
                continue
            assert r is not None
            result = next(found)
            if isinstance(result, ValueError):
                problems.append(StructureProblem(index, r.formula, str(result)))
            else:
                results.append(result)
        if problems:
            raise InvalidStructureError(problems)
        if keep_read is not None:
            keep_read.extend(r for r in read if isinstance(r, PeriodicArrays))
        return results
