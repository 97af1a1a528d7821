"""The fitted attributes each saveable estimator class may carry, with their types.

A model file sets only what is declared here for its class, and each value must
have the declared kind (and, for arrays, dtype kind and number of dimensions):
a hand-edited file cannot set ``transform``, ``__dict__`` or an attribute of
another class, nor put an object, string or wrongly shaped array where the
estimator reads numbers. Saving checks the same table, so an estimator that
gains a fitted attribute fails its round-trip test until it is declared.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Fitted:
    """The declared type of one fitted attribute.

    Parameters
    ----------
    kind : {"int", "float", "str_list", "array", "labels", "estimator", \
"estimators", "net", "reload", "str_float_dict"}
        ``"labels"`` is an array of class labels (numbers, booleans or strings);
        ``"str_list"`` a list of str; ``"str_float_dict"`` a dict of str to float.
    dtype_kinds : str, default=""
        For ``"array"``: the numpy dtype kinds allowed (``"f"``, ``"iu"``, ``"b"``).
    ndim : int or None, default=None
        For ``"array"``: the number of dimensions required.
    optional : bool, default=False
        Whether None is allowed.
    required : bool, default=True
        Whether a fitted estimator must carry it (False: only some fits set it,
        or files written before it existed lack it).
    """

    kind: str
    dtype_kinds: str = ""
    ndim: int | None = None
    optional: bool = False
    required: bool = True

    def problem(self, value: Any) -> str | None:
        """Why ``value`` does not fit the declaration, or None when it does."""
        if value is None:
            return None if self.optional else "None where a value is required"
        check = _CHECKS[self.kind]
        return check(self, value)


def _int(spec: Fitted, value: Any) -> str | None:
    ok = isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)
    return None if ok else f"expected an int, got {type(value).__name__}"


def _float(spec: Fitted, value: Any) -> str | None:
    ok = isinstance(value, float | int | np.floating | np.integer) and not isinstance(
        value, bool | np.bool_
    )
    return None if ok else f"expected a number, got {type(value).__name__}"


def _array(spec: Fitted, value: Any) -> str | None:
    if not isinstance(value, np.ndarray):
        return f"expected an array, got {type(value).__name__}"
    if value.dtype.kind not in spec.dtype_kinds:
        return f"expected an array of dtype kind {spec.dtype_kinds!r}, got {value.dtype}"
    if spec.ndim is not None and value.ndim != spec.ndim:
        return f"expected a {spec.ndim}-D array, got shape {value.shape}"
    return None


def _labels(spec: Fitted, value: Any) -> str | None:
    if not isinstance(value, np.ndarray) or value.ndim != 1:
        return "expected a 1-D array of class labels"
    return None if value.dtype.kind in "biufUS" else f"labels of dtype {value.dtype} refused"


def _str_list(spec: Fitted, value: Any) -> str | None:
    ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
    return None if ok else "expected a list of str"


def _str_float_dict(spec: Fitted, value: Any) -> str | None:
    ok = isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, float | int) and not isinstance(v, bool)
        for k, v in value.items()
    )
    return None if ok else "expected a dict of str to numbers"


def _estimator(spec: Fitted, value: Any) -> str | None:
    ok = hasattr(value, "get_params") and hasattr(value, "fit")
    return None if ok else f"expected an estimator, got {type(value).__name__}"


def _estimators(spec: Fitted, value: Any) -> str | None:
    if not isinstance(value, list) or not value:
        return "expected a non-empty list of estimators"
    bad = [i for i, v in enumerate(value) if _estimator(spec, v) is not None]
    return f"items {bad[:5]} are not estimators" if bad else None


def _built_elsewhere(spec: Fitted, value: Any) -> str | None:
    return None  # skorch nets and reloaded potentials: built by the decoder itself


_CHECKS = {
    "int": _int,
    "float": _float,
    "array": _array,
    "labels": _labels,
    "str_list": _str_list,
    "str_float_dict": _str_float_dict,
    "estimator": _estimator,
    "estimators": _estimators,
    "net": _built_elsewhere,
    "reload": _built_elsewhere,
}

_FLOATS_1D = Fitted("array", "f", 1)
_INTS_1D = Fitted("array", "iu", 1)

#: What every LSTM estimator learns besides its target encoding.
_NEIGHBOR_LSTM = {
    "net_": Fitted("net"),
    "elements_seen_": _INTS_1D,
    "n_neighbors_": Fitted("int"),
    "distance_range_": _FLOATS_1D,
    "n_atom_features_": Fitted("int", required=False),  # absent: files before it (0)
    "n_distilled_features_": Fitted("int", required=False),  # absent: files before it (0)
    "validation_split_version_": Fitted("int", required=False),  # absent: files before it (1)
}
_TRANSLATOR = {"n_pairs_": Fitted("int")}

#: Registry name (as in ``ESTIMATORS``) -> fitted attribute -> declared type.
FITTED_ATTRIBUTES: dict[str, dict[str, Fitted]] = {
    "NeighborListFeaturizer": {},
    "NeighborLSTMRegressor": {
        **_NEIGHBOR_LSTM,
        "n_outputs_": Fitted("int"),
        "y_ndim_": Fitted("int"),
        "nonnegative_columns_": _INTS_1D,
        "y_mean_": _FLOATS_1D,
        "y_scale_": _FLOATS_1D,
        # None without output_weights; absent from files before it
        "output_weights_": Fitted("array", "f", 1, optional=True, required=False),
    },
    "NeighborLSTMClassifier": {
        **_NEIGHBOR_LSTM,
        "classes_": Fitted("labels"),
        "class_weight_": _FLOATS_1D,
    },
    "TwoHeadBandGapRegressor": {
        **_NEIGHBOR_LSTM,
        "gap_mean_": Fitted("float"),
        "gap_scale_": Fitted("float"),
    },
    "SeedEnsembleRegressor": {
        "estimators_": Fitted("estimators"),
        "seed_parameters_": Fitted("str_list"),
        "n_features_in_": Fitted("int", required=False),
    },
    "PooledEnsembleRegressor": {
        "estimators_": Fitted("estimators"),
        "n_features_in_": Fitted("int", required=False),
    },
    "ZeroInflatedRegressor": {
        "classifier_": Fitted("estimator"),
        "regressor_": Fitted("estimator"),
        "n_nonzero_": Fitted("int", optional=True),
    },
    "CompositionBaselineRegressor": {
        "regressor_": Fitted("estimator"),
        "coef_": Fitted("array", "f", 2),
        "intercept_": _FLOATS_1D,
        "y_ndim_": Fitted("int"),
    },
    "ConformalRegressor": {
        "estimator_": Fitted("estimator"),
        "half_widths_": _FLOATS_1D,
        "low_half_widths_": Fitted("array", "f", 1, required=False),
        "confidence_levels_": _FLOATS_1D,
        "n_conformalize_": Fitted("int"),
        "n_features_in_": Fitted("int", required=False),
    },
    "DomainCheck": {
        "elements_": _INTS_1D,
        "rank_min_distances_": Fitted("array", "f", 2),
        "n_neighbors_": Fitted("int"),
    },
    "RelaxationTranslator": {
        **_TRANSLATOR,
        "net_": Fitted("net"),
        "elements_seen_": _INTS_1D,
    },
    "SeedEnsembleTranslator": {
        **_TRANSLATOR,
        "estimators_": Fitted("estimators"),
        "seed_parameters_": Fitted("str_list"),
    },
    "IdentityTranslator": dict(_TRANSLATOR),
    "IsotropicVolumeTranslator": {
        **_TRANSLATOR,
        "elements_": _INTS_1D,
        "coefficients_": _FLOATS_1D,
        "element_volumes_": Fitted("str_float_dict"),
    },
    "PotentialRelaxer": {**_TRANSLATOR, "potential_": Fitted("reload")},
    "Pipeline": {},
    "FrozenEstimator": {},
}


def declared(name: str, attr: str) -> Fitted | None:
    """The declaration of ``attr`` for registry class ``name`` (None: not declared)."""
    return FITTED_ATTRIBUTES.get(name, {}).get(attr)
