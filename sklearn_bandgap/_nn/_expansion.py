"""Gaussian expansion of interatomic distances (as in CGCNN and SchNet)."""

from __future__ import annotations

import torch

#: Largest Gaussian centre of the distance expansion (Å). In the Materials
#: Project set the 19th neighbour of 99.9 % of the atoms is within 6.7 Å (all
#: within 8.7 Å).
EXPANSION_MAX_DISTANCE = 8.0


def gaussian_expansion(distances: torch.Tensor, n_gaussians: int) -> torch.Tensor:
    """Expand distances on ``n_gaussians`` evenly spaced Gaussians.

    Parameters
    ----------
    distances : Tensor of any shape
        Distances in Å.
    n_gaussians : int
        Number of centres on [0, EXPANSION_MAX_DISTANCE] Å (at least 2).

    Returns
    -------
    expanded : Tensor of shape ``distances.shape + (n_gaussians,)``
        Values in (0, 1].
    """
    centres = torch.linspace(
        0.0, EXPANSION_MAX_DISTANCE, n_gaussians, device=distances.device, dtype=distances.dtype
    )
    width = EXPANSION_MAX_DISTANCE / (n_gaussians - 1)
    return torch.exp(-(((distances.unsqueeze(-1) - centres) / width) ** 2))
