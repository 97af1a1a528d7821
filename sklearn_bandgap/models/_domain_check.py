"""``DomainCheck``: a pipeline step that flags crystals packed tighter than any seen in fit."""

from __future__ import annotations

from numbers import Real
from typing import Any, ClassVar

import numpy as np
from pymatgen.core import Element
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils import Tags
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from sklearn_bandgap.exceptions import StructureProblem
from sklearn_bandgap.featurizers._neighbor_lists import NeighborLists
from sklearn_bandgap.models._domain import report_out_of_domain
from sklearn_bandgap.utils._formulas import formula_of_numbers


def _ordinal(k: int) -> str:
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix}"


class DomainCheck(TransformerMixin, BaseEstimator):
    """Pass neighbour lists through; flag crystals packed tighter than training ever was.

    ``fit`` records, for every element and every neighbour rank ``k``, the
    shortest distance at which an atom of that element had its ``k``-th
    neighbour in the training lists. ``transform`` flags a crystal in which an
    atom has its ``k``-th neighbour closer than ``factor`` times that distance
    (naming the element, the rank and both distances), then returns the lists
    unchanged. Compressed or implausibly dense inputs are caught by the rank
    that gives them away: simple-cubic hydrogen at 1 Å has six H neighbours at
    1 Å, where no H atom of the Materials Project set had its sixth neighbour
    closer than 1.82 Å (ratio 0.55); NaCl at half its lattice constant sits at
    0.62 of the training minimum. On the project's test split (3,333 crystals
    of unseen formulas) ``factor=0.8`` flags none.

    Place it after :class:`~sklearn_bandgap.featurizers.NeighborListFeaturizer`
    and before the model; the models' own check (unseen elements, overall
    distance range, covalent radii) stays where it is.

    Parameters
    ----------
    factor : float, default=0.8
        A neighbour closer than ``factor`` × the shortest seen in fit for its
        element and rank is out of the domain.
    handle_unknown : {"warn", "error"}, default="warn"
        ``"warn"``: one :class:`~sklearn_bandgap.exceptions.OutOfDomainWarning`
        per call, listing every flagged crystal (index, formula, reason);
        ``"error"``: an :class:`~sklearn_bandgap.exceptions.InvalidStructureError`.

    Attributes
    ----------
    elements_ : ndarray of shape (n_elements,)
        Atomic numbers of the centre atoms seen in fit, sorted.
    rank_min_distances_ : ndarray of shape (n_elements, n_neighbors)
        ``[i, k - 1]``: the shortest distance (Å) of a ``k``-th neighbour of an
        atom of ``elements_[i]`` in fit.
    n_neighbors_ : int
        Neighbours per list in fit.

    Examples
    --------
    >>> from pymatgen.core import Lattice, Structure
    >>> from sklearn_bandgap.featurizers import NeighborListFeaturizer
    >>> from sklearn_bandgap.models import DomainCheck
    >>> nacl = Structure.from_spacegroup(
    ...     "Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    ... )
    >>> check = DomainCheck().fit(NeighborListFeaturizer().transform([nacl]))
    >>> squeezed = nacl.copy()
    >>> _ = squeezed.scale_lattice(nacl.volume / 8)
    >>> (problem,) = check.problems(NeighborListFeaturizer().transform([squeezed]))
    >>> problem.formula, problem.reason[:45]
    ('NaCl', 'has Na with its 1st neighbour at 1.41 Å, 0.50')
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "factor": [Interval(Real, 0, 1, closed="right")],
        "handle_unknown": [StrOptions({"warn", "error"})],
    }

    def __init__(self, *, factor: float = 0.8, handle_unknown: str = "warn") -> None:
        self.factor = factor
        self.handle_unknown = handle_unknown

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: NeighborLists, y: Any = None) -> DomainCheck:
        """Record the shortest distance of each neighbour rank for each element.

        Parameters
        ----------
        X : NeighborLists
            The training lists (``NeighborListFeaturizer().transform``).
        y : ignored
            Accepted for pipelines.

        Returns
        -------
        self : DomainCheck
            The fitted check.
        """
        X = _checked(X)
        centres = X.atomic_numbers[:, 0]
        self.elements_ = np.unique(centres).astype(int)
        self.n_neighbors_ = int(X.distances.shape[1] - 1)
        table = np.full((len(self.elements_), self.n_neighbors_), np.inf)
        rows = np.searchsorted(self.elements_, centres)
        for k in range(1, self.n_neighbors_ + 1):
            np.minimum.at(table[:, k - 1], rows, X.distances[:, k].astype(float))
        self.rank_min_distances_ = table
        return self

    def transform(self, X: NeighborLists) -> NeighborLists:
        """Flag the crystals outside the domain; return ``X`` unchanged.

        Parameters
        ----------
        X : NeighborLists
            Lists to check.

        Returns
        -------
        X : NeighborLists
            The same object.

        Raises
        ------
        InvalidStructureError
            With ``handle_unknown="error"``, listing every flagged crystal.
        """
        check_is_fitted(self)
        self._validate_params()
        X = _checked(X)
        width = X.distances.shape[1] - 1
        if width != self.n_neighbors_:
            raise ValueError(
                f"X holds neighbour lists of {width} neighbours, but DomainCheck was fitted on "
                f"{self.n_neighbors_}."
            )
        report_out_of_domain(self.problems(X), len(X), self.handle_unknown)
        return X

    def problems(self, X: NeighborLists) -> list[StructureProblem]:
        """One problem per crystal with a neighbour closer than the domain allows.

        Parameters
        ----------
        X : NeighborLists
            Lists to check (as many neighbours as in fit).

        Returns
        -------
        problems : list of StructureProblem
            Index, formula and reason (element, rank, distance, training minimum).
        """
        check_is_fitted(self)
        centres = X.atomic_numbers[:, 0]
        known = np.isin(centres, self.elements_)  # unseen elements: the model flags them
        rows = np.searchsorted(self.elements_, centres).clip(max=len(self.elements_) - 1)
        ratio = np.where(
            known[:, None], X.distances[:, 1:] / self.rank_min_distances_[rows], np.inf
        )
        worst = ratio.min(axis=1)
        starts = X.offsets[:-1]
        flagged = np.flatnonzero(np.minimum.reduceat(worst, starts) < self.factor)
        problems = []
        for i in flagged.tolist():
            atoms = slice(X.offsets[i], X.offsets[i + 1])
            atom = int(np.argmin(worst[atoms]))
            k = int(np.argmin(ratio[atoms][atom])) + 1
            element = Element.from_Z(int(centres[atoms][atom])).symbol
            distance = float(X.distances[atoms][atom, k])
            minimum = float(self.rank_min_distances_[rows[atoms][atom], k - 1])
            problems.append(
                StructureProblem(
                    i,
                    formula_of_numbers(centres[atoms]),
                    f"has {element} with its {_ordinal(k)} neighbour at {distance:.2f} Å, "
                    f"{distance / minimum:.2f} x the closest seen in fit for {element} "
                    f"({minimum:.2f} Å): packed tighter than any training crystal",
                )
            )
        return problems

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False  # input: NeighborLists
        tags.target_tags.required = False
        return tags


def _checked(X: Any) -> NeighborLists:
    if not isinstance(X, NeighborLists):
        raise TypeError(
            f"DomainCheck takes the NeighborLists made by NeighborListFeaturizer, got a "
            f"{type(X).__qualname__}: make_pipeline(NeighborListFeaturizer(), DomainCheck(), "
            "model)."
        )
    return X
