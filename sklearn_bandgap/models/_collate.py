"""Batching of ragged neighbour lists for the torch module."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

#: One crystal as the module reads it: neighbour atomic numbers and distances,
#: each (n_rows, n_neighbors + 1), the share of the crystal's atoms each row
#: stands for (None when every row is one atom), each row's atom features,
#: (n_rows, n_features), or None, and the row each neighbour is an image of,
#: (n_rows, n_neighbors + 1), or None.
CrystalItem = tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None, np.ndarray | None]


def collate_neighbor_lists(
    batch: Sequence[tuple[CrystalItem, Any]],
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Stack a batch of ``(crystal, target)`` pairs into the module's inputs.

    Crystals are padded to the largest crystal *of the batch* (never of the
    data set), so that every tensor's first dimension is the batch size, as
    skorch expects. The module reads only the real rows (``n_atoms``).

    Parameters
    ----------
    batch : sequence of (CrystalItem, target)
        As yielded by a skorch ``Dataset``; an item of four fields (without
        the neighbour sites) is read as one whose sites are None.

    Returns
    -------
    X : dict of str to Tensor
        ``atomic_numbers`` (long, padded with 0) and ``distances`` (float32,
        padded with 1), both ``(batch, max_rows, n_neighbors + 1)``; ``n_atoms``
        (long, ``(batch,)``); and, if the items carry them, ``shares``
        (float32, ``(batch, max_rows)``), ``atom_features`` (float32,
        ``(batch, max_rows, n_features)``, padded with 0) and
        ``neighbor_sites`` (long, ``(batch, max_rows, n_neighbors + 1)``,
        each crystal's own row numbers, padded with 0): the arguments of
        :meth:`NeighborLSTM.forward`.
    y : Tensor
        The stacked targets: int64 for class labels, else float32.
    """
    # items of four fields (written before the sites existed) carry no sites
    items: list[CrystalItem] = [
        tuple(item) + (None,) * (5 - len(item))  # type: ignore[misc]
        for item, _ in batch
    ]
    n_rows = [len(item[0]) for item in items]
    width = items[0][0].shape[1]
    atomic_numbers = np.zeros((len(items), max(n_rows), width), dtype=np.int64)
    distances = np.ones((len(items), max(n_rows), width), dtype=np.float32)
    shares = None if items[0][2] is None else np.zeros((len(items), max(n_rows)), np.float32)
    first_features = items[0][3]
    features = (
        None
        if first_features is None
        else np.zeros((len(items), max(n_rows), first_features.shape[1]), np.float32)
    )
    sites = None if items[0][4] is None else np.zeros(atomic_numbers.shape, np.int64)
    for i, (numbers, dists, item_shares, item_features, item_sites) in enumerate(items):
        atomic_numbers[i, : n_rows[i]] = numbers
        distances[i, : n_rows[i]] = dists
        if shares is not None:
            shares[i, : n_rows[i]] = item_shares
        if features is not None:
            features[i, : n_rows[i]] = item_features
        if sites is not None and item_sites is not None:
            sites[i, : n_rows[i]] = item_sites
    X = {
        "atomic_numbers": torch.from_numpy(atomic_numbers),
        "distances": torch.from_numpy(distances),
        "n_atoms": torch.tensor(n_rows, dtype=torch.int64),
    }
    if shares is not None:
        X["shares"] = torch.from_numpy(shares)
    if features is not None:
        X["atom_features"] = torch.from_numpy(features)
    if sites is not None:
        X["neighbor_sites"] = torch.from_numpy(sites)
    targets = np.stack([np.asarray(target) for _, target in batch])
    # class labels stay integers (cross-entropy); everything else becomes float32
    dtype = torch.int64 if np.issubdtype(targets.dtype, np.integer) else torch.float32
    y = torch.as_tensor(targets, dtype=dtype)
    return X, y


class NoisyDistanceCollate:
    """Training batches with Gaussian noise on every neighbour distance (a smoothness prior).

    Each batch is collated as :func:`collate_neighbor_lists` does, then every
    neighbour distance (never the centre's 0) gets independent noise of
    standard deviation ``sigma`` Å, and each row's neighbours are re-sorted by
    their noisy distances (their atomic numbers with them), so that the last
    column is again the farthest listed neighbour. A network trained this way
    sees how its inputs move when atoms move a little, which exact, symmetric
    training files never show it.

    Parameters
    ----------
    sigma : float
        Standard deviation of the noise in Å.
    seed : int or None
        Seed of the noise generator (the estimator's ``random_state``).
    """

    def __init__(self, sigma: float, seed: int | None) -> None:
        self.sigma = sigma
        self.rng = np.random.default_rng(seed)

    def __call__(
        self, batch: Sequence[tuple[CrystalItem, Any]]
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        X, y = collate_neighbor_lists(batch)
        distances, numbers = X["distances"], X["atomic_numbers"]
        noise = self.rng.normal(0.0, self.sigma, size=distances[..., 1:].shape)
        noisy = (distances[..., 1:] + torch.from_numpy(noise.astype(np.float32))).abs()
        order = torch.argsort(noisy, dim=-1)
        distances[..., 1:] = torch.gather(noisy, -1, order)
        numbers[..., 1:] = torch.gather(numbers[..., 1:], -1, order)
        if "neighbor_sites" in X:
            sites = X["neighbor_sites"]
            sites[..., 1:] = torch.gather(sites[..., 1:], -1, order)
        return X, y
