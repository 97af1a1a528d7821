"""Baseline translators: the structure as it is, and isotropic rescaling to a learned volume."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from pymatgen.core import Element, Structure
from sklearn.linear_model import LinearRegression
from sklearn.utils._param_validation import StrOptions

from sklearn_bandgap.exceptions import InvalidStructureError, StructureProblem
from sklearn_bandgap.translation._base import BaseTranslator
from sklearn_bandgap.translation._inputs import unseen_element_problems, warn_unseen_elements
from sklearn_bandgap.utils._validation import PeriodicArrays


def _copy(item: PeriodicArrays) -> Structure:
    assert item.structure is not None
    return Structure.from_sites(item.structure)


class IdentityTranslator(BaseTranslator):
    """The translation baseline that changes nothing: unrelaxed structures as they are.

    ``fit`` only checks the pairs (so that it fails where the learned
    translators fail); ``transform`` returns copies of the input as pymatgen
    ``Structure`` objects.

    Attributes
    ----------
    n_pairs_ : int
        Pairs seen in ``fit``.

    Examples
    --------
    >>> from sklearn_bandgap.datasets import load_nrel_relaxation_pairs
    >>> from sklearn_bandgap.translation import IdentityTranslator
    >>> pairs = load_nrel_relaxation_pairs(subset="sample100", progress=False)
    >>> out = IdentityTranslator().fit(pairs.unrelaxed, relaxed=pairs.relaxed).transform(
    ...     pairs.unrelaxed[:1])
    >>> out[0] == pairs.unrelaxed[0]
    True
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {}
    _requires_relaxed = False

    def _fit(self, unrelaxed: list[PeriodicArrays], relaxed: list[PeriodicArrays] | None) -> None:
        pass  # fit only checks the pairs, so that it fails where the learned ones fail

    def _transform(self, arrays: list[PeriodicArrays]) -> list[Structure]:
        return [_copy(item) for item in arrays]


class IsotropicVolumeTranslator(BaseTranslator):
    """Rescale each cell, shape kept, to a volume learned from relaxed structures.

    The relaxed volume is modelled as a sum of per-element volumes,
    ``V = sum_e n_e v_e``, fitted by non-negative least squares on the relaxed
    structures (:class:`~sklearn.linear_model.LinearRegression` with
    ``positive=True`` and no intercept). Fractional coordinates are kept.

    Parameters
    ----------
    handle_unknown : {"error", "keep_volume"}, default="error"
        What ``transform`` does with a structure holding an element unseen in
        ``fit`` (its volume cannot be predicted): ``"error"`` raises an
        :class:`~sklearn_bandgap.exceptions.InvalidStructureError` naming every
        such structure; ``"keep_volume"`` returns it unscaled (a copy of the
        input) and warns with their count and the first of them, as
        scikit-learn's ``OneHotEncoder(handle_unknown=...)`` does for unseen
        categories.

    Attributes
    ----------
    element_volumes_ : dict of str to float
        Fitted volume (Å^3) of each element seen in ``fit``.
    n_pairs_ : int
        Pairs seen in ``fit``.

    Examples
    --------
    >>> from sklearn_bandgap.datasets import load_nrel_relaxation_pairs
    >>> from sklearn_bandgap.translation import IsotropicVolumeTranslator
    >>> pairs = load_nrel_relaxation_pairs(subset="sample100", progress=False)
    >>> iso = IsotropicVolumeTranslator().fit(pairs.unrelaxed, relaxed=pairs.relaxed)
    >>> out = iso.transform(pairs.unrelaxed[:1])[0]
    >>> out.lattice.angles == pairs.unrelaxed[0].lattice.angles
    True
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "handle_unknown": [StrOptions({"error", "keep_volume"})]
    }

    def __init__(self, handle_unknown: str = "error") -> None:
        self.handle_unknown = handle_unknown

    def _fit(self, unrelaxed: list[PeriodicArrays], relaxed: list[PeriodicArrays] | None) -> None:
        assert relaxed is not None
        relaxed_arrays = relaxed
        elements = np.unique(np.concatenate([a.atomic_numbers for a in relaxed_arrays]))
        counts = self._counts(relaxed_arrays, elements)
        volumes = np.array([abs(np.linalg.det(a.lattice)) for a in relaxed_arrays])
        model = LinearRegression(positive=True, fit_intercept=False).fit(counts, volumes)
        self.elements_ = elements
        self.coefficients_ = model.coef_
        self.element_volumes_ = {
            str(Element.from_Z(int(z)).symbol): float(v)
            for z, v in zip(elements, model.coef_, strict=True)
        }

    def transform(self, X: Any) -> list[Structure]:
        """Rescale every cell to its predicted volume.

        Parameters
        ----------
        X : sequence of structures
            Unrelaxed structures, made of elements seen in ``fit``.

        Returns
        -------
        structures : list of Structure
            Same fractional coordinates and cell shape, predicted volume
            (the input volume for unseen elements with
            ``handle_unknown="keep_volume"``).

        Raises
        ------
        InvalidStructureError
            Naming every structure that holds an element unseen in ``fit``
            (with ``handle_unknown="error"``) or whose predicted volume is 0.

        Warns
        -----
        UserWarning
            With ``handle_unknown="keep_volume"``, the count of structures left
            unscaled and the first of them.
        """
        return super().transform(X)

    def _transform(self, arrays: list[PeriodicArrays]) -> list[Structure]:
        unknown = unseen_element_problems(arrays, self.elements_)
        if unknown and self.handle_unknown == "error":
            raise InvalidStructureError(unknown)
        warn_unseen_elements(
            unknown, len(arrays), "keep their volume (handle_unknown='keep_volume')"
        )
        kept = {problem.index for problem in unknown}
        known = [i for i in range(len(arrays)) if i not in kept]
        predicted = dict(
            zip(
                known,
                self._counts([arrays[i] for i in known], self.elements_) @ self.coefficients_,
                strict=True,
            )
        )
        out = []
        for index, item in enumerate(arrays):
            structure = _copy(item)
            if index in kept:
                out.append(structure)
                continue
            if predicted[index] <= 0:
                raise InvalidStructureError(
                    [StructureProblem(index, item.formula, "has a predicted volume of 0.")]
                )
            structure.scale_lattice(float(predicted[index]))
            out.append(structure)
        return out

    @staticmethod
    def _counts(arrays: list[PeriodicArrays], elements: np.ndarray) -> np.ndarray:
        counts = np.zeros((len(arrays), len(elements)))
        for row, item in enumerate(arrays):
            np.add.at(counts[row], np.searchsorted(elements, item.atomic_numbers), 1.0)
        return counts
