"""Walking into meta-estimators: the model a wrapper holds, and the first of a kind inside."""

from __future__ import annotations

from typing import Any

#: Fitted attributes under which the package's meta-estimators keep what they wrap
#: (a list or tuple: its first member), in the order they are looked at.
WRAPPED_ATTRIBUTES = ("estimator_", "estimators_", "regressor_", "classifier_")

#: Deeper than any of the package's compositions (pipeline, frozen, conformal, ensemble).
MAX_DEPTH = 16


def inner_model(model: Any, names: tuple[str, ...] = WRAPPED_ATTRIBUTES) -> Any:
    """The model ``model`` wraps, or None if it wraps none.

    A ``FrozenEstimator``'s estimator, a ``Pipeline``'s last step, or the first
    model found under one of ``names`` (a list of members: the first member).

    Parameters
    ----------
    model : estimator
        A fitted estimator or meta-estimator.
    names : tuple of str, default=WRAPPED_ATTRIBUTES
        Attributes to look under, in order.

    Returns
    -------
    inner : estimator or None
    """
    from sklearn.frozen import FrozenEstimator
    from sklearn.pipeline import Pipeline

    if isinstance(model, FrozenEstimator):
        return model.estimator
    if isinstance(model, Pipeline):
        return model[-1]
    for name in names:
        inner = getattr(model, name, None)
        if isinstance(inner, list | tuple):
            inner = inner[0] if inner else None
        if inner is not None and hasattr(inner, "predict"):
            return inner
    return None


def find_inner(model: Any, kind: type | tuple[type, ...]) -> Any:
    """The first model of type ``kind`` on the chain of :func:`inner_model` from ``model``.

    Parameters
    ----------
    model : estimator
        Where to start (itself included).
    kind : type or tuple of types
        What to look for.

    Returns
    -------
    found : estimator or None
        None if the chain ends (or runs deeper than :data:`MAX_DEPTH`) first.
    """
    for _ in range(MAX_DEPTH):
        if model is None or isinstance(model, kind):
            return model
        model = inner_model(model)
    return None
