"""Formula groups and the project's seeded split."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Composition
from sklearn.model_selection import GroupKFold

from sklearn_bandgap.model_selection import formula_group_split, formula_groups


def test_formula_groups_merge_polymorphs_and_multiples(nacl, cscl):
    groups = formula_groups([nacl, "Na4Cl4", Composition("ClNa"), cscl])
    assert groups.tolist() == ["NaCl", "NaCl", "NaCl", "CsCl"]
    from sklearn_bandgap.exceptions import InvalidStructureError

    with pytest.raises(InvalidStructureError, match=r"structure 1: .*builtins\.int"):
        formula_groups(["NaCl", 3])


def test_project_split_keeps_formulas_apart(mp_sample):
    groups = formula_groups(mp_sample.data)
    train, test = formula_group_split(groups)
    assert set(groups[train]).isdisjoint(groups[test])
    assert len(train) + len(test) == 200 and 0.05 < len(test) / 200 < 0.2
    _again_train, again_test = formula_group_split(groups)
    np.testing.assert_array_equal(test, again_test)
    _, other_test = formula_group_split(groups, random_state=1)
    assert set(other_test) != set(test)


def test_groups_work_with_group_kfold(mp_sample):
    groups = formula_groups(mp_sample.data)
    for train, test in GroupKFold(n_splits=5).split(mp_sample.data, groups=groups):
        assert set(groups[train]).isdisjoint(groups[test])


def test_split_rejects_too_few_groups():
    with pytest.raises(ValueError, match="at least two"):
        formula_group_split(["A"])


def test_formula_groups_read_every_input_kind_the_estimators_take(nacl, tmp_path):
    from ase.build import bulk

    from sklearn_bandgap.exceptions import InvalidStructureError

    path = tmp_path / "my_crystal"
    path.write_text(nacl.to(fmt="poscar"))
    items = [nacl, nacl.to(fmt="cif"), nacl.to(fmt="poscar"), str(path), path, bulk("Cu")]
    assert formula_groups(items).tolist() == ["NaCl"] * 5 + ["Cu"]
    import pandas as pd

    assert formula_groups(pd.Series(["Fe4O6", nacl.to(fmt="cif")])).tolist() == ["Fe2O3", "NaCl"]
    with pytest.raises(InvalidStructureError, match=r"structure 1: .*'not-a-formula'"):
        formula_groups(["NaCl", "not-a-formula"])
