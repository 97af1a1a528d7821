"""Estimators to plain data and back: a JSON tree plus named numeric arrays.

Only the classes of :data:`ESTIMATORS` are written or built, and only these
value types are accepted: None, bool, int, float, str, lists, tuples and
str-keyed dicts of them, numpy scalars and numeric arrays (stored as tensors),
1-D string arrays, supported estimators (nested; a fitted attribute that is
one of the estimator's own parameters, as a prefit ``estimator_``, is written
once, as a reference to it), and the skorch nets the package's estimators
train (``net_``: module weights as tensors plus the epoch-level history as
JSON). Anything else is refused when saving, with the
path of the offending value; nothing is ever unpickled when loading.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from sklearn_bandgap.io._schema import FITTED_ATTRIBUTES, declared

#: The estimators that can be saved: stable name -> (module, class name).
ESTIMATORS: dict[str, tuple[str, str]] = {
    "NeighborListFeaturizer": ("sklearn_bandgap.featurizers", "NeighborListFeaturizer"),
    "NeighborLSTMRegressor": ("sklearn_bandgap.models", "NeighborLSTMRegressor"),
    "NeighborLSTMClassifier": ("sklearn_bandgap.models", "NeighborLSTMClassifier"),
    "SeedEnsembleRegressor": ("sklearn_bandgap.models", "SeedEnsembleRegressor"),
    "PooledEnsembleRegressor": ("sklearn_bandgap.models", "PooledEnsembleRegressor"),
    "ZeroInflatedRegressor": ("sklearn_bandgap.models", "ZeroInflatedRegressor"),
    "ConformalRegressor": ("sklearn_bandgap.models", "ConformalRegressor"),
    "CompositionBaselineRegressor": ("sklearn_bandgap.models", "CompositionBaselineRegressor"),
    "DomainCheck": ("sklearn_bandgap.models", "DomainCheck"),
    "TwoHeadBandGapRegressor": ("sklearn_bandgap.models", "TwoHeadBandGapRegressor"),
    "RelaxationTranslator": ("sklearn_bandgap.translation", "RelaxationTranslator"),
    "SeedEnsembleTranslator": ("sklearn_bandgap.translation", "SeedEnsembleTranslator"),
    "IdentityTranslator": ("sklearn_bandgap.translation", "IdentityTranslator"),
    "IsotropicVolumeTranslator": ("sklearn_bandgap.translation", "IsotropicVolumeTranslator"),
    "PotentialRelaxer": ("sklearn_bandgap.translation", "PotentialRelaxer"),
    "Pipeline": ("sklearn.pipeline", "Pipeline"),
    "FrozenEstimator": ("sklearn.frozen", "FrozenEstimator"),
}

#: Fitted attributes rebuilt from the estimator's parameters instead of stored
#: (the CHGNet potential comes from its own wheel).
_RELOADED = {("PotentialRelaxer", "potential_"): "_load_potential"}

_ARRAY_KINDS = "biuf"  # bool, int, unsigned, float: stored as tensors


class EncodingError(TypeError):
    """A value that cannot be saved without pickle (``where`` says which)."""


def _class_name(estimator: Any) -> str | None:
    """The registry name of the estimator's exact class (subclasses are not vouched for)."""
    cls = type(estimator)
    for name, (_, qualname) in ESTIMATORS.items():
        if cls.__name__ == qualname and _resolve(name) is cls:
            return name
    return None


def _resolve(name: str) -> type:
    module, qualname = ESTIMATORS[name]
    cls: type = getattr(importlib.import_module(module), qualname)
    return cls


def supported_names() -> list[str]:
    """Names of the estimator classes :func:`encode` accepts."""
    return sorted(ESTIMATORS)


class Encoder:
    """Turns an estimator into a JSON-ready tree; arrays collect in ``tensors``."""

    def __init__(self, *, drop_callbacks: bool = False) -> None:
        self.tensors: dict[str, np.ndarray] = {}
        self.drop_callbacks = drop_callbacks

    def estimator(self, estimator: Any, where: str) -> dict[str, Any]:
        """Encode one estimator: its class, parameters and fitted attributes."""
        name = _class_name(estimator)
        if name is None:
            raise EncodingError(
                f"{where}: a {type(estimator).__module__}.{type(estimator).__qualname__} cannot "
                f"be saved; supported estimators: {', '.join(supported_names())}."
            )
        params = estimator.get_params(deep=False)
        if params.get("callbacks") is not None:
            if not self.drop_callbacks:
                raise EncodingError(
                    f"{where}.callbacks: skorch callbacks cannot be saved without pickle; they "
                    "act only in training, so save(..., drop_callbacks=True) stores None instead."
                )
            params = {**params, "callbacks": None}
        if params.get("accelerator") is not None:
            raise EncodingError(
                f"{where}.accelerator: an accelerate.Accelerator belongs to the machine that "
                "trains, not to the model; set_params(accelerator=None) before saving."
            )
        originals = params
        params = {key: self.value(value, f"{where}.{key}") for key, value in params.items()}
        fitted: dict[str, Any] = {}
        for attr, value in vars(estimator).items():
            if not attr.endswith("_") or attr.startswith("_"):
                continue
            path = f"{where}.{attr}"
            spec = declared(name, attr)
            if spec is None:
                raise EncodingError(
                    f"{path}: {name} declares no fitted attribute {attr!r} (the file format "
                    "lists each class's fitted attributes in sklearn_bandgap.io._schema)."
                )
            if spec.kind not in ("net", "reload") and (problem := spec.problem(value)):
                raise EncodingError(f"{path}: {problem}.")
            same = [
                key
                for key, original in originals.items()
                if original is value and spec.kind == "estimator"
            ]
            if same:  # e.g. ConformalRegressor(prefit=True).estimator_ is its estimator
                fitted[attr] = {"__param__": same[0]}
            elif (name, attr) in _RELOADED:
                fitted[attr] = {"__reload__": _RELOADED[(name, attr)]}
            elif attr == "net_":
                fitted[attr] = self.skorch_net(value, path)
            else:
                fitted[attr] = self.value(value, path)
        node = {"__estimator__": name, "params": params, "fitted": fitted}
        version = getattr(type(estimator), "_architecture_version", None)
        if version is not None:
            node["architecture_version"] = version
        return node

    def skorch_net(self, net: Any, where: str) -> dict[str, Any]:
        """A trained skorch net: module weights as tensors, epoch history as JSON."""
        state = net.module_.state_dict()
        keys = []
        for key, tensor in state.items():
            name = f"{where}.module_.{key}"
            self.tensors[name] = tensor.detach().cpu().numpy().copy()
            keys.append(key)
        history = [
            {k: v for k, v in row.items() if k != "batches"} for row in net.history_.to_list()
        ]
        return {"__skorch_net__": keys, "history": self.value(history, f"{where}.history_")}

    def value(self, value: Any, where: str) -> Any:
        """Encode one parameter or fitted value."""
        if value is None or isinstance(value, bool | str):
            return value
        if isinstance(value, int | float) and not isinstance(value, np.generic):
            if isinstance(value, float) and not np.isfinite(value):
                return {"__float__": repr(value)}
            return value
        if isinstance(value, np.generic):
            return {"__scalar__": value.dtype.str, "value": value.item()}
        if isinstance(value, np.ndarray):
            if value.dtype.kind in _ARRAY_KINDS:
                self.tensors[where] = np.ascontiguousarray(value)
                return {"__array__": where}
            if value.ndim == 1 and all(isinstance(v, str) for v in value.tolist()):
                return {"__str_array__": value.tolist(), "dtype": value.dtype.str}
            raise EncodingError(f"{where}: an array of dtype {value.dtype} cannot be saved.")
        if isinstance(value, tuple):
            return {"__tuple__": [self.value(v, f"{where}[{i}]") for i, v in enumerate(value)]}
        if isinstance(value, list):
            return [self.value(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, dict):
            if not all(isinstance(k, str) for k in value):
                raise EncodingError(f"{where}: only dicts with str keys can be saved.")
            return {"__dict__": {k: self.value(v, f"{where}[{k!r}]") for k, v in value.items()}}
        if hasattr(value, "get_params") and hasattr(value, "fit"):
            return self.estimator(value, where)
        raise EncodingError(
            f"{where}: a {type(value).__module__}.{type(value).__qualname__} cannot be saved "
            "without pickle."
        )


class DecodingError(ValueError):
    """The tree does not describe an estimator this version can build."""


#: Deepest nesting of estimators and values a file may describe.
MAX_DEPTH = 32
#: Largest string item (characters) of a string array in a file.
MAX_STRING_ITEM = 4096
#: Parameters that name places on disk: a file never sets them (a cache
#: folder would be read on a later refit, e.g. joblib pickles of Pipeline.memory).
REFUSED_PARAMETERS = frozenset({"memory"})


class Decoder:
    """Builds estimators back from the tree and the tensors.

    Only what :class:`Encoder` writes is accepted: the classes of
    :data:`ESTIMATORS`, their constructor parameters (validated by the class's
    own constraints, ``_validate_params``), the fitted attributes each class
    declares (:mod:`sklearn_bandgap.io._schema`), each of its declared type,
    dtype kind and dimensions, numeric arrays and scalars, bounded strings,
    and nesting up to :data:`MAX_DEPTH`. Anything else is a
    :class:`DecodingError` naming the field.
    """

    def __init__(self, tensors: dict[str, np.ndarray], device: str | None = None) -> None:
        self.tensors = tensors
        self.device = device

    def estimator(self, node: Any, where: str, depth: int = 0) -> Any:
        """Build one estimator, fitted if the file says so."""
        if depth > MAX_DEPTH:
            raise DecodingError(f"{where}: nested deeper than {MAX_DEPTH} levels.")
        if not isinstance(node, dict):
            raise DecodingError(
                f"{where}: expected an estimator object, got {type(node).__name__}."
            )
        for key in ("params", "fitted"):
            if not isinstance(node.get(key), dict):
                raise DecodingError(f"{where}: {key!r} is missing or not an object.")
        name = node.get("__estimator__")
        if name not in ESTIMATORS:
            raise DecodingError(
                f"{where}: unknown estimator type {name!r}; this version builds "
                f"{', '.join(supported_names())}."
            )
        cls = _resolve(name)
        params = {
            key: self.value(value, f"{where}.{key}", depth + 1)
            for key, value in node["params"].items()
        }
        params = self._architecture_params(cls, node, params, where)
        for key in REFUSED_PARAMETERS & set(params):
            if params[key] is not None:
                raise DecodingError(
                    f"{where}.{key}: a model file may not set it (it names a folder on disk that "
                    "a later refit would read); set it after loading if you need it."
                )
        accepted = set(inspect.signature(cls).parameters)
        unknown = sorted(set(params) - accepted)
        if unknown:
            raise DecodingError(
                f"{where}: {name} has no parameter(s) {unknown} in this version of the package "
                "(the file was written by a version whose estimator differs)."
            )
        if self.device is not None and "device" in params:
            params["device"] = self.device  # load(..., device=): where it runs now
        estimator = cls(**params)
        if hasattr(estimator, "_validate_params"):
            try:
                estimator._validate_params()
            except (TypeError, ValueError) as exc:
                raise DecodingError(f"{where}: {name} parameters: {exc}") from exc
        nets: dict[str, dict[str, Any]] = {}
        reloads: dict[str, str] = {}
        declarations = FITTED_ATTRIBUTES[name]
        for attr, value in node["fitted"].items():
            spec = declarations.get(attr)
            if spec is None or attr in params:
                raise DecodingError(
                    f"{where}.{attr}: not a fitted attribute of {name} (it has "
                    f"{sorted(declarations) or 'none'})."
                )
            if isinstance(value, dict) and "__param__" in value:
                key = value["__param__"]
                if spec.kind != "estimator" or key not in params or params[key] is None:
                    raise DecodingError(f"{where}.{attr}: cannot be the parameter {key!r}.")
                setattr(estimator, attr, getattr(estimator, key))
            elif spec.kind == "net":
                if not (isinstance(value, dict) and "__skorch_net__" in value):
                    raise DecodingError(f"{where}.{attr}: expected a trained network.")
                nets[attr] = value
            elif spec.kind == "reload":
                if not (isinstance(value, dict) and "__reload__" in value):
                    raise DecodingError(f"{where}.{attr}: expected a reload marker.")
                reloads[attr] = value["__reload__"]
            else:
                decoded = self.value(value, f"{where}.{attr}", depth + 1)
                if problem := spec.problem(decoded):
                    raise DecodingError(f"{where}.{attr}: {problem}.")
                setattr(estimator, attr, decoded)
        if node["fitted"]:
            missing = sorted(
                attr
                for attr, spec in declarations.items()
                if spec.required and attr not in node["fitted"]
            )
            if missing:
                raise DecodingError(
                    f"{where}: a fitted {name} without its fitted attribute(s) {missing}."
                )
        for attr, method in reloads.items():
            if _RELOADED.get((name, attr)) != method:
                raise DecodingError(f"{where}.{attr}: cannot be rebuilt by {method!r}.")
            setattr(estimator, attr, getattr(estimator, method)())
        for attr, value in nets.items():
            setattr(estimator, attr, self.skorch_net(estimator, value, f"{where}.{attr}"))
        return estimator

    @staticmethod
    def _architecture_params(
        cls: type, node: dict[str, Any], params: dict[str, Any], where: str
    ) -> dict[str, Any]:
        """Parameters that rebuild the network design the file was written with.

        A class with an ``_architecture_version`` writes it into each node; a
        node without one predates it (version 1). Parameters added with a later
        design are absent from older files: they get the values of
        ``cls._legacy_parameters`` (the old design), never today's defaults,
        so an old file loads as the old design. A file of a newer design than
        this version builds is refused.
        """
        current = getattr(cls, "_architecture_version", None)
        if current is None:
            return params
        written = node.get("architecture_version", 1)
        if not isinstance(written, int) or written > current:
            raise DecodingError(
                f"{where}: written with network design version {written!r}, but this version "
                f"of sklearn_bandgap builds designs up to {current}: upgrade the package to "
                "load it."
            )
        legacy: dict[str, Any] = getattr(cls, "_legacy_parameters", {})
        return {**{k: v for k, v in legacy.items() if k not in params}, **params}

    def skorch_net(self, owner: Any, node: dict[str, Any], where: str) -> Any:
        """Rebuild the owner's skorch net from its parameters, then load the weights."""
        import torch
        from skorch.history import History

        build: Callable[[int | None], Any] = owner._build_net
        net = build(None)
        weights = self.network_weights(net, node, where)
        # skorch's initialize() without its optimizer step (the same private steps,
        # which set up skorch's attribute guards): building AdamW costs ~2 s of torch
        # imports on first use, and prediction never needs it (the package's
        # estimators build a new net when fitted again). The round-trip tests
        # would catch a skorch release that renames these steps.
        with torch.random.fork_rng(devices=[]):  # initialising draws random weights
            net._initialize_virtual_params()
            net._initialize_callbacks()
            net._initialize_module()
            net._initialize_criterion()
            net._initialize_history()
            net.initialized_ = True
        state = {key: torch.from_numpy(array.copy()) for key, array in weights.items()}
        try:
            net.module_.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise DecodingError(f"{where}: weights do not fit the network: {exc}") from exc
        net.history_ = History(self.value(node["history"], f"{where}.history_"))
        return net

    def network_weights(self, net: Any, node: dict[str, Any], where: str) -> dict[str, np.ndarray]:
        """The file's weights of the net's module, by state-dict key, once they fit it.

        Refuses settings that describe another network than the file's weights,
        checked before any weight is allocated, so that an edited size (a
        hidden width of 10**9) costs an error, not the machine's memory: every
        integer setting of the module (a width, a layer count) is at most the
        number of weights the file holds, and the shapes of a network built
        on torch's "meta" device (no memory) are those of the file's tensors.
        """
        import torch

        keys = node["__skorch_net__"]
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise DecodingError(f"{where}.module_: the list of weights is not a list of names.")
        weights = {}
        for key in keys:
            name = f"{where}.module_.{key}"
            if name not in self.tensors:
                raise DecodingError(f"{name}: missing from the file's tensors.")
            weights[key] = self.tensors[name]
        shapes = {key: tuple(array.shape) for key, array in weights.items()}
        n_weights = sum(int(np.prod(shape)) for shape in shapes.values())
        settings = net.get_params_for("module")
        for name, value in settings.items():
            if isinstance(value, int | np.integer) and not isinstance(value, bool):
                if value > n_weights:
                    raise DecodingError(
                        f"{where}: module setting {name}={value} exceeds the {n_weights} "
                        "weights the file holds."
                    )
        with torch.device("meta"):
            try:
                probe = net.module(**settings)
            except Exception as exc:
                raise DecodingError(f"{where}: the settings build no network: {exc}") from exc
        expected = {key: tuple(t.shape) for key, t in probe.state_dict().items()}
        if expected != shapes:
            wrong = sorted(set(expected) ^ set(shapes)) or [
                k for k in expected if expected[k] != shapes[k]
            ]
            raise DecodingError(
                f"{where}: weights do not fit the network its settings describe ({wrong[:3]})."
            )
        return weights

    def value(self, value: Any, where: str, depth: int = 0) -> Any:
        """Decode one parameter or fitted value."""
        if depth > MAX_DEPTH:
            raise DecodingError(f"{where}: nested deeper than {MAX_DEPTH} levels.")
        if isinstance(value, list):
            return [self.value(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(value)]
        if not isinstance(value, dict):
            return value
        if "__estimator__" in value:
            return self.estimator(value, where, depth + 1)
        if "__array__" in value:
            key = value["__array__"]
            if not isinstance(key, str) or key not in self.tensors:
                raise DecodingError(f"{where}: array {key!r} missing from the file's tensors.")
            return self.tensors[key].copy()
        if "__tuple__" in value:
            items = _items(value["__tuple__"], where)
            return tuple(self.value(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(items))
        if "__dict__" in value:
            content = value["__dict__"]
            if not isinstance(content, dict):
                raise DecodingError(f"{where}: '__dict__' is not an object.")
            return {k: self.value(v, f"{where}[{k!r}]", depth + 1) for k, v in content.items()}
        if "__scalar__" in value:
            dtype = _dtype(value["__scalar__"], where)
            if dtype.kind not in _ARRAY_KINDS:
                raise DecodingError(f"{where}: scalar of dtype {dtype} (numbers only).")
            return dtype.type(value.get("value"))
        if "__float__" in value:
            return float(value["__float__"])
        if "__str_array__" in value:
            dtype = _dtype(value.get("dtype"), where)
            if dtype.kind not in "US" or dtype.itemsize > MAX_STRING_ITEM * 4:
                raise DecodingError(f"{where}: string array of dtype {dtype} refused.")
            return np.array(_items(value["__str_array__"], where), dtype=dtype)
        raise DecodingError(f"{where}: unknown value {sorted(value)}.")


def _items(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise DecodingError(f"{where}: expected a list, got {type(value).__name__}.")
    return value


def _dtype(spec: Any, where: str) -> np.dtype[Any]:
    if not isinstance(spec, str) or len(spec) > 16:
        raise DecodingError(f"{where}: dtype {spec!r} refused.")
    try:
        return np.dtype(spec)
    except TypeError as exc:
        raise DecodingError(f"{where}: dtype {spec!r} refused.") from exc
