"""Validated inputs of the translators: structures, their neighbour vectors and pair targets."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from pymatgen.core import Element

from sklearn_bandgap.exceptions import InvalidStructureError, StructureProblem
from sklearn_bandgap.translation._geometry import (
    cell_log_strain,
    nearest_neighbor_vectors,
    site_displacements,
)
from sklearn_bandgap.utils._validation import (
    PeriodicArrays,
    check_structures,
    warn_out_of_domain,
)


def unseen_element_problems(
    arrays: Sequence[PeriodicArrays], seen: Iterable[int]
) -> list[StructureProblem]:
    """One problem per structure holding elements outside ``seen``, naming them."""
    known = {int(z) for z in seen}
    problems = []
    for index, item in enumerate(arrays):
        unseen = sorted(set(item.atomic_numbers.tolist()) - known)
        if unseen:
            names = ", ".join(str(Element.from_Z(z).symbol) for z in unseen)
            problems.append(StructureProblem(index, item.formula, f"holds {names}, unseen in fit"))
    return problems


def warn_unseen_elements(
    problems: Sequence[StructureProblem], n_structures: int, what: str
) -> None:
    """Warn, once for the batch, with the count of ``problems`` and the first three."""
    warn_out_of_domain(
        problems, n_structures, f"hold elements unseen in fit and {what}", stacklevel=4
    )


def check_pairs(unrelaxed: Sequence[PeriodicArrays], relaxed: Sequence[PeriodicArrays]) -> None:
    """Every pair lists the same species, site by site; else name all offending pairs."""
    if len(unrelaxed) != len(relaxed):
        raise ValueError(
            f"X holds {len(unrelaxed)} unrelaxed structures but relaxed holds {len(relaxed)}."
        )
    problems = []
    for index, (u, r) in enumerate(zip(unrelaxed, relaxed, strict=True)):
        if len(u.atomic_numbers) != len(r.atomic_numbers):
            reason = (
                f"has {len(u.atomic_numbers)} sites but its relaxed partner has "
                f"{len(r.atomic_numbers)}."
            )
        elif not np.array_equal(u.atomic_numbers, r.atomic_numbers):
            site = int(np.flatnonzero(u.atomic_numbers != r.atomic_numbers)[0])
            reason = (
                f"lists other species than its relaxed partner, site by site (first at site "
                f"{site}: Z={u.atomic_numbers[site]} vs Z={r.atomic_numbers[site]}); pairs need "
                "the same species in the same site order (load_nrel_relaxation_pairs drops such "
                "pairs with same_species_only=True)."
            )
        else:
            continue
        problems.append(StructureProblem(index, u.formula, reason))
    if problems:
        raise InvalidStructureError(problems)


def read_pairs(
    X: Any, relaxed: Any, owner: str, *, required: bool = True
) -> tuple[list[PeriodicArrays], list[PeriodicArrays] | None]:
    """Read the unrelaxed structures and their relaxed partners, and check the pairs.

    ``relaxed=None`` is an error naming ``owner`` when ``required``, else the
    unrelaxed structures are read alone.
    """
    if relaxed is None:
        if required:
            raise ValueError(
                f"{owner}.fit needs the relaxed structures: fit(X_unrelaxed, relaxed=X_relaxed)."
            )
        return check_structures(X, name="X"), None
    unrelaxed_arrays = check_structures(X, name="X")
    relaxed_arrays = check_structures(relaxed, name="relaxed")
    check_pairs(unrelaxed_arrays, relaxed_arrays)
    return unrelaxed_arrays, relaxed_arrays


@dataclass
class NeighborGeometry:
    """Neighbour vectors of many crystals, ragged by crystal, ready for the module.

    Indexing gives one crystal's ``(atomic_numbers, neighbor_index,
    neighbor_distances, neighbor_vectors, volume_per_atom)``; skorch builds its
    ``Dataset`` on it.
    """

    atomic_numbers: list[np.ndarray]
    neighbor_index: list[np.ndarray]
    neighbor_distances: list[np.ndarray]
    neighbor_vectors: list[np.ndarray]
    volume_per_atom: np.ndarray
    formulas: list[str | None]

    def __len__(self) -> int:
        return len(self.atomic_numbers)

    def __getitem__(self, i: int) -> tuple[Any, ...]:
        i = int(i)
        return (
            self.atomic_numbers[i],
            self.neighbor_index[i],
            self.neighbor_distances[i],
            self.neighbor_vectors[i],
            self.volume_per_atom[i],
        )

    def groups(self) -> np.ndarray:
        """Reduced formula of each crystal (the validation split keeps polymorphs together)."""
        return np.array([f or "" for f in self.formulas], dtype=object)


def neighbor_geometry(arrays: Sequence[PeriodicArrays], n_neighbors: int) -> NeighborGeometry:
    """Neighbour vectors of every structure; coinciding sites are reported by index."""
    results: list[Any] = []
    problems = []
    for index, item in enumerate(arrays):
        try:
            results.append(nearest_neighbor_vectors(item.lattice, item.cart_coords, n_neighbors))
        except ValueError as exc:
            problems.append(StructureProblem(index, item.formula, str(exc)))
    if problems:
        raise InvalidStructureError(problems)
    volumes = np.array(
        [abs(np.linalg.det(a.lattice)) / len(a.atomic_numbers) for a in arrays], dtype=np.float32
    )
    return NeighborGeometry(
        atomic_numbers=[a.atomic_numbers for a in arrays],
        neighbor_index=[r[0] for r in results],
        neighbor_distances=[r[1].astype(np.float32) for r in results],
        neighbor_vectors=[r[2].astype(np.float32) for r in results],
        volume_per_atom=volumes,
        formulas=[a.formula for a in arrays],
    )


class RelaxationTargets:
    """Per pair: the cell log-strain (3, 3) and the site displacements (n_sites, 3)."""

    def __init__(self, log_strains: list[np.ndarray], displacements: list[np.ndarray]) -> None:
        self.log_strains = log_strains
        self.displacements = displacements

    def __len__(self) -> int:
        return len(self.log_strains)

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        return self.log_strains[int(i)], self.displacements[int(i)]


def relaxation_targets(
    unrelaxed: Sequence[PeriodicArrays], relaxed: Sequence[PeriodicArrays]
) -> RelaxationTargets:
    """Log-strain and displacements of every (already checked) pair."""
    strains, displacements = [], []
    for u, r in zip(unrelaxed, relaxed, strict=True):
        assert u.structure is not None and r.structure is not None
        strain = cell_log_strain(u.lattice, r.lattice)
        strains.append(strain.astype(np.float32))
        displacements.append(
            site_displacements(u.structure, r.structure, strain).astype(np.float32)
        )
    return RelaxationTargets(strains, displacements)


def collate_geometry(
    batch: Sequence[tuple[tuple[Any, ...], Any]],
) -> tuple[dict[str, torch.Tensor], Any]:
    """Pad a batch of crystals to its largest one; stack the targets if there are any."""
    items = [item for item, _ in batch]
    sizes = [len(item[0]) for item in items]
    n_neighbors = items[0][1].shape[1]
    n, width = len(items), max(sizes)
    numbers = np.zeros((n, width), dtype=np.int64)
    index = np.zeros((n, width, n_neighbors), dtype=np.int64)
    distances = np.ones((n, width, n_neighbors), dtype=np.float32)
    vectors = np.zeros((n, width, n_neighbors, 3), dtype=np.float32)
    for i, (z, idx, dist, vec, _) in enumerate(items):
        numbers[i, : sizes[i]] = z
        index[i, : sizes[i]] = idx
        distances[i, : sizes[i]] = dist
        vectors[i, : sizes[i]] = vec
    X = {
        "atomic_numbers": torch.from_numpy(numbers),
        "neighbor_index": torch.from_numpy(index),
        "neighbor_distances": torch.from_numpy(distances),
        "neighbor_vectors": torch.from_numpy(vectors),
        "volume_per_atom": torch.tensor([item[4] for item in items], dtype=torch.float32),
        "n_atoms": torch.tensor(sizes, dtype=torch.int64),
    }
    targets = [target for _, target in batch]
    if isinstance(targets[0], torch.Tensor):  # skorch's placeholder when there is no y
        return X, torch.zeros(n)
    strains = torch.from_numpy(np.stack([t[0] for t in targets]))
    displacements = np.zeros((n, width, 3), dtype=np.float32)
    for i, (_, disp) in enumerate(targets):
        displacements[i, : sizes[i]] = disp
    return X, {"log_strain": strains, "displacements": torch.from_numpy(displacements)}
