"""The ragged per-structure neighbour lists produced by ``NeighborListFeaturizer``."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np


class NeighborList(NamedTuple):
    """The neighbour lists of one structure (zero-copy views).

    Attributes
    ----------
    atomic_numbers : ndarray of shape (n_atoms, n_neighbors + 1)
        Per atom: its own atomic number, then its neighbours' nearest first.
    distances : ndarray of shape (n_atoms, n_neighbors + 1)
        The matching distances in Å (0 for the atom itself).
    atom_features : ndarray of shape (n_atoms, n_features) or None
        A feature vector per atom (e.g. CHGNet's), when the lists carry them.
    neighbor_sites : ndarray of shape (n_atoms, n_neighbors + 1) or None
        The row (site) of this structure that each neighbour is a periodic
        image of, when the lists carry them.
    """

    atomic_numbers: np.ndarray
    distances: np.ndarray
    atom_features: np.ndarray | None = None
    neighbor_sites: np.ndarray | None = None


class NeighborLists:
    """Neighbour lists of many structures, stored flat: memory ∝ total atoms.

    The rows of all structures are stacked in one array per field; ``n_atoms``
    says how many rows belong to each structure. Nothing is padded: a data set
    of one 200-atom crystal and 10,000 two-atom crystals takes 20,200 rows.
    Padding to a batch happens later, per batch, in the model's collate step.

    Parameters
    ----------
    atomic_numbers : ndarray of shape (n_total_atoms, n_neighbors + 1)
        Stored as uint8.
    distances : ndarray of shape (n_total_atoms, n_neighbors + 1)
        Stored as float32 (Å).
    n_atoms : ndarray of shape (n_structures,)
        Atoms per structure; sums to ``n_total_atoms``.
    atom_features : ndarray of shape (n_total_atoms, n_features), default=None
        A feature vector per atom (row), e.g. CHGNet's
        (``NeighborListFeaturizer(atom_features="chgnet")``); stored as float32.
    neighbor_sites : ndarray of shape (n_total_atoms, n_neighbors + 1), default=None
        For each entry, the row *within its structure* (0 to ``n_atoms - 1``)
        of the site that the neighbour is a periodic image of: column 0 is the
        row itself. The featurizer's ``transform`` fills it; models that pass
        messages between neighbouring atoms (``message_layers``) read it.
        Stored as int32.

    Attributes
    ----------
    atomic_numbers, distances, n_atoms, atom_features, neighbor_sites : ndarray
        As given (field names are public API; ``atom_features`` and
        ``neighbor_sites`` may be None).
    offsets : ndarray of shape (n_structures + 1,)
        Row where each structure starts; ``offsets[-1] == n_total_atoms``.
    shape : tuple of int
        ``(n_structures,)``, so that scikit-learn counts and indexes samples.

    Notes
    -----
    Indexing follows numpy along the sample axis: an integer gives one
    :class:`NeighborList` (views into the flat arrays); a slice, an integer
    array or a boolean mask gives a new :class:`NeighborLists`. This is what
    ``sklearn.utils._safe_indexing`` (cross-validation, ``train_test_split``) and
    skorch's validation split use.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_bandgap.featurizers import NeighborLists
    >>> lists = NeighborLists(
    ...     atomic_numbers=np.array([[11, 17], [17, 11], [26, 26]]),
    ...     distances=np.array([[0.0, 2.8], [0.0, 2.8], [0.0, 2.5]]),
    ...     n_atoms=np.array([2, 1]),
    ... )
    >>> len(lists), lists.n_total_atoms
    (2, 3)
    >>> lists[1].atomic_numbers
    array([[26, 26]], dtype=uint8)
    >>> len(lists[[1, 0, 1]])
    3
    """

    def __init__(
        self,
        atomic_numbers: Any,
        distances: Any,
        n_atoms: Any,
        atom_features: Any = None,
        *,
        neighbor_sites: Any = None,
    ) -> None:
        self.atomic_numbers = np.ascontiguousarray(atomic_numbers, dtype=np.uint8)
        self.distances = np.ascontiguousarray(distances, dtype=np.float32)
        self.n_atoms = np.ascontiguousarray(n_atoms, dtype=np.int64)
        self.atom_features = (
            None if atom_features is None else np.ascontiguousarray(atom_features, np.float32)
        )
        if self.atomic_numbers.ndim != 2 or self.atomic_numbers.shape != self.distances.shape:
            raise ValueError(
                "atomic_numbers and distances must be 2-D arrays of one shape, got "
                f"{self.atomic_numbers.shape} and {self.distances.shape}."
            )
        if self.n_atoms.ndim != 1 or int(self.n_atoms.sum()) != len(self.atomic_numbers):
            raise ValueError(
                f"n_atoms must be 1-D and sum to the {len(self.atomic_numbers)} rows, "
                f"got a sum of {int(self.n_atoms.sum())}."
            )
        if self.atom_features is not None and (
            self.atom_features.ndim != 2 or len(self.atom_features) != len(self.atomic_numbers)
        ):
            raise ValueError(
                f"atom_features must be 2-D with one row per atom ({len(self.atomic_numbers)}), "
                f"got shape {self.atom_features.shape}."
            )
        self.offsets = np.zeros(len(self.n_atoms) + 1, dtype=np.int64)
        np.cumsum(self.n_atoms, out=self.offsets[1:])
        self.neighbor_sites = (
            None if neighbor_sites is None else np.ascontiguousarray(neighbor_sites, np.int32)
        )
        if self.neighbor_sites is not None:
            self._check_sites(self.neighbor_sites)

    def _check_sites(self, sites: np.ndarray) -> None:
        if sites.shape != self.atomic_numbers.shape:
            raise ValueError(
                f"neighbor_sites must have the shape of atomic_numbers "
                f"{self.atomic_numbers.shape}, got {sites.shape}."
            )
        if not len(sites):
            return
        n_rows = np.repeat(self.n_atoms, self.n_atoms)[:, None]
        bad = (sites < 0) | (sites >= n_rows)
        if bad.any():
            row = int(np.flatnonzero(bad.any(axis=1))[0])
            structure = int(np.searchsorted(self.offsets, row, side="right") - 1)
            raise ValueError(
                f"neighbor_sites of structure {structure} point outside its "
                f"{int(self.n_atoms[structure])} rows (row {row - int(self.offsets[structure])}: "
                f"{sites[row].tolist()})."
            )

    def with_atom_features(self, atom_features: Any) -> NeighborLists:
        """The same lists (and neighbour sites) with other atom features, or none.

        Parameters
        ----------
        atom_features : ndarray of shape (n_total_atoms, n_features) or None
            A feature vector per row (e.g. CHGNet's); None drops them.

        Returns
        -------
        lists : NeighborLists
            Sharing this object's arrays.
        """
        return NeighborLists(
            self.atomic_numbers,
            self.distances,
            self.n_atoms,
            atom_features,
            neighbor_sites=self.neighbor_sites,
        )

    @classmethod
    def from_lists(cls, lists: Sequence[NeighborList], n_neighbors: int) -> NeighborLists:
        """Stack per-structure lists (e.g. a batch picked by index) into one object.

        Parameters
        ----------
        lists : sequence of NeighborList
            One entry per structure.
        n_neighbors : int
            Neighbours per atom, so that an empty sequence has a defined width.
        """
        width = n_neighbors + 1
        if not lists:
            empty = np.empty((0, width))
            return cls(empty, empty, np.empty(0, dtype=np.int64))
        with_features = [item.atom_features is not None for item in lists]
        if any(with_features) and not all(with_features):
            raise ValueError("some lists carry atom_features and others do not.")
        # Sites are a by-product of the search: keep them only when every list has them.
        with_sites = all(item.neighbor_sites is not None for item in lists)
        return cls(
            np.concatenate([item.atomic_numbers for item in lists]),
            np.concatenate([item.distances for item in lists]),
            np.array([len(item.atomic_numbers) for item in lists], dtype=np.int64),
            np.concatenate([item.atom_features for item in lists]) if all(with_features) else None,
            neighbor_sites=(
                np.concatenate([item.neighbor_sites for item in lists]) if with_sites else None
            ),
        )

    @property
    def shape(self) -> tuple[int]:
        """``(n_structures,)``."""
        return (len(self.n_atoms),)

    @property
    def n_neighbors(self) -> int:
        """Neighbours per atom (the centre atom not counted)."""
        return int(self.atomic_numbers.shape[1]) - 1

    @property
    def n_total_atoms(self) -> int:
        """Number of atoms over all structures."""
        return len(self.atomic_numbers)

    @property
    def nbytes(self) -> int:
        """Memory held by the arrays, in bytes."""
        return int(
            self.atomic_numbers.nbytes
            + self.distances.nbytes
            + self.n_atoms.nbytes
            + self.offsets.nbytes
            + (0 if self.atom_features is None else self.atom_features.nbytes)
            + (0 if self.neighbor_sites is None else self.neighbor_sites.nbytes)
        )

    @property
    def n_atom_features(self) -> int:
        """Length of each atom's feature vector (0 when the lists carry none)."""
        return 0 if self.atom_features is None else int(self.atom_features.shape[1])

    def __len__(self) -> int:
        return len(self.n_atoms)

    def __iter__(self) -> Iterator[NeighborList]:
        for i in range(len(self)):
            yield self._one(i)

    def _one(self, i: int) -> NeighborList:
        start, stop = self.offsets[i], self.offsets[i + 1]
        features = None if self.atom_features is None else self.atom_features[start:stop]
        sites = None if self.neighbor_sites is None else self.neighbor_sites[start:stop]
        return NeighborList(
            self.atomic_numbers[start:stop], self.distances[start:stop], features, sites
        )

    def __getitem__(self, key: Any) -> NeighborList | NeighborLists:
        if isinstance(key, tuple):  # sklearn's _array_indexing passes (key, Ellipsis)
            if len(key) == 2 and key[1] is Ellipsis:
                key = key[0]
            else:
                raise IndexError("NeighborLists is indexed along the sample axis only.")
        if isinstance(key, int | np.integer):
            i = int(key)
            if not -len(self) <= i < len(self):
                raise IndexError(f"index {i} out of range for {len(self)} structures.")
            return self._one(i % len(self))
        if isinstance(key, slice):
            indices = np.arange(len(self))[key]
        else:
            key = np.asarray(key)
            if key.dtype == bool:
                if key.shape != (len(self),):
                    raise IndexError(
                        f"boolean index of shape {key.shape} for {len(self)} structures."
                    )
                indices = np.flatnonzero(key)
            elif key.ndim == 1 and (key.size == 0 or np.issubdtype(key.dtype, np.integer)):
                indices = key.astype(np.int64)
            else:
                raise IndexError(f"cannot index NeighborLists with {key!r:.60}.")
        return self.take(indices)

    def take(self, indices: Any) -> NeighborLists:
        """Return the structures at ``indices`` (any order, repeats allowed)."""
        indices = np.asarray(indices, dtype=np.int64)
        if indices.size and (indices.min() < -len(self) or indices.max() >= len(self)):
            raise IndexError(f"indices out of range for {len(self)} structures.")
        indices = indices % max(len(self), 1)
        n_atoms = self.n_atoms[indices]
        # Row numbers of the chosen structures, without a Python loop.
        row_offsets = np.zeros(len(indices) + 1, dtype=np.int64)
        np.cumsum(n_atoms, out=row_offsets[1:])
        rows = np.arange(row_offsets[-1]) - np.repeat(
            row_offsets[:-1] - self.offsets[indices], n_atoms
        )
        features = None if self.atom_features is None else self.atom_features[rows]
        sites = None if self.neighbor_sites is None else self.neighbor_sites[rows]
        return NeighborLists(
            self.atomic_numbers[rows], self.distances[rows], n_atoms, features, neighbor_sites=sites
        )

    def __repr__(self) -> str:
        return (
            f"NeighborLists(n_structures={len(self)}, n_total_atoms={self.n_total_atoms}, "
            f"n_neighbors={self.n_neighbors}"
            + (f", n_atom_features={self.n_atom_features})" if self.n_atom_features else ")")
        )
