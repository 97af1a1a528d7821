"""``MatminerTransformer``: any matminer featurizer as a strict scikit-learn step."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import warnings
from collections.abc import Iterator, Sequence
from functools import partial
from typing import Any

import numpy as np
from joblib import Memory
from matminer.featurizers.base import BaseFeaturizer
from pymatgen.core import IStructure
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context, clone
from sklearn.utils import Tags
from sklearn.utils.validation import check_is_fitted, check_memory

from sklearn_bandgap.exceptions import FeaturizationError, StructureProblem
from sklearn_bandgap.utils import map_chunks
from sklearn_bandgap.utils._formulas import reduced_formula
from sklearn_bandgap.utils._validation import read_structures


def _fresh_copy(featurizer: BaseFeaturizer) -> BaseFeaturizer:
    """``sklearn.clone`` of the featurizer, or a deep copy of it if it cannot be cloned.

    Some matminer featurizers do not store their constructor arguments (e.g.
    ``OrbitalFieldMatrix.period_tag``), which ``get_params`` and so ``clone`` need.
    """
    try:
        with _quiet_matminer():  # Magpie's ElementProperty warns in its __init__
            return clone(featurizer)
    except (AttributeError, RuntimeError, TypeError):
        return copy.deepcopy(featurizer)


def content_key(structures: Sequence[IStructure]) -> str:
    """A digest of what the structures hold: lattices, species, coordinates, properties.

    pymatgen objects cache derived values lazily, so their pickles (and joblib
    hashes) change once they are used; this key does not.

    Parameters
    ----------
    structures : sequence of Structure

    Returns
    -------
    key : str
        SHA-256 hex digest.
    """
    digest = hashlib.sha256()
    for structure in structures:
        digest.update(np.ascontiguousarray(structure.lattice.matrix, dtype=np.float64).tobytes())
        digest.update(np.ascontiguousarray(structure.frac_coords, dtype=np.float64).tobytes())
        species = "|".join(site.species_string for site in structure)
        extra = repr((structure.site_properties, structure.properties, structure.charge))
        digest.update(f"{species}#{extra};".encode())
    return digest.hexdigest()


@contextlib.contextmanager
def _quiet_matminer() -> Iterator[None]:
    """Silence what matminer's featurizers print on every call and the user cannot act on.

    Magpie's ``ElementProperty`` warns on every structure that its data source
    imputes NaNs; ``SineCoulombMatrix`` builds ``np.matrix`` objects and casts
    complex eigenvalues to real (numpy warns each time). Failures still raise.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The data_source has been specified externally")
        warnings.filterwarnings("ignore", message="Casting complex values to real")
        warnings.filterwarnings("ignore", message="the matrix subclass is not the recommended way")
        yield


def _featurize_chunk(
    featurizer: BaseFeaturizer, chunk: Sequence[IStructure], start: int
) -> list[np.ndarray | StructureProblem]:
    rows: list[np.ndarray | StructureProblem] = []
    for offset, structure in enumerate(chunk):
        index = start + offset
        try:
            with _quiet_matminer():
                row = np.asarray(featurizer.featurize(structure), dtype=np.float64).ravel()
        except Exception as exc:
            reason = f"{type(featurizer).__name__} failed: {type(exc).__name__}: {exc}"
            rows.append(StructureProblem(index, reduced_formula(structure), reason))
            continue
        if not np.isfinite(row).all():
            bad = np.flatnonzero(~np.isfinite(row))
            reason = (
                f"{type(featurizer).__name__} returned NaN or infinite values in "
                f"{bad.size} features (columns {bad[:5].tolist()})"
            )
            rows.append(StructureProblem(index, reduced_formula(structure), reason))
            continue
        rows.append(row)
    return rows


def featurize_structures(
    featurizer: BaseFeaturizer,
    structures: Sequence[IStructure],
    n_jobs: int | None = None,
    progress: bool = False,
    key: str | None = None,
) -> tuple[np.ndarray, list[StructureProblem]]:
    """Featurize every structure; failures are collected, not raised.

    Parameters
    ----------
    featurizer : matminer BaseFeaturizer
        Fitted if it needs fitting.
    structures : sequence of Structure
    key : str, default=None
        Unused here: the :func:`content_key` of ``structures``, on which a
        ``joblib.Memory`` cache of this function is keyed instead of on the
        structures themselves.
    n_jobs : int, default=None
        joblib workers.
    progress : bool, default=False
        Show a progress bar.

    Returns
    -------
    features : ndarray of shape (n_structures, n_features)
        NaN rows where featurization failed.
    problems : list of StructureProblem
        One per failed structure.
    """
    rows = map_chunks(
        partial(_featurize_chunk, featurizer),
        structures,
        n_jobs=n_jobs,
        chunk_size=64,
        progress=progress,
        desc=type(featurizer).__name__,
    )
    problems = [row for row in rows if isinstance(row, StructureProblem)]
    width = len(featurizer.feature_labels())
    features = np.full((len(rows), width), np.nan)
    for i, row in enumerate(rows):
        if isinstance(row, StructureProblem):
            continue
        if row.size != width:
            problems.append(
                StructureProblem(
                    i,
                    reduced_formula(structures[i]),
                    f"{type(featurizer).__name__} returned {row.size} values, expected {width}",
                )
            )
            continue
        features[i] = row
    problems.sort(key=lambda p: p.index or 0)
    return features, problems


class MatminerTransformer(TransformerMixin, BaseEstimator):
    """A matminer featurizer as a scikit-learn transformer that never hides a failure.

    matminer featurizers are sklearn estimators already, but inside a
    ``Pipeline`` they set ``n_jobs`` with a method and turn failures into NaN
    rows (``ignore_errors=True``) or into an exception without the offending
    item. This step wraps one (unchanged, cloned at ``fit``) so that:

    * ``n_jobs`` is a constructor parameter (joblib processes);
    * a structure the featurizer fails on, or returns NaN/infinite values for,
      raises :class:`~sklearn_bandgap.exceptions.FeaturizationError` naming
      every such structure by index and formula — after featurizing all the
      others, which the error carries in its ``features`` attribute;
    * featurization can be cached with ``joblib.Memory`` (``memory``), keyed on
      the fitted featurizer and the structures, *not* on ``y``: a second
      comparison, or a second target, reuses it.

    Parameters
    ----------
    featurizer : matminer BaseFeaturizer
        The featurizer (e.g. ``SineCoulombMatrix()``); its own ``fit`` is called
        on the training structures (on a clone).
    n_jobs : int, default=None
        joblib workers for featurization (None: 1, -1: all cores).
    memory : str, joblib.Memory or None, default=None
        Cache of the featurization (a directory or a ``Memory``).
    progress : bool, default=False
        Show a progress bar while featurizing.

    Attributes
    ----------
    featurizer_ : matminer BaseFeaturizer
        The fitted clone of ``featurizer``.
    n_features_out_ : int
        Number of output columns.
    feature_names_out_ : ndarray of str
        matminer's feature labels.

    Examples
    --------
    >>> from matminer.featurizers.structure import DensityFeatures
    >>> from sklearn_bandgap.baselines import MatminerTransformer
    >>> from sklearn_bandgap.datasets import load_mp_gap_eform
    >>> X, y = load_mp_gap_eform(subset="sample200", return_X_y=True, progress=False)
    >>> MatminerTransformer(DensityFeatures()).fit_transform(X[:4]).shape
    (4, 3)
    """

    _parameter_constraints: dict[str, list[Any]] = {  # noqa: RUF012 - sklearn's convention
        "featurizer": [BaseFeaturizer],
        "n_jobs": [int, None],
        "memory": [str, Memory, None],
        "progress": ["boolean"],
    }

    def __init__(
        self,
        featurizer: BaseFeaturizer,
        *,
        n_jobs: int | None = None,
        memory: str | Memory | None = None,
        progress: bool = False,
    ) -> None:
        self.featurizer = featurizer
        self.n_jobs = n_jobs
        self.memory = memory
        self.progress = progress

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X: Any, y: Any = None) -> MatminerTransformer:
        """Fit (a clone of) the featurizer on the structures ``X``.

        Parameters
        ----------
        X : sequence of structures
            Structures, ``ase.Atoms``, CIF texts or paths.
        y : ignored

        Returns
        -------
        self : MatminerTransformer
        """
        structures = read_structures(X)
        self.featurizer_ = _fresh_copy(self.featurizer)
        # Not chained: matminer's StructureComposition.fit returns its inner featurizer.
        self.featurizer_.fit(structures)
        self.feature_names_out_ = np.asarray(self.featurizer_.feature_labels(), dtype=object)
        self.n_features_out_ = len(self.feature_names_out_)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Featurize the structures ``X``.

        Parameters
        ----------
        X : sequence of structures

        Returns
        -------
        features : ndarray of shape (n_samples, n_features_out_)

        Raises
        ------
        FeaturizationError
            If the featurizer fails on, or returns non-finite values for, any
            structure; all are listed, and the computed rows are kept.
        """
        check_is_fitted(self)
        structures = read_structures(X)
        featurize = check_memory(self.memory).cache(
            featurize_structures, ignore=["structures", "n_jobs", "progress"]
        )
        features, problems = featurize(
            self.featurizer_,
            structures,
            self.n_jobs,
            self.progress,
            key=None if self.memory is None else content_key(structures),
        )
        if problems:
            raise FeaturizationError(problems, features)
        return features

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Matminer's feature labels.

        Parameters
        ----------
        input_features : ignored

        Returns
        -------
        names : ndarray of str
        """
        check_is_fitted(self)
        return self.feature_names_out_

    def __sklearn_clone__(self) -> MatminerTransformer:
        # cloning rebuilds the matminer featurizer (a scikit-learn estimator
        # itself), whose __init__ may warn (Magpie's imputation notice)
        with _quiet_matminer():
            clone_: MatminerTransformer = super().__sklearn_clone__()
        return clone_

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False  # input: structures
        tags.requires_fit = True
        return tags
