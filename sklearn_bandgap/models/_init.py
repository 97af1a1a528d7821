"""Starting weights for a fit: a shipped or saved model's network body (fine-tuning)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

#: Parameters that shape the network: a source's must equal the model's.
ARCHITECTURE_PARAMETERS = (
    "embedding_dim",
    "atom_hidden",
    "crystal_hidden",
    "head_hidden",
    "distance_expansion",
    "neighbors",
    "atoms",
    "attention_pooling",
    "envelope_start",
    "interaction_layers",
    "message_layers",
)


def resolve_source(init: Any) -> Any:
    """The fitted LSTM estimator whose network ``init`` names.

    ``init`` is a shipped model's name, a path to a saved model, or a fitted
    estimator (a ``FrozenEstimator`` around it survives ``clone``): an LSTM
    estimator itself, or a pipeline, seed ensemble, conformal, composition-baseline
    or other wrapper holding one (its first member).
    """
    from sklearn_bandgap.models._base import BaseNeighborLSTM
    from sklearn_bandgap.models._unwrap import find_inner

    model = init
    if isinstance(init, str | os.PathLike):
        try:
            model = load_model(init)
        except ValueError as exc:
            raise ValueError(f"init={exc}") from None
    found = find_inner(model, BaseNeighborLSTM)
    if found is None:
        raise ValueError(
            f"init={init!r:.80}: holds no fitted NeighborLSTM estimator (got a "
            f"{type(model).__name__})."
        )
    model = found
    if not hasattr(model, "net_"):
        raise ValueError(
            f"init: the {type(model).__name__} is not fitted (clone() unfits estimators: "
            "wrap a fitted model in sklearn.frozen.FrozenEstimator, or give its name or path)."
        )
    return model


def load_model(name_or_path: str | os.PathLike[str]) -> Any:
    """The fitted model a shipped model's name or a saved model's path names."""
    from sklearn_bandgap.io import load

    if isinstance(name_or_path, str):
        from sklearn_bandgap.pretrained import list_pretrained, load_pretrained

        if name_or_path in list_pretrained():
            return load_pretrained(name_or_path)
    path = Path(name_or_path)
    if not path.is_file():
        raise ValueError(f"{str(name_or_path)!r}: neither a shipped model nor a file.")
    return load(path)


def architecture_of(source: Any) -> dict[str, Any]:
    """The network-shaping parameters of a fitted LSTM estimator (to build a matching one)."""
    params = source.get_params(deep=False)
    return {name: params[name] for name in ARCHITECTURE_PARAMETERS}


def body_state(model: Any, source: Any) -> dict[str, torch.Tensor]:
    """The source network's weights for every layer of ``model``'s but the output layer.

    Raises
    ------
    ValueError
        When the two networks differ in shape, naming the parameters that differ.
    """
    mine, theirs = model.get_params(deep=False), source.get_params(deep=False)
    differ = [name for name in ARCHITECTURE_PARAMETERS if mine[name] != theirs[name]]
    if differ:
        shown = ", ".join(f"{name}={theirs[name]!r} (here {mine[name]!r})" for name in differ)
        raise ValueError(
            f"init: the source network has {shown}; give the model the source's architecture "
            "(sklearn_bandgap.models.architecture_of(source) lists it)."
        )
    state = source.net_.module_.state_dict()
    output = output_layer(source.net_.module_)
    # the source's atom-feature head (feature distillation) is its own: the new
    # model learns its own, if it distils at all
    return {
        key: tensor.detach().clone()
        for key, tensor in state.items()
        if not key.startswith((output + ".", "feature_head."))
    }


def output_layer(module: torch.nn.Module) -> str:
    """Name of the last linear layer of the module's head (the one a new target replaces)."""
    names = [name for name, layer in module.named_modules() if isinstance(layer, torch.nn.Linear)]
    heads = [name for name in names if name.startswith("head.")]
    return heads[-1]
