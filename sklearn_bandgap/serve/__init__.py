"""``sklearn-bandgap serve``: a web page and an HTTP API on the shipped models.

:func:`create_app` builds the FastAPI application (an optional extra:
``pip install "sklearn_bandgap[serve]"``); its rows are those of
``sklearn-bandgap predict``, from the same prediction core, computed off the
event loop in a bounded pool of worker processes under the request limits of
:class:`Limits`.
"""

try:
    import fastapi  # noqa: F401
except ImportError as exc:  # an optional extra: say how to get it
    raise ImportError(
        "sklearn_bandgap.serve needs the serve extra: pip install 'sklearn_bandgap[serve]'",
        name=exc.name,
    ) from exc

from sklearn_bandgap.serve._app import create_app
from sklearn_bandgap.serve._limits import Limits

__all__ = ["Limits", "create_app"]
