"""Safe persistence: fitted estimators as ``.safetensors`` files, never pickles.

:func:`save` writes an estimator of this package (or a ``Pipeline`` of them) as
one file: the weights and other numeric arrays as safetensors tensors, the
estimator's classes, parameters and scalar fitted state as JSON in the file's
header, with the versions that wrote it and a SHA-256 digest. :func:`load`
builds it back without running any code from the file, and refuses (with
:class:`ModelFileError`) anything it cannot vouch for. Pickle and joblib keep
working as for any scikit-learn estimator.
"""

from sklearn_bandgap.io._file import (
    FORMAT_VERSION,
    ModelFileError,
    load,
    read_metadata,
    save,
)

__all__ = ["FORMAT_VERSION", "ModelFileError", "load", "read_metadata", "save"]
