"""What the neighbour-list LSTM estimators share: inputs, architecture, domain."""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.utils import Tags
from sklearn.utils._param_validation import Interval, Options, StrOptions

from sklearn_bandgap.featurizers._neighbor_lists import NeighborLists
from sklearn_bandgap.models._collate import CrystalItem
from sklearn_bandgap.models._domain import (
    domain_problems,
    neighbor_distance_range,
    report_out_of_domain,
)
from sklearn_bandgap.models._environments import (
    canonical_rows,
    composition_keys,
    distinct_environments,
)
from sklearn_bandgap.models._module import NeighborLSTM

#: Constraints of the network and domain parameters the LSTM estimators share.
ARCHITECTURE_CONSTRAINTS: dict[str, list[Any]] = {
    "embedding_dim": [Interval(Integral, 1, None, closed="left")],
    "atom_hidden": [Interval(Integral, 1, None, closed="left")],
    "crystal_hidden": [Interval(Integral, 1, None, closed="left")],
    "head_hidden": [Interval(Integral, 1, None, closed="left")],
    "dropout": [Interval(Real, 0, 1, closed="left")],
    "distance_expansion": [Options(Integral, {0}), Interval(Integral, 2, None, closed="left")],
    "atoms": [StrOptions({"distinct", "sorted", "site"})],
    "attention_pooling": ["boolean"],
    "handle_unknown": [StrOptions({"warn", "error"})],
}


class ModelInput:
    """What the module reads per crystal: neighbour rows and, optionally, shares.

    Indexing gives one :data:`~sklearn_bandgap.models._collate.CrystalItem`;
    skorch builds its ``Dataset`` on it.
    """

    def __init__(self, lists: NeighborLists, shares: np.ndarray | None) -> None:
        self.lists = lists
        self.shares = shares

    def __len__(self) -> int:
        return len(self.lists)

    def groups(self) -> np.ndarray:
        """Composition key of each crystal (the group of the validation split)."""
        return composition_keys(self.lists)

    def __getitem__(self, i: int) -> CrystalItem:
        start, stop = self.lists.offsets[int(i)], self.lists.offsets[int(i) + 1]
        shares = None if self.shares is None else self.shares[start:stop]
        return (self.lists.atomic_numbers[start:stop], self.lists.distances[start:stop], shares)


class NeighborLSTMMixin:
    """Inputs, network settings and fitted domain of the neighbour-list LSTM estimators.

    The regressor and the classifier differ in their head's loss and targets
    only: both read :class:`~sklearn_bandgap.featurizers.NeighborLists`, build
    the same :class:`NeighborLSTM` and check the same domain in ``predict``.
    """

    embedding_dim: int
    atom_hidden: int
    crystal_hidden: int
    head_hidden: int
    dropout: float
    distance_expansion: int
    atoms: str
    attention_pooling: bool
    handle_unknown: str

    def _check_lists(self, X: Any) -> NeighborLists:
        if not isinstance(X, NeighborLists):
            name = type(self).__name__
            raise TypeError(
                f"{name} takes the NeighborLists made by NeighborListFeaturizer, got a "
                f"{type(X).__qualname__}. Use make_pipeline(NeighborListFeaturizer(), "
                f"{name}()) to fit on structures."
            )
        if len(X) == 0:
            raise ValueError("X holds no structures.")
        return X

    def _learn_domain(self, X: NeighborLists) -> None:
        """Record the elements, list width and distance range of the training lists."""
        self.elements_seen_ = np.unique(X.atomic_numbers[:, 0]).astype(int)
        self.n_neighbors_ = int(X.atomic_numbers.shape[1] - 1)
        self.distance_range_ = neighbor_distance_range(X)

    def _check_domain(self, X: NeighborLists) -> None:
        width = X.atomic_numbers.shape[1] - 1
        if width != self.n_neighbors_:
            raise ValueError(
                f"X holds neighbour lists of {width} neighbours, but the model was fitted on "
                f"{self.n_neighbors_}: featurize with NeighborListFeaturizer(n_neighbors="
                f"{self.n_neighbors_})."
            )
        problems = domain_problems(X, self.elements_seen_, self.distance_range_)
        report_out_of_domain(problems, len(X), self.handle_unknown)

    def _model_input(self, X: NeighborLists) -> ModelInput:
        if self.atoms == "distinct":
            lists, shares = distinct_environments(X)
            return ModelInput(lists, shares)
        if self.atoms == "sorted":
            return ModelInput(canonical_rows(X), None)
        return ModelInput(X, None)

    def _module_kwargs(self, n_outputs: int) -> dict[str, Any]:
        """Skorch's ``module`` and ``module__*`` settings of the network."""
        return {
            "module": NeighborLSTM,
            "module__n_outputs": n_outputs,
            "module__embedding_dim": self.embedding_dim,
            "module__atom_hidden": self.atom_hidden,
            "module__crystal_hidden": self.crystal_hidden,
            "module__head_hidden": self.head_hidden,
            "module__dropout": self.dropout,
            "module__distance_expansion": self.distance_expansion,
            "module__with_shares": self.atoms == "distinct",
            "module__attention_pooling": self.attention_pooling,
        }

    def _input_tags(self, tags: Tags) -> Tags:
        tags.input_tags.two_d_array = False  # input: NeighborLists
        return tags
