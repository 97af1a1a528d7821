"""Loaders of the project's real DFT data sets, and of your own tables."""

from sklearn_bandgap.datasets._home import (
    CACHE_ENV_VAR,
    DATA_ENV_VAR,
    data_home_candidates,
    find_data_file,
    get_cache_dir,
)
from sklearn_bandgap.datasets._mp import MP_UNITS, load_mp_gap_eform
from sklearn_bandgap.datasets._nrel import load_nrel_relaxation_pairs
from sklearn_bandgap.datasets._table import load_table

__all__ = [
    "CACHE_ENV_VAR",
    "DATA_ENV_VAR",
    "MP_UNITS",
    "data_home_candidates",
    "find_data_file",
    "get_cache_dir",
    "load_mp_gap_eform",
    "load_nrel_relaxation_pairs",
    "load_table",
]
