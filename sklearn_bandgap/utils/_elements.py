"""The elements the package reads."""

#: Largest atomic number accepted anywhere (oganesson). Element embeddings have
#: ``MAX_ATOMIC_NUMBER + 1`` rows, row 0 being padding. CHGNet's own limit (Pu,
#: 94) applies to :class:`~sklearn_bandgap.translation.PotentialRelaxer` only.
MAX_ATOMIC_NUMBER = 118
