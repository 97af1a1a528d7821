"""PotentialRelaxer: CHGNet relaxations as an sklearn transformer."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import make_pipeline
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_bandgap.exceptions import InvalidStructureError
from sklearn_bandgap.featurizers import NeighborListFeaturizer
from sklearn_bandgap.translation import (
    IsotropicVolumeTranslator,
    PotentialRelaxer,
    RelaxationError,
    structure_agreement,
)
from sklearn_bandgap.translation._geometry import min_interatomic_distance
from tests.conftest import DATA_FREE_CHECKS

pytest.importorskip("chgnet")

#: Pairs of the 100-pair sample that CHGNet relaxes in a few seconds.
QUICK = [1, 2, 5]


def rock_salt(a: float) -> Structure:
    """NaCl, primitive cell (2 atoms) with cubic lattice constant ``a``."""
    lattice = Lattice([[0, a / 2, a / 2], [a / 2, 0, a / 2], [a / 2, a / 2, 0]])
    return Structure(lattice, ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def cubic_constant(structure: Structure) -> float:
    return float((4.0 * structure.volume) ** (1.0 / 3.0))


@pytest.fixture(scope="module")
def relaxer():
    return PotentialRelaxer(steps=200).fit([rock_salt(5.6)])


def test_rock_salt_relaxes_to_its_lattice_constant_from_both_sides(relaxer):
    # PBE gives a = 5.69 Å for NaCl (experiment 5.64 Å); CHGNet was fitted to PBE.
    relaxed, report = relaxer.relax([rock_salt(5.1), rock_salt(6.2)])
    constants = [cubic_constant(s) for s in relaxed]
    assert all(5.55 < a < 5.85 for a in constants), constants
    assert abs(constants[0] - constants[1]) < 0.03
    assert report["converged"].all()
    assert (report["n_steps"] > 0).all()
    assert report["energy_per_atom"].between(-4.0, -3.0).all()  # NaCl: about -3.4 eV/atom
    assert [str(s.specie) for s in relaxed[0]] == ["Na", "Cl"]


def test_start_near_the_minimum_needs_fewer_steps(relaxer):
    _, report = relaxer.relax([rock_salt(5.1), rock_salt(5.69)])
    assert report["n_steps"][1] < report["n_steps"][0]


def test_real_pairs_move_towards_the_dft_relaxation(nrel_sample):
    unrelaxed = [nrel_sample.unrelaxed[i] for i in QUICK]
    relaxed = [nrel_sample.relaxed[i] for i in QUICK]
    out = PotentialRelaxer().fit(unrelaxed, relaxed=relaxed).transform(unrelaxed)
    for u, o in zip(unrelaxed, out, strict=True):
        assert [s.specie for s in o] == [s.specie for s in u]
        assert min_interatomic_distance(o, 1.0) > 0.5
    before = structure_agreement(unrelaxed, relaxed)["volume_error"].abs()
    after = structure_agreement(out, relaxed)["volume_error"].abs()
    assert (after < 0.5 * before).all(), (before, after)


def test_fix_symmetry_keeps_the_space_group_of_the_start():
    # Na moved 0.004 Å off its site: spglib sees rock salt (Fm-3m) at ASE's default
    # tolerance (0.01 Å), only I4mm at 1e-4 Å.
    start = rock_salt(5.4)
    start.translate_sites([0], [0.004, 0.0, 0.0], frac_coords=False)
    assert start.get_space_group_info(symprec=1e-4)[1] == 107
    free, kept = (
        PotentialRelaxer(steps=200, fix_symmetry=fix).fit([start]).transform([start])[0]
        for fix in (False, True)
    )
    assert kept.get_space_group_info(symprec=1e-4)[1] == 225  # Fm-3m, found at 0.01 Å, kept
    np.testing.assert_allclose(kept.lattice.abc, [kept.lattice.a] * 3, rtol=1e-9)
    assert free.get_space_group_info(symprec=1e-4)[1] != 225  # relaxed, yet off symmetry
    assert abs(cubic_constant(kept) - cubic_constant(free)) < 0.01


def test_fix_symmetry_lets_a_strained_cell_relax_within_its_space_group():
    # NaCl's conventional cell stretched 5 % along c: I4/mmm, which it must keep.
    sites = [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]
    sites += [[0.5, 0, 0], [0, 0.5, 0], [0, 0, 0.5], [0.5, 0.5, 0.5]]
    stretched = Structure(Lattice.tetragonal(5.6, 5.88), ["Na"] * 4 + ["Cl"] * 4, sites)
    relaxer = PotentialRelaxer(steps=200, fix_symmetry=True, symprec=1e-3).fit([stretched])
    relaxed, report = relaxer.relax([stretched])
    assert report["converged"].all()
    assert relaxed[0].get_space_group_info(symprec=1e-5)[1] == 139
    a, b, c = relaxed[0].lattice.abc
    assert a == pytest.approx(b, rel=1e-9) and c < 5.88  # the stretch relaxes


def test_symmetry_settings_are_validated():
    with pytest.raises(InvalidParameterError, match="symprec"):
        PotentialRelaxer(fix_symmetry=True, symprec=0.0).fit([rock_salt(5.6)])


# ---------------------------------------------------------------- bad input
def test_unknown_element_is_named_before_any_relaxation(relaxer):
    americium = Structure(Lattice.cubic(3.5), ["Am"], [[0, 0, 0]])
    with pytest.raises(InvalidStructureError, match=r"structure 1 \(Am\): holds Z=95"):
        relaxer.relax([rock_salt(5.6), americium])


def test_failure_names_the_structure_and_keeps_the_others(relaxer):
    lonely = Structure(Lattice.cubic(12.0), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    with pytest.raises(RelaxationError, match=r"structure 1 \(NaCl\): CHGNet relaxation failed"):
        relaxer.relax([rock_salt(5.3), lonely])
    try:
        relaxer.relax([rock_salt(5.3), lonely])
    except RelaxationError as error:
        assert error.indices == [1]
        assert error.structures is not None and error.structures[1] is None
        assert 5.55 < cubic_constant(error.structures[0]) < 5.85
        assert error.report is not None and error.report["converged"].tolist() == [True, False]
        assert pickle.loads(pickle.dumps(error)).indices == [1]


def test_collapsed_atoms_count_as_a_failure(relaxer, monkeypatch):
    from sklearn_bandgap.translation import _potential

    monkeypatch.setattr(_potential, "min_interatomic_distance", lambda structure, radius: 0.3)
    with pytest.raises(RelaxationError, match=r"two atoms ended 0\.30 A apart"):
        relaxer.relax([rock_salt(5.6)])


def test_bad_parameters_and_inputs():
    with pytest.raises(InvalidParameterError, match="steps"):
        PotentialRelaxer(steps=0).fit([rock_salt(5.6)])
    with pytest.raises(InvalidParameterError, match="model"):
        PotentialRelaxer(model="9.9").fit([rock_salt(5.6)])
    with pytest.raises(NotFittedError):
        PotentialRelaxer().transform([rock_salt(5.6)])
    with pytest.raises(TypeError, match="got one Structure"):
        PotentialRelaxer().fit(rock_salt(5.6))


# ---------------------------------------------------------------- sklearn API
@pytest.mark.parametrize("check", DATA_FREE_CHECKS, ids=lambda c: c.__name__)
def test_sklearn_data_free_checks(check):
    check("PotentialRelaxer", PotentialRelaxer())


def test_clone_pickle_and_n_jobs_give_equal_relaxations(relaxer):
    starts = [rock_salt(5.2), rock_salt(6.0)]
    expected = relaxer.transform(starts)
    others = [
        pickle.loads(pickle.dumps(relaxer)),
        clone(relaxer).fit(starts),
        clone(relaxer).set_params(n_jobs=2).fit(starts),
    ]
    for other in others:
        for a, b in zip(expected, other.transform(starts), strict=True):
            np.testing.assert_allclose(a.lattice.abc, b.lattice.abc, atol=1e-5)
            np.testing.assert_allclose(a.frac_coords, b.frac_coords, atol=1e-5)


def test_relaxer_finishes_a_frozen_translator_in_a_pipeline(nrel_sample):
    unrelaxed = [nrel_sample.unrelaxed[i] for i in QUICK]
    relaxed = [nrel_sample.relaxed[i] for i in QUICK]
    translator = IsotropicVolumeTranslator().fit(nrel_sample.unrelaxed, relaxed=nrel_sample.relaxed)
    pipe = make_pipeline(FrozenEstimator(translator), PotentialRelaxer(), NeighborListFeaturizer())
    features = pipe.fit_transform(unrelaxed)
    assert len(features) == len(unrelaxed)
    assert pipe[1].n_pairs_ == len(unrelaxed)
    finished = make_pipeline(FrozenEstimator(translator), pipe[1]).transform(unrelaxed)
    before = structure_agreement(unrelaxed, relaxed)["volume_error"].abs()
    after = structure_agreement(finished, relaxed)["volume_error"].abs()
    assert (after < 0.5 * before).all(), (before, after)
