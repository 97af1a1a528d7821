"""``NeighborLSTM``: the two-level LSTM as a plain ``torch.nn.Module``."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from sklearn_bandgap._nn._expansion import gaussian_expansion
from sklearn_bandgap.utils._elements import MAX_ATOMIC_NUMBER


class NeighborLSTM(nn.Module):
    """Element embedding × 1/distance → atom LSTM → crystal LSTM → dense head.

    Parameters
    ----------
    n_outputs : int, default=1
        Number of predicted properties.
    embedding_dim : int, default=32
        Size of the element embedding (one row per atomic number 1..118; row 0
        is the padding index and stays zero).
    atom_hidden : int, default=64
        Hidden size of the LSTM that reads each atom's neighbour sequence.
    crystal_hidden : int, default=64
        Hidden size of the LSTM that reads a crystal's atom vectors.
    head_hidden : int, default=64
        Width of the hidden layer of the dense head.
    dropout : float, default=0.0
        Dropout before the head's output layer.
    with_shares : bool, default=False
        If True, each row stands for several equivalent atoms and ``forward``
        takes their ``shares`` of the crystal, appended to the row's vector
        before the crystal LSTM.
    distance_expansion : int, default=0
        Number of Gaussians of a distance expansion appended to each neighbour's
        input (0: none, the original design). See Notes.
    attention_pooling : bool, default=False
        If True, the head also reads an attention-weighted sum of the atom
        vectors beside the crystal LSTM's final state. See Notes.

    Notes
    -----
    Each neighbour ``j`` of an atom contributes ``embedding(Z_j) / d_j``. The
    centre atom (distance 0, first in its sequence) contributes
    ``embedding(Z_centre) * centre_weight``, a learned scalar initialised to 1.
    The atom LSTM reads the sequence centre first, then neighbours nearest
    first, and its final hidden state is the atom's vector; it runs on the real
    rows only (all sequences have length ``n_neighbors + 1``). Crystals have
    different numbers of atoms: their atom vectors are padded per batch and
    packed (``pack_padded_sequence``), so the crystal LSTM never reads padding;
    its final hidden state goes through the head.

    With ``distance_expansion=n > 0`` each step of the atom LSTM also reads
    ``exp(-((d - mu_k) / sigma) ** 2)`` for ``n`` centres ``mu_k`` evenly spaced
    on [0, 8] Å with ``sigma`` their spacing (as in
    CGCNN and SchNet), so the distance enters beyond the 1/d scale of the
    embedding. The centre atom reads the expansion of 0.

    With ``attention_pooling=True`` a linear layer scores each atom vector;
    the scores, plus the log of each row's share of the crystal (so a row
    standing for several equivalent atoms weighs as much as they would), go
    through a softmax over the crystal's real rows, and the weighted sum of the
    atom vectors is concatenated to the crystal LSTM's final state before the
    head. It gives the head a route to every atom that does not pass through
    the order-dependent LSTM.

    ``forward`` takes the keys of the batch dict made by
    :func:`~sklearn_bandgap.models.collate_neighbor_lists`.
    """

    def __init__(
        self,
        n_outputs: int = 1,
        embedding_dim: int = 32,
        atom_hidden: int = 64,
        crystal_hidden: int = 64,
        head_hidden: int = 64,
        dropout: float = 0.0,
        with_shares: bool = False,
        distance_expansion: int = 0,
        attention_pooling: bool = False,
    ) -> None:
        super().__init__()
        if distance_expansion == 1 or distance_expansion < 0:
            raise ValueError(
                f"distance_expansion must be 0 (none) or at least 2 Gaussians, got "
                f"{distance_expansion}."
            )
        self.distance_expansion = distance_expansion
        self.embedding = nn.Embedding(MAX_ATOMIC_NUMBER + 1, embedding_dim, padding_idx=0)
        self.centre_weight = nn.Parameter(torch.ones(1))
        self.atom_lstm = nn.LSTM(embedding_dim + distance_expansion, atom_hidden, batch_first=True)
        self.with_shares = with_shares
        self.crystal_lstm = nn.LSTM(
            atom_hidden + int(with_shares), crystal_hidden, batch_first=True
        )
        self.attention = nn.Linear(atom_hidden, 1) if attention_pooling else None
        pooled_size = atom_hidden if attention_pooling else 0
        self.head = nn.Sequential(
            nn.Linear(crystal_hidden + pooled_size, head_hidden),
            nn.SiLU(),
            nn.Dropout(dropout),
            nn.Linear(head_hidden, n_outputs),
        )

    def forward(
        self,
        atomic_numbers: torch.Tensor,
        distances: torch.Tensor,
        n_atoms: torch.Tensor,
        shares: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Predict one row per crystal.

        Parameters
        ----------
        atomic_numbers : LongTensor of shape (n_crystals, max_rows, n_neighbors + 1)
            Neighbour lists, one row per atom, padded per batch.
        distances : Tensor of shape (n_crystals, max_rows, n_neighbors + 1)
            Matching distances in Å; column 0 (the centre) is ignored.
        n_atoms : LongTensor of shape (n_crystals,)
            Real rows per crystal; padding rows are never read.
        shares : Tensor of shape (n_crystals, max_rows), default=None
            Share of its crystal's atoms each row stands for; required if and
            only if the module was built ``with_shares``.

        Returns
        -------
        out : Tensor of shape (n_crystals, n_outputs)
        """
        n_crystals, max_rows = atomic_numbers.shape[:2]
        real = torch.arange(max_rows, device=n_atoms.device)[None, :] < n_atoms[:, None]
        numbers, dists = atomic_numbers[real], distances[real]  # (n_real_rows, k + 1)
        centre = self.centre_weight.expand(dists.shape[0], 1)
        weights = torch.cat([centre, dists[:, 1:].reciprocal()], dim=1)
        steps = self.embedding(numbers) * weights.unsqueeze(-1)
        if self.distance_expansion:
            expanded = gaussian_expansion(dists.clone(), self.distance_expansion)
            expanded[:, 0] = gaussian_expansion(dists.new_zeros(1), self.distance_expansion)
            steps = torch.cat([steps, expanded], dim=-1)
        _, (atom_state, _) = self.atom_lstm(steps)
        atom_vectors = atoms = atom_state[-1]
        if self.with_shares:
            if shares is None:
                raise ValueError("this NeighborLSTM was built with_shares: pass shares.")
            atoms = torch.cat([atoms, shares[real].unsqueeze(1)], dim=1)
        padded = atoms.new_zeros(n_crystals, max_rows, atoms.shape[1])
        padded[real] = atoms
        packed = pack_padded_sequence(padded, n_atoms.cpu(), batch_first=True, enforce_sorted=False)
        _, (crystal_state, _) = self.crystal_lstm(packed)
        crystal = crystal_state[-1]
        if self.attention is not None:
            crystal = torch.cat([crystal, self._attend(atom_vectors, real, shares)], dim=1)
        out: torch.Tensor = self.head(crystal)
        return out

    def _attend(
        self, atom_vectors: torch.Tensor, real: torch.Tensor, shares: torch.Tensor | None
    ) -> torch.Tensor:
        """Attention-weighted sum of each crystal's atom vectors (padding weighs 0)."""
        assert self.attention is not None
        scores = self.attention(atom_vectors).squeeze(1)
        if shares is not None:
            scores = scores + shares[real].clamp_min(1e-12).log()
        padded = scores.new_full(real.shape, float("-inf"))
        padded[real] = scores
        weights = torch.softmax(padded, dim=1)[real].unsqueeze(1)
        pooled = atom_vectors.new_zeros(*real.shape, atom_vectors.shape[1])
        pooled[real] = weights * atom_vectors
        return pooled.sum(dim=1)
