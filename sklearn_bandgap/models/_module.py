"""``NeighborLSTM``: the two-level network as a plain ``torch.nn.Module``."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from sklearn_bandgap._nn._expansion import gaussian_expansion
from sklearn_bandgap.utils._elements import MAX_ATOMIC_NUMBER

#: The smooth envelope of the ``"shells"`` atom level is 1 up to this fraction of
#: the last listed neighbour's distance, then falls to 0 (cosine) at that distance.
ENVELOPE_START = 0.75


def neighbor_envelope(distances: torch.Tensor, start: float = ENVELOPE_START) -> torch.Tensor:
    """Weights in [0, 1] that take each atom's neighbours smoothly down to 0 at its last one.

    Parameters
    ----------
    distances : Tensor of shape (n_rows, n_neighbors)
        Each row's neighbour distances, nearest first (the centre excluded).
    start : float, default=ENVELOPE_START
        Fraction of the last neighbour's distance where the fall begins (0: a
        cosine over the whole range, the gentlest slope).

    Returns
    -------
    weights : Tensor of shape (n_rows, n_neighbors)
        ``1`` for ``d <= start * R``, ``0`` at ``d = R``, a cosine in
        between, where ``R`` is the row's largest distance (that of its
        ``n_neighbors``-th neighbour). ``R`` is an order statistic of the
        distances, so it is a continuous function of the positions even when
        neighbours swap ranks; the neighbours at ``R`` (the ones a hard
        ``n_neighbors`` cut keeps or drops depending on noise) weigh 0.
    """
    radius = distances[:, -1:]
    x = (distances / radius - start) / (1.0 - start)
    return 0.5 * (1.0 + torch.cos(math.pi * x.clamp(0.0, 1.0)))


class AtomContext(nn.Module):
    """One residual layer that updates each row from itself and its crystal's mean row.

    The mean is share-weighted, so the layer is a symmetric, continuous
    function of the rows and exact when a row is split into copies with
    divided shares; its cost is linear in the rows (self-attention's is
    quadratic).

    Parameters
    ----------
    width : int
        Size of each row's vector.
    """

    def __init__(self, width: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.mix = nn.Sequential(
            nn.Linear(2 * width, 2 * width), nn.SiLU(), nn.Linear(2 * width, width)
        )

    def forward(
        self,
        rows: torch.Tensor,
        crystal_of_row: torch.Tensor,
        shares: torch.Tensor,
        n_crystals: int,
    ) -> torch.Tensor:
        """Update each real row (``rows``: (n_real_rows, width)) from its crystal's mean."""
        normed = self.norm(rows)
        means = normed.new_zeros(n_crystals, normed.shape[1])
        means.index_add_(0, crystal_of_row, shares.unsqueeze(1) * normed)
        out: torch.Tensor = rows + self.mix(torch.cat([normed, means[crystal_of_row]], dim=1))
        return out


#: Gaussians on [0, 8] Å that shape each neighbour's message filter.
MESSAGE_GAUSSIANS = 16

#: Rows per block of :class:`NeighborMessages` (its per-neighbour temporaries
#: stay at a few MB whatever the batch).
MESSAGE_BLOCK_ROWS = 256


class NeighborMessages(nn.Module):
    """One residual layer that updates each row from its listed neighbours' rows.

    Row ``r`` receives ``m_r = (1/k) sum_j w_j F(d_j) * V h_{site(j)}``: each of
    its ``k`` neighbours ``j`` sends the (normalised, linearly mapped) vector
    of the row it is an image of, times a filter of its distance ``F(d_j)``
    (a linear map of :data:`MESSAGE_GAUSSIANS` Gaussians) and the envelope
    ``w_j`` (:func:`neighbor_envelope`), which takes the neighbours to 0 at
    the last listed one. Then ``h_r += MLP([h_r, m_r])``. The sum is symmetric
    among tied neighbours and every term is continuous in the positions, so
    the layer keeps the model continuous; it reads only the lists, so a
    supercell gives the same rows. This is the continuous-filter convolution
    of SchNet (Schütt et al., 2018) on the rows of the neighbour lists.

    Parameters
    ----------
    width : int
        Size of each row's vector.
    """

    def __init__(self, width: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.value = nn.Linear(width, width)
        self.filter = nn.Linear(MESSAGE_GAUSSIANS, width)
        self.mix = nn.Sequential(
            nn.Linear(2 * width, 2 * width), nn.SiLU(), nn.Linear(2 * width, width)
        )

    def forward(
        self,
        rows: torch.Tensor,
        neighbor_rows: torch.Tensor,
        weights: torch.Tensor,
        expansion: torch.Tensor,
    ) -> torch.Tensor:
        """Update ``rows`` (n_rows, width) from the rows ``neighbor_rows`` (n_rows, k) point at.

        ``weights`` (n_rows, k) are the neighbours' envelope weights and
        ``expansion`` (n_rows, k, MESSAGE_GAUSSIANS) their distances' Gaussians.
        """
        normed = self.norm(rows)
        mapped = self.value(normed)
        # in blocks of rows: the (rows, k, width) temporaries of a batch of large
        # crystals are tens of MB, fresh allocations the CPU pays for in page faults
        # and cache misses; blocks of a few MB are much faster (benchmarks/predict_cli)
        # (each row's arithmetic is unchanged: the same predictions, bit for bit)
        blocks = [
            self._messages(mapped, *block)
            for block in zip(
                neighbor_rows.split(MESSAGE_BLOCK_ROWS),
                weights.split(MESSAGE_BLOCK_ROWS),
                expansion.split(MESSAGE_BLOCK_ROWS),
                strict=True,
            )
            if len(block[0])
        ]
        messages = torch.cat(blocks) if blocks else mapped.new_zeros(0, mapped.shape[1])
        out: torch.Tensor = rows + self.mix(torch.cat([normed, messages], dim=1))
        return out

    def _messages(
        self,
        mapped: torch.Tensor,
        neighbor_rows: torch.Tensor,
        weights: torch.Tensor,
        expansion: torch.Tensor,
    ) -> torch.Tensor:
        """The messages ``m_r`` of a block of rows (``mapped``: every row's ``V h``)."""
        # index_select: its backward is index_add_, much faster on the CPU than
        # the accumulating index_put_ of advanced indexing
        values = mapped.index_select(0, neighbor_rows.reshape(-1))
        values = values.view(*neighbor_rows.shape, -1)  # (block, k, width)
        filters = self.filter(expansion) * weights.unsqueeze(-1)
        return (filters * values).mean(dim=1)


class NeighborLSTM(nn.Module):
    """Element embedding × 1/distance → atom LSTM → crystal aggregation → dense head.

    Parameters
    ----------
    n_outputs : int, default=1
        Number of predicted properties.
    embedding_dim : int, default=32
        Size of the element embedding (one row per atomic number 1..118; row 0
        is the padding index and stays zero).
    atom_hidden : int, default=64
        Hidden size of the LSTM that reads each atom's neighbours.
    crystal_hidden : int, default=64
        Hidden size of the crystal level (LSTM or pooled atom transform).
    head_hidden : int, default=64
        Width of the hidden layer of the dense head.
    dropout : float, default=0.0
        Dropout before the head's output layer.
    with_shares : bool, default=False
        If True, each row stands for several equivalent atoms and ``forward``
        takes their ``shares`` of the crystal. Required by ``crystal="pooled"``.
    distance_expansion : int, default=16
        Number of Gaussians on [0, 8] Å: the radial shells of
        ``neighbors="shells"``, or the expansion appended to each neighbour's
        input with ``neighbors="sequence"`` (0: none).
    attention_pooling : bool, default=False
        ``crystal="lstm"`` only: the head also reads an attention-weighted sum
        of the atom vectors beside the crystal LSTM's final state.
    neighbors : {"shells", "sequence"}, default="shells"
        How the atom LSTM reads an atom's neighbours. See Notes.
    crystal : {"pooled", "lstm"}, default="pooled"
        How a crystal's atom vectors become one vector. See Notes.
    envelope_start : float, default=0.75
        ``neighbors="shells"``: where the envelope starts to fall, as a fraction
        of the last listed neighbour's distance (:func:`neighbor_envelope`).
    interaction_layers : int, default=0
        ``crystal="pooled"``: layers that update each atom vector from the
        crystal's share-weighted mean (:class:`AtomContext`), between the atom
        transform and the pooling.
    atom_features : int, default=0
        ``crystal="pooled"``: length of a feature vector per row (e.g. CHGNet's
        64) that ``forward`` takes as ``atom_features``; each row's vector is
        layer-normalised and appended to the atom LSTM's output before the atom
        transform (0: none).
    message_layers : int, default=0
        ``crystal="pooled"``: layers that update each atom vector from the
        vectors of its listed neighbours' atoms (:class:`NeighborMessages`),
        after the atom transform; ``forward`` then takes ``neighbor_sites``.
    feature_targets : int, default=0
        ``crystal="pooled"``: length of a feature vector per row that the
        network learns to *predict* rather than read (feature distillation):
        a linear layer maps each atom vector, after the message layers, to it.
        In training mode, given ``atom_features`` (then targets, not inputs),
        ``forward`` returns a tuple (see :meth:`forward`); in evaluation mode
        it returns the crystal outputs alone and needs no features.

    Notes
    -----
    **Atom level, ``neighbors="shells"``** (continuous in the positions). Each
    neighbour ``j`` of an atom contributes ``w_j * embedding(Z_j) / d_j``, where
    ``w_j`` is a smooth envelope (:func:`neighbor_envelope`) that weighs the
    neighbours down to 0 at the last listed one. The LSTM steps through a fixed
    grid of radial shells (the ``distance_expansion`` Gaussians ``g_s``, nearest
    first) after the centre atom (``embedding(Z_centre) * centre_weight``,
    a learned scalar initialised to 1): step ``s`` reads
    ``sum_j g_s(d_j) w_j embedding(Z_j) / d_j`` and the shell's occupancy
    ``sum_j g_s(d_j) w_j``. The input is ordered by distance, as in the
    original design, but every step is a smooth, symmetric sum over the
    neighbours: equidistant neighbours of different elements have no order to
    flip, and a neighbour crossing the list's edge weighs 0 there.

    **Atom level, ``neighbors="sequence"``** (the original design, not
    continuous): the LSTM reads the centre, then the neighbours nearest first,
    each as ``embedding(Z_j) / d_j`` (plus the Gaussian expansion of ``d_j``
    with ``distance_expansion > 0``). Ties are ordered by element, so noise that
    breaks a tie reorders the sequence, and the hard cut at the last neighbour
    changes which atoms are read.

    **Crystal level, ``crystal="pooled"``** (continuous and symmetric): each
    atom vector goes through a linear layer and SiLU; the crystal vector is
    the share-weighted mean of these together with an attention-weighted sum
    (softmax over the crystal's rows of a learned score plus the log of each
    row's share, so a row standing for several equivalent atoms weighs as much
    as they would). Both are symmetric functions of the atoms, so no order of
    the atoms enters, and a supercell (every row's share divided equally)
    gives the same vector. With ``interaction_layers``, each transformed atom
    vector is first updated from itself and the crystal's share-weighted mean
    (:class:`AtomContext`), so that an atom's vector depends on the other
    atoms, as the seed's crystal LSTM let it; this keeps the symmetry, the
    continuity and the supercell exactness.

    **Crystal level, ``crystal="lstm"``** (the original design): an LSTM reads
    the crystal's atom vectors in the order of the rows (packed, it never
    reads padding), with each row's share appended ``with_shares``; its final
    state goes to the head. Any order of atoms computed from their
    environments changes when noise swaps two near-equal environments, so this
    is not continuous in the positions.

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
        distance_expansion: int = 16,
        attention_pooling: bool = False,
        neighbors: str = "shells",
        crystal: str = "pooled",
        envelope_start: float = ENVELOPE_START,
        interaction_layers: int = 0,
        atom_features: int = 0,
        message_layers: int = 0,
        feature_targets: int = 0,
    ) -> None:
        super().__init__()
        if neighbors not in ("shells", "sequence") or crystal not in ("pooled", "lstm"):
            raise ValueError(
                f"neighbors must be 'shells' or 'sequence' and crystal 'pooled' or 'lstm', "
                f"got {neighbors!r} and {crystal!r}."
            )
        minimum = 2 if neighbors == "shells" else 0
        if distance_expansion < minimum or distance_expansion == 1:
            raise ValueError(
                f"distance_expansion must be {'at least 2 shells' if minimum else '0 or ≥ 2'} "
                f"with neighbors={neighbors!r}, got {distance_expansion}."
            )
        if crystal == "pooled" and not with_shares:
            raise ValueError("crystal='pooled' reads each row's share: build it with_shares.")
        if interaction_layers and crystal != "pooled":
            raise ValueError("interaction_layers needs crystal='pooled'.")
        if atom_features and crystal != "pooled":
            raise ValueError("atom_features needs crystal='pooled'.")
        if message_layers and crystal != "pooled":
            raise ValueError("message_layers needs crystal='pooled'.")
        if feature_targets and (crystal != "pooled" or atom_features):
            raise ValueError(
                "feature_targets needs crystal='pooled' and no atom_features as inputs."
            )
        self.n_feature_targets = feature_targets
        self.n_atom_features = atom_features
        self.neighbors = neighbors
        self.crystal = crystal
        self.envelope_start = envelope_start
        self.distance_expansion = distance_expansion
        self.with_shares = with_shares
        self.embedding = nn.Embedding(MAX_ATOMIC_NUMBER + 1, embedding_dim, padding_idx=0)
        self.centre_weight = nn.Parameter(torch.ones(1))
        step_size = embedding_dim + (1 if neighbors == "shells" else distance_expansion)
        self.atom_lstm = nn.LSTM(step_size, atom_hidden, batch_first=True)
        self.attention: nn.Linear | None
        self.feature_norm = nn.LayerNorm(atom_features) if atom_features else None
        if crystal == "pooled":
            self.atom_transform = nn.Sequential(
                nn.Linear(atom_hidden + atom_features, crystal_hidden), nn.SiLU()
            )
            self.messages = nn.ModuleList(
                NeighborMessages(crystal_hidden) for _ in range(message_layers)
            )
            self.interactions = nn.ModuleList(
                AtomContext(crystal_hidden) for _ in range(interaction_layers)
            )
            self.attention = nn.Linear(crystal_hidden, 1)
            if feature_targets:
                self.feature_head = nn.Linear(crystal_hidden, feature_targets)
            crystal_size = 2 * crystal_hidden
        else:
            self.crystal_lstm = nn.LSTM(
                atom_hidden + int(with_shares), crystal_hidden, batch_first=True
            )
            self.attention = nn.Linear(atom_hidden, 1) if attention_pooling else None
            crystal_size = crystal_hidden + (atom_hidden if attention_pooling else 0)
        self.head = nn.Sequential(
            nn.Linear(crystal_size, head_hidden),
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
        atom_features: torch.Tensor | None = None,
        neighbor_sites: torch.Tensor | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
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
        atom_features : Tensor of shape (n_crystals, max_rows, n_features), default=None
            Each row's feature vector; required if and only if the module was
            built with ``atom_features > 0``. With ``feature_targets > 0``:
            the features to predict (training mode only; ignored in
            evaluation mode).
        neighbor_sites : LongTensor of shape (n_crystals, max_rows, n_neighbors + 1), default=None
            For each neighbour, the row of its crystal that it is an image of;
            required if the module has ``message_layers``.

        Returns
        -------
        out : Tensor of shape (n_crystals, n_outputs)
            Or, with ``feature_targets``, in training mode and given
            ``atom_features``, the tuple ``(out, predicted, targets, weights)``:
            each real row's predicted and target features, (n_real_rows,
            n_features), and its weight, (n_real_rows,), its share of its
            crystal divided by the number of crystals (they sum to 1), for
            the loss (:class:`~sklearn_bandgap.models._loss.WeightedOutputLoss`).
        """
        max_rows = atomic_numbers.shape[1]
        real = torch.arange(max_rows, device=n_atoms.device)[None, :] < n_atoms[:, None]
        if self.with_shares and shares is None:
            raise ValueError("this NeighborLSTM was built with_shares: pass shares.")
        target_features = None
        if self.n_feature_targets:
            if self.training and atom_features is not None:
                target_features = atom_features[real]
            atom_features = None
        if (atom_features is None) != (self.feature_norm is None):
            raise ValueError(
                f"this NeighborLSTM was built for {self.n_atom_features} atom features; "
                f"got {'none' if atom_features is None else atom_features.shape[-1]}."
            )
        numbers, dists = atomic_numbers[real], distances[real]  # (n_real_rows, k + 1)
        if self.neighbors == "shells":
            steps = self._shell_steps(numbers, dists)
        else:
            steps = self._sequence_steps(numbers, dists)
        _, (atom_state, _) = self.atom_lstm(steps)
        atom_vectors = atom_state[-1]
        if self.feature_norm is not None:
            assert atom_features is not None
            features = self.feature_norm(atom_features[real])
            atom_vectors = torch.cat([atom_vectors, features], dim=1)
        row_shares = shares[real] if shares is not None else None
        if self.crystal == "pooled":
            assert row_shares is not None
            neighbors = None
            if len(self.messages):
                if neighbor_sites is None:
                    raise ValueError("this NeighborLSTM has message layers: pass neighbor_sites.")
                neighbors = self._neighbor_rows(neighbor_sites, real, n_atoms), dists[:, 1:]
            crystal, transformed = self._pool(atom_vectors, real, row_shares, neighbors)
        else:
            crystal = self._crystal_lstm(atom_vectors, real, n_atoms, row_shares)
        out: torch.Tensor = self.head(crystal)
        if target_features is not None:
            assert row_shares is not None
            predicted = self.feature_head(transformed)
            return out, predicted, target_features, row_shares / n_atoms.shape[0]
        return out

    # ------------------------------------------------------------------ atom level
    def _centre_step(self, numbers: torch.Tensor) -> torch.Tensor:
        return self.embedding(numbers[:, :1]) * self.centre_weight

    def _shell_steps(self, numbers: torch.Tensor, dists: torch.Tensor) -> torch.Tensor:
        """The centre, then one smooth, symmetric sum over the neighbours per radial shell."""
        neighbor_dists = dists[:, 1:]
        weights = neighbor_envelope(neighbor_dists, self.envelope_start)  # (rows, k)
        shells = gaussian_expansion(neighbor_dists, self.distance_expansion)  # (rows, k, S)
        weighted = shells * weights.unsqueeze(-1)
        # sum_j g_s(d_j) w_j embedding(Z_j) / d_j, for every shell s at once
        embedded = self.embedding(numbers[:, 1:]) / neighbor_dists.unsqueeze(-1)
        per_shell = torch.einsum("rks,rke->rse", weighted, embedded)
        occupancy = weighted.sum(dim=1).unsqueeze(-1)  # (rows, S, 1)
        centre = self._centre_step(numbers)
        centre = torch.cat([centre, centre.new_zeros(centre.shape[0], 1, 1)], dim=-1)
        return torch.cat([centre, torch.cat([per_shell, occupancy], dim=-1)], dim=1)

    def _sequence_steps(self, numbers: torch.Tensor, dists: torch.Tensor) -> torch.Tensor:
        """The original sequence: the centre, then each neighbour nearest first."""
        centre = self.centre_weight.expand(dists.shape[0], 1)
        weights = torch.cat([centre, dists[:, 1:].reciprocal()], dim=1)
        steps = self.embedding(numbers) * weights.unsqueeze(-1)
        if self.distance_expansion:
            expanded = gaussian_expansion(dists.clone(), self.distance_expansion)
            expanded[:, 0] = gaussian_expansion(dists.new_zeros(1), self.distance_expansion)
            steps = torch.cat([steps, expanded], dim=-1)
        return steps

    # --------------------------------------------------------------- crystal level
    @staticmethod
    def _neighbor_rows(
        neighbor_sites: torch.Tensor, real: torch.Tensor, n_atoms: torch.Tensor
    ) -> torch.Tensor:
        """Each real row's neighbours as indices into the real rows of the batch."""
        starts = torch.cumsum(n_atoms, dim=0) - n_atoms  # first real row of each crystal
        crystal_of_row = real.nonzero()[:, 0]
        return neighbor_sites[real][:, 1:] + starts[crystal_of_row].unsqueeze(1)

    def _pool(
        self,
        atom_vectors: torch.Tensor,
        real: torch.Tensor,
        row_shares: torch.Tensor,
        neighbors: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Share-weighted mean and attention-weighted sum of the transformed atom vectors.

        Returns the crystal vectors and the atom vectors after the message
        layers (what ``feature_targets`` are predicted from).
        """
        assert self.attention is not None
        transformed = self.atom_transform(atom_vectors)
        if neighbors is not None:
            neighbor_rows, neighbor_dists = neighbors
            weights = neighbor_envelope(neighbor_dists, self.envelope_start)
            expansion = gaussian_expansion(neighbor_dists, MESSAGE_GAUSSIANS)
            for layer in self.messages:
                transformed = layer(transformed, neighbor_rows, weights, expansion)
        after_messages = transformed
        if len(self.interactions):
            crystal_of_row = real.nonzero()[:, 0]
            for layer in self.interactions:
                transformed = layer(transformed, crystal_of_row, row_shares, real.shape[0])
        mean = self._scatter_sum(row_shares.unsqueeze(1) * transformed, real)
        weights = self._softmax_rows(self.attention(transformed).squeeze(1), real, row_shares)
        attended = self._scatter_sum(weights.unsqueeze(1) * transformed, real)
        return torch.cat([mean, attended], dim=1), after_messages

    def _crystal_lstm(
        self,
        atom_vectors: torch.Tensor,
        real: torch.Tensor,
        n_atoms: torch.Tensor,
        row_shares: torch.Tensor | None,
    ) -> torch.Tensor:
        atoms = atom_vectors
        if row_shares is not None:
            atoms = torch.cat([atoms, row_shares.unsqueeze(1)], dim=1)
        padded = atoms.new_zeros(*real.shape, atoms.shape[1])
        padded[real] = atoms
        packed = pack_padded_sequence(padded, n_atoms.cpu(), batch_first=True, enforce_sorted=False)
        _, (crystal_state, _) = self.crystal_lstm(packed)
        crystal: torch.Tensor = crystal_state[-1]
        if self.attention is not None:
            weights = self._softmax_rows(self.attention(atom_vectors).squeeze(1), real, row_shares)
            pooled = self._scatter_sum(weights.unsqueeze(1) * atom_vectors, real)
            crystal = torch.cat([crystal, pooled], dim=1)
        return crystal

    @staticmethod
    def _softmax_rows(
        scores: torch.Tensor, real: torch.Tensor, row_shares: torch.Tensor | None
    ) -> torch.Tensor:
        """Softmax of the rows' scores within each crystal (plus log shares), per real row."""
        if row_shares is not None:
            scores = scores + row_shares.clamp_min(1e-12).log()
        padded = scores.new_full(real.shape, float("-inf"))
        padded[real] = scores
        return torch.softmax(padded, dim=1)[real]

    @staticmethod
    def _scatter_sum(values: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """Sum of each crystal's real rows of ``values`` (n_real_rows, width)."""
        padded = values.new_zeros(*real.shape, values.shape[1])
        padded[real] = values
        return padded.sum(dim=1)
