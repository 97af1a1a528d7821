"""``RelaxationNet``: predicts the cell log-strain and site displacements of a relaxation."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from sklearn_bandgap._nn._expansion import gaussian_expansion
from sklearn_bandgap.utils._elements import MAX_ATOMIC_NUMBER

#: Rows of the element embedding: atomic numbers 1..118 and the padding row 0.
N_ELEMENT_ROWS = MAX_ATOMIC_NUMBER + 1
#: Typical volume per atom (Å^3) of solids; the per-atom volume head is relative to it.
REFERENCE_VOLUME_PER_ATOM = 20.0


def _mlp(n_in: int, n_hidden: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, n_hidden), nn.SiLU(), nn.Linear(n_hidden, n_out))


class _Interaction(nn.Module):
    """One round of continuous-filter messages from the neighbours, with a residual update."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.neighbor_transform = nn.Linear(hidden, hidden)
        self.update = _mlp(2 * hidden, hidden, hidden)

    def forward(
        self, h: torch.Tensor, gather: Callable[[torch.Tensor], torch.Tensor], filters: torch.Tensor
    ) -> torch.Tensor:
        messages = (gather(self.neighbor_transform(h)) * filters).sum(dim=2)
        return h + self.update(torch.cat([h, messages], dim=-1))


class RelaxationNet(nn.Module):
    """Message passing on the unrelaxed structure → cell log-strain and site displacements.

    Both outputs are built to respect the symmetries of a crystal:

    - The **volume** is a sum of per-atom volumes, each a positive function of
      the atom's environment; the predicted log volume ratio is
      ``log(mean_i v_i) - log(V_u / n)``.
    - The **shape change** (the traceless part of the log-strain) is
      ``mean_i sum_j w_ij b_ij (u_ij u_ij^T - I/3)`` over each atom's neighbour
      directions ``u_ij``: a symmetric tensor that rotates with the crystal.
    - Each **site displacement** is ``sum_j w_ij a_ij u_ij``, a vector that rotates
      with the crystal and vanishes on a centre of symmetry.

    The scalars ``a_ij, b_ij`` and the atom states come from ``n_layers`` rounds
    of continuous-filter messages (as in SchNet: a filter computed from the
    Gaussian-expanded distance multiplies the neighbour's state) over the
    ``n_neighbors`` nearest neighbours, periodic images included. The weight
    ``w_ij = cos²(π/2 · d_ij / d_iK)`` goes smoothly to 0 at the distance of the
    last neighbour kept, so a shell cut by the neighbour count contributes
    nothing and the outputs do not depend on which of its members were kept.

    Parameters
    ----------
    hidden : int, default=64
        Size of the atom states and of the hidden layers.
    n_layers : int, default=3
        Rounds of messages.
    distance_expansion : int, default=16
        Gaussians of the distance expansion on [0, 8] Å.
    """

    def __init__(self, hidden: int = 64, n_layers: int = 3, distance_expansion: int = 16) -> None:
        super().__init__()
        self.distance_expansion = distance_expansion
        self.embedding = nn.Embedding(N_ELEMENT_ROWS, hidden, padding_idx=0)
        self.filter = _mlp(distance_expansion, hidden, hidden)
        self.layers = nn.ModuleList([_Interaction(hidden) for _ in range(n_layers)])
        self.centre_transform = nn.Linear(hidden, hidden)
        self.neighbor_transform = nn.Linear(hidden, hidden)
        self.edge_head = nn.Sequential(nn.SiLU(), nn.Linear(hidden, 2))
        self.volume_head = _mlp(hidden, hidden, 1)

    def forward(
        self,
        atomic_numbers: torch.Tensor,
        neighbor_index: torch.Tensor,
        neighbor_distances: torch.Tensor,
        neighbor_vectors: torch.Tensor,
        volume_per_atom: torch.Tensor,
        n_atoms: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Predict the relaxation of a padded batch of crystals.

        Parameters
        ----------
        atomic_numbers : LongTensor of shape (batch, atoms)
            0 on padding.
        neighbor_index : LongTensor of shape (batch, atoms, neighbors)
            Site index of each neighbour within its crystal.
        neighbor_distances : Tensor of shape (batch, atoms, neighbors)
            Å, nearest first (any positive value on padding).
        neighbor_vectors : Tensor of shape (batch, atoms, neighbors, 3)
            Cartesian vectors to the neighbours (Å).
        volume_per_atom : Tensor of shape (batch,)
            Unrelaxed volume per atom (Å^3).
        n_atoms : LongTensor of shape (batch,)
            Real atoms per crystal.

        Returns
        -------
        log_strain : Tensor of shape (batch, 3, 3)
            Symmetric log-strain of the cell.
        displacements : Tensor of shape (batch, atoms, 3)
            Site displacements in relaxed lengths per site, zero on padding.
        """
        mask = (atomic_numbers > 0).to(neighbor_distances.dtype)
        n_real = n_atoms.to(neighbor_distances.dtype)
        cutoff = neighbor_distances[..., -1:].clamp_min(1e-6)
        weights = torch.cos(0.5 * torch.pi * (neighbor_distances / cutoff).clamp(max=1.0)) ** 2
        weights = weights * mask.unsqueeze(-1)
        edges = gaussian_expansion(neighbor_distances, self.distance_expansion)
        directions = neighbor_vectors / neighbor_distances.unsqueeze(-1).clamp_min(1e-6)
        batch, atoms, neighbors = neighbor_index.shape
        flat_index = neighbor_index.reshape(batch, atoms * neighbors, 1)

        def gather(h: torch.Tensor) -> torch.Tensor:
            picked = torch.gather(h, 1, flat_index.expand(-1, -1, h.shape[-1]))
            return picked.reshape(batch, atoms, neighbors, h.shape[-1])

        filters = self.filter(edges) * weights.unsqueeze(-1)
        h = self.embedding(atomic_numbers)
        for layer in self.layers:
            h = layer(h, gather, filters) * mask.unsqueeze(-1)
        pair_states = (
            self.centre_transform(h).unsqueeze(2) * gather(self.neighbor_transform(h)) * filters
        )
        weighted = self.edge_head(pair_states) * weights.unsqueeze(-1)
        displacements = (weighted[..., 0:1] * directions).sum(dim=2)
        outer = directions.unsqueeze(-1) * directions.unsqueeze(-2)
        eye = torch.eye(3, dtype=outer.dtype, device=outer.device)
        deviator = (weighted[..., 1, None, None] * (outer - eye / 3.0)).sum(dim=(1, 2))
        deviator = deviator / n_real[:, None, None]
        log_atom_volume = self.volume_head(h)[..., 0].clamp(-5.0, 5.0)
        atom_volumes = REFERENCE_VOLUME_PER_ATOM * torch.exp(log_atom_volume)
        mean_volume = (atom_volumes * mask).sum(dim=1) / n_real
        log_volume_ratio = torch.log(mean_volume) - torch.log(volume_per_atom)
        log_strain = deviator + (log_volume_ratio / 3.0)[:, None, None] * eye
        centred = (
            displacements
            - (displacements * mask.unsqueeze(-1)).sum(dim=1, keepdim=True)
            / (n_real[:, None, None])
        )
        return log_strain, centred * mask.unsqueeze(-1)
