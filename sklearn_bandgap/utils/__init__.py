"""Small helpers shared by the subpackages."""

from sklearn_bandgap.utils._indexing import take
from sklearn_bandgap.utils._parallel import chunk_bounds, map_chunks

__all__ = ["chunk_bounds", "map_chunks", "take"]
