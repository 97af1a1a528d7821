"""Screening many structures: prediction rows in chunks, on one machine or a Dask cluster.

:func:`predict_dask` turns a Dask bag or DataFrame of structures into a lazy
Dask DataFrame with the columns of ``sklearn-bandgap predict``;
``sklearn-bandgap predict --scheduler ADDRESS`` streams files through a running
Dask cluster. On one machine the command line uses joblib (the default).
"""

from sklearn_bandgap.screening._dask import predict_dask, predict_stream_dask, rows_to_frame

__all__ = ["predict_dask", "predict_stream_dask", "rows_to_frame"]
