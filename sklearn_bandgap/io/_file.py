"""``save`` and ``load``: fitted estimators as one ``.safetensors`` file, never a pickle."""

from __future__ import annotations

import hashlib
import json
import os
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from sklearn_bandgap.io._codec import Decoder, DecodingError, Encoder

#: Name written in every file, to tell it from other safetensors files.
FORMAT_NAME = "sklearn_bandgap"
#: Layout of the JSON tree; a file of another layout version is refused.
FORMAT_VERSION = 1


class ModelFileError(ValueError):
    """A model file that cannot be loaded: the message names the file and the reason.

    Parameters
    ----------
    path : str or path-like
        The file.
    reason : str
        What is wrong with it.

    Attributes
    ----------
    path : Path
        The file.
    reason : str
        What is wrong with it.
    """

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self) -> tuple[type, tuple[Path, str]]:
        return (type(self), (self.path, self.reason))


def _versions() -> dict[str, str]:
    out = {}
    for package in ("sklearn_bandgap", "torch", "scikit-learn", "skorch", "numpy"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:  # pragma: no cover - all are dependencies
            out[package] = "unknown"
    return out


def _digest(texts: dict[str, str], tensors: dict[str, np.ndarray]) -> str:
    """SHA-256 of the JSON texts and of every tensor's name, dtype, shape and bytes."""
    sha = hashlib.sha256()
    for key in sorted(texts):
        sha.update(f"{key}\0{texts[key]}\0".encode())
    for key in sorted(tensors):
        array = np.ascontiguousarray(tensors[key])
        sha.update(f"{key}\0{array.dtype.str}\0{array.shape}\0".encode())
        sha.update(array.tobytes())
    return sha.hexdigest()


def save(
    estimator: Any,
    path: str | os.PathLike[str],
    *,
    metadata: dict[str, Any] | None = None,
    drop_callbacks: bool = False,
) -> Path:
    """Save a (fitted) estimator of this package as one ``.safetensors`` file.

    The numeric arrays (network weights, target scaling, seen elements, ...)
    are safetensors tensors; the estimator tree (classes, constructor
    parameters, scalar fitted attributes, the epoch history of the nets), the
    versions of the package, torch and scikit-learn that wrote it, a SHA-256
    digest of everything, and ``metadata`` are JSON in the file's header.
    Nothing is pickled, so :func:`load` runs no code from the file.

    Supported: ``NeighborListFeaturizer``, ``NeighborLSTMRegressor``,
    ``SeedEnsembleRegressor``, ``PooledEnsembleRegressor``, the translators
    (``RelaxationTranslator``, ``SeedEnsembleTranslator``, ``IdentityTranslator``,
    ``IsotropicVolumeTranslator``, ``PotentialRelaxer``), and scikit-learn
    ``Pipeline`` and ``FrozenEstimator`` made of them. Fitted or not.

    Parameters
    ----------
    estimator : estimator
        What to save.
    path : str or path-like
        The file to write (conventionally ``*.safetensors``); replaced if it
        exists.
    metadata : dict, default=None
        JSON-serialisable information kept with the model (a model card, for
        instance); :func:`read_metadata` returns it without building the model.
        One key has a meaning: ``"outputs"``, a list with one
        ``{"name": ..., "unit": ...}`` per value the model predicts, in order
        (e.g. the training table's target columns). ``sklearn-bandgap predict
        --model`` names its CSV columns after them (``output_0``,
        ``output_1``, ... for a file without them).
    drop_callbacks : bool, default=False
        Store the ``callbacks`` parameter of the estimator and of every
        estimator inside it as None. Callbacks (a
        :class:`~sklearn_bandgap.models.TrainingCheckpoint`, Optuna's pruning)
        act only while training and cannot be stored without pickle; by
        default a callback is an error, so that none is dropped unnoticed.
        The estimator itself is not changed.

    Returns
    -------
    path : Path
        The file written.

    Raises
    ------
    TypeError
        If the estimator, or a value inside it, cannot be saved without pickle
        (for example skorch callbacks in ``callbacks`` without
        ``drop_callbacks``); the message names it.

    Notes
    -----
    What is not kept: the optimizer's state (training cannot be resumed
    exactly; ``predict`` and ``transform`` are unaffected), the per-batch
    entries of skorch's history (the per-epoch ones are kept), and the
    ``callbacks`` parameter (see ``drop_callbacks``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from sklearn_bandgap.featurizers import NeighborListFeaturizer
    >>> from sklearn_bandgap.io import load, save
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "featurizer.safetensors"
    >>> _ = save(NeighborListFeaturizer(n_neighbors=12), path)
    >>> load(path)
    NeighborListFeaturizer(n_neighbors=12)
    """
    from safetensors.numpy import save as to_bytes

    encoder = Encoder(drop_callbacks=drop_callbacks)
    tree = encoder.estimator(estimator, "estimator")
    texts = {
        "estimator": json.dumps(tree, sort_keys=True),
        "versions": json.dumps(_versions(), sort_keys=True),
        "user": json.dumps(metadata if metadata is not None else {}, sort_keys=True),
    }
    header = {
        "format": FORMAT_NAME,
        "format_version": str(FORMAT_VERSION),
        **texts,
        "sha256": _digest(texts, encoder.tensors),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(to_bytes(encoder.tensors, metadata=header))
    partial.replace(path)  # never leave a half-written file under the real name
    return path


def _read_header(path: Path) -> dict[str, str]:
    """The file's metadata, after checking it is a model file of a known layout."""
    from safetensors import safe_open

    if not path.is_file():
        raise ModelFileError(path, "no such file.")
    try:
        with safe_open(str(path), framework="numpy") as handle:
            header = handle.metadata() or {}
    except Exception as exc:  # safetensors' own error types vary by version
        raise ModelFileError(
            path, f"not a readable safetensors file (truncated or not a model file): {exc}"
        ) from exc
    if header.get("format") != FORMAT_NAME:
        raise ModelFileError(
            path,
            "a safetensors file, but not one written by sklearn_bandgap.io.save "
            f"(format {header.get('format')!r}).",
        )
    written = header.get("format_version", "?")
    if written != str(FORMAT_VERSION):
        versions = json.loads(header.get("versions", "{}"))
        raise ModelFileError(
            path,
            f"written in file format {written} by sklearn_bandgap "
            f"{versions.get('sklearn_bandgap', '?')}; this version reads format {FORMAT_VERSION} "
            "only. Load it with the version that wrote it, or retrain.",
        )
    return header


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """What a model file says about itself, without building the model.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save`.

    Returns
    -------
    info : dict
        ``metadata`` (as given to :func:`save`), ``versions`` (of the
        packages that wrote it), ``estimator`` (the class of the top-level
        estimator) and ``sha256``.

    Raises
    ------
    ModelFileError
        If the file is not a model file of a layout this version reads.
    """
    path = Path(path)
    header = _read_header(path)
    try:
        tree = json.loads(header["estimator"])
        return {
            "metadata": json.loads(header["user"]),
            "versions": json.loads(header["versions"]),
            "estimator": tree.get("__estimator__"),
            "sha256": header["sha256"],
        }
    except (KeyError, ValueError) as exc:
        raise ModelFileError(path, f"its header is damaged: {exc}") from exc


def load(path: str | os.PathLike[str], *, device: str | None = None) -> Any:
    """Build the estimator saved in a file by :func:`save`; never unpickles.

    Parameters
    ----------
    path : str or path-like
        The ``.safetensors`` file.
    device : str or None, default=None
        Where the loaded networks run: sets the ``device`` parameter of every
        estimator in the file that has one (``"cpu"``, ``"cuda"``, ``"auto"``).
        None keeps the saved one; a model trained with ``device="cuda"`` needs
        ``device="cpu"`` (or ``"auto"``) on a machine without CUDA.

    Returns
    -------
    estimator : estimator
        Fitted if it was fitted when saved; its predictions are bit-identical
        to the saved estimator's (same package versions and thread count).

    Raises
    ------
    ModelFileError
        With the file's name and the reason: not a file of this package, a
        layout version this version does not read, a truncated or altered file
        (the digest does not match), an unknown estimator type, or parameters
        and weights that do not fit this version's estimators.
    """
    from safetensors.numpy import load_file

    path = Path(path)
    header = _read_header(path)
    try:
        tensors = load_file(str(path))
    except Exception as exc:
        raise ModelFileError(path, f"its tensors cannot be read (truncated?): {exc}") from exc
    texts = {key: header.get(key, "") for key in ("estimator", "versions", "user")}
    if _digest(texts, tensors) != header.get("sha256"):
        raise ModelFileError(
            path, "its content does not match its SHA-256 digest: the file was altered or damaged."
        )
    try:
        tree = json.loads(texts["estimator"])
        return Decoder(tensors, device).estimator(tree, "estimator")
    except RecursionError:
        raise ModelFileError(path, "its description is nested too deeply.") from None
    except (DecodingError, KeyError, TypeError, ValueError, AttributeError) as exc:
        versions = json.loads(texts["versions"] or "{}")
        raise ModelFileError(
            path,
            f"cannot be built by this version of the package (written by sklearn_bandgap "
            f"{versions.get('sklearn_bandgap', '?')}): {exc}",
        ) from exc
