"""``BaseTranslator``: what every translator shares (fit on pairs, transform structures)."""

from __future__ import annotations

from typing import Any, ClassVar

from pymatgen.core import Structure
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils import Tags
from sklearn.utils.validation import check_is_fitted

from sklearn_bandgap.translation._inputs import read_pairs
from sklearn_bandgap.utils._validation import PeriodicArrays, check_structures


class BaseTranslator(TransformerMixin, BaseEstimator):
    """Base class of the translators: unrelaxed structures in, (predicted) relaxed ones out.

    As imbalanced-learn's ``BaseSampler.fit_resample`` calls ``_fit_resample``,
    the public methods here validate, and a subclass implements only the work:

    - ``fit(X, y=None, *, relaxed=None)`` reads and checks the pairs (same
      species in the same site order; every bad item named at once), calls
      ``_fit(unrelaxed, relaxed)`` with their arrays, and sets ``n_pairs_``;
    - ``transform(X)`` checks that the translator is fitted, reads the
      structures and calls ``_transform(arrays)``.

    ``_requires_relaxed`` says whether ``fit`` needs the relaxed partners.
    """

    _requires_relaxed: ClassVar[bool] = True

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X: Any, y: Any = None, *, relaxed: Any = None) -> Any:
        """Learn from pairs of unrelaxed and relaxed structures.

        Parameters
        ----------
        X : sequence of structures
            Unrelaxed structures (pymatgen, ase.Atoms with pbc, CIF or POSCAR
            text, file paths; list, tuple, array or pandas Series).
        y : None
            Ignored (present so that a pipeline can pass its target through).
        relaxed : sequence of structures
            The DFT-relaxed partner of each item of ``X``: same species, same
            site order (optional for translators that learn nothing). Inside a
            :class:`~sklearn.pipeline.Pipeline`, request it with
            ``set_fit_request(relaxed=True)`` (metadata routing) or pass
            ``<step name>__relaxed=...``.

        Returns
        -------
        self : object
            The fitted translator.
        """
        unrelaxed, relaxed_arrays = read_pairs(
            X, relaxed, type(self).__name__, required=self._requires_relaxed
        )
        self._fit(unrelaxed, relaxed_arrays)
        self.n_pairs_ = len(unrelaxed)
        return self

    def transform(self, X: Any) -> list[Structure]:
        """Translate structures.

        Parameters
        ----------
        X : sequence of structures
            Unrelaxed structures.

        Returns
        -------
        translated : list of Structure
            Same species in the same site order as each input.
        """
        check_is_fitted(self)
        return self._transform(check_structures(X))

    def _fit(self, unrelaxed: list[PeriodicArrays], relaxed: list[PeriodicArrays] | None) -> None:
        raise NotImplementedError

    def _transform(self, arrays: list[PeriodicArrays]) -> list[Structure]:
        raise NotImplementedError

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False  # input: crystal structures
        tags.requires_fit = True
        return tags
