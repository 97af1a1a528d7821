"""Leak-free splits for crystals: polymorphs of one formula stay together."""

from sklearn_bandgap.model_selection._split import (
    SPLIT_RANDOM_STATE,
    SPLIT_TEST_SIZE,
    formula_group_split,
    formula_groups,
)

__all__ = ["SPLIT_RANDOM_STATE", "SPLIT_TEST_SIZE", "formula_group_split", "formula_groups"]
