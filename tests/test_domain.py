"""Out-of-domain inputs are flagged, never answered silently."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure
from sklearn.pipeline import make_pipeline

from sklearn_bandgap.exceptions import InvalidStructureError, OutOfDomainWarning
from sklearn_bandgap.featurizers import NeighborListFeaturizer
from sklearn_bandgap.models import NeighborLSTMRegressor, SeedEnsembleRegressor

SMALL = dict(max_epochs=1, atom_hidden=8, crystal_hidden=8, head_hidden=8, random_state=0)


@pytest.fixture(scope="module")
def fitted(mp_sample):
    return make_pipeline(NeighborListFeaturizer(), NeighborLSTMRegressor(**SMALL)).fit(
        mp_sample.data, mp_sample.target[:, 0]
    )


@pytest.fixture(scope="module")
def strangers():
    """fcc Ar and an Og crystal (no Ar or Og in the sample), and a lone H in a 30 Å box."""
    argon = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.26), ["Ar"], [[0, 0, 0]])
    oganesson = Structure.from_spacegroup("Fm-3m", Lattice.cubic(6.0), ["Og"], [[0, 0, 0]])
    hydrogen = Structure(Lattice.cubic(30.0), ["H"], [[0, 0, 0]])
    return [argon, oganesson, hydrogen]


def test_structures_unlike_the_training_data_are_flagged(fitted, mp_sample, strangers):
    with pytest.warns(OutOfDomainWarning, match="3 of 4 structures lie outside") as record:
        y_pred = fitted.predict([mp_sample.data[0], *strangers])
    assert y_pred.shape == (4,)  # still answered, with "warn"
    (warning,) = [w.message for w in record if isinstance(w.message, OutOfDomainWarning)]
    assert [p.index for p in warning.problems] == [1, 2, 3]
    reasons = [p.reason for p in warning.problems]
    assert reasons[0] == "holds Ar, unseen in fit" and reasons[1] == "holds Og, unseen in fit"
    assert reasons[2].startswith("has neighbours up to 52.0 Å away (seen in fit: up to")


def test_the_training_data_is_never_flagged(fitted, mp_sample):
    with warnings.catch_warnings():
        warnings.simplefilter("error", OutOfDomainWarning)
        fitted.predict(mp_sample.data)


def test_handle_unknown_error_raises_naming_every_structure(fitted, mp_sample, strangers):
    strict = fitted.set_params(neighborlstmregressor__handle_unknown="error")
    try:
        with pytest.raises(InvalidStructureError) as info:
            strict.predict([mp_sample.data[0], *strangers])
        assert info.value.indices == [1, 2, 3]
        assert "structure 1 (Ar): holds Ar" in str(info.value)
    finally:
        fitted.set_params(neighborlstmregressor__handle_unknown="warn")


def test_neighbor_lists_of_another_width_always_raise(fitted, mp_sample):
    other = NeighborListFeaturizer(n_neighbors=12).transform(mp_sample.data[:3])
    with pytest.raises(ValueError, match="lists of 12 neighbours, but the model was fitted on 19"):
        fitted[-1].predict(other)


def test_a_seed_ensemble_warns_once(mp_sample, strangers):
    model = make_pipeline(
        NeighborListFeaturizer(),
        SeedEnsembleRegressor(NeighborLSTMRegressor(**SMALL), random_states=[0, 1, 2]),
    ).fit(mp_sample.data, mp_sample.target[:, 0])
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model.predict(strangers)
    flagged = [w for w in record if issubclass(w.category, OutOfDomainWarning)]
    assert len(flagged) == 1 and len(flagged[0].message.problems) == 3
    assert np.isfinite(model.predict(mp_sample.data[:5])).all()


def test_atoms_squeezed_below_their_covalent_radii_are_flagged_by_pair(mp_sample):
    from sklearn_bandgap.models._domain import COVALENT_FLOOR, covalent_ratio, domain_problems

    squeezed = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.64 / 2), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )
    lists = NeighborListFeaturizer().transform([squeezed])
    everything = np.arange(1, 119)
    (problem,) = domain_problems(lists, everything, np.array([0.1, 100.0]))
    assert "Na-Cl 1.41 Å apart" in problem.reason and "covalent" in problem.reason
    real = NeighborListFeaturizer().transform(mp_sample.data)
    assert covalent_ratio(real).min() > COVALENT_FLOOR  # real crystals are not flagged
    assert domain_problems(real, everything, np.array([0.1, 100.0])) == []


# ------------------------------------------------------------------ DomainCheck
@pytest.fixture(scope="module")
def sample_lists(mp_sample):
    return NeighborListFeaturizer().transform(mp_sample.data)


def _dense_hydrogen_and_squeezed_nacl():
    hydrogen = Structure(Lattice.cubic(1.0), ["H"], [[0, 0, 0]])
    nacl = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.64 / 2), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )
    return [hydrogen, nacl]


def test_domain_check_names_element_rank_and_distances(sample_lists):
    from sklearn_bandgap.models import DomainCheck

    training = Structure.from_spacegroup(  # H atoms of H2 units in a molecular crystal
        "Pa-3", Lattice.cubic(5.1), ["H"], [[0.0707, 0.0707, 0.0707]]
    )
    nacl = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )
    featurizer = NeighborListFeaturizer()
    check = DomainCheck().fit(featurizer.transform([training, nacl]))
    assert check.rank_min_distances_.shape == (3, 19)
    lists = featurizer.transform(_dense_hydrogen_and_squeezed_nacl())
    hydrogen, squeezed = check.problems(lists)
    assert hydrogen.index == 0 and hydrogen.formula == "H2"  # pymatgen's reduced formula
    assert "has H with its 1st neighbour at 1.00 Å" not in hydrogen.reason  # H2 is at 0.72
    assert "H with its" in hydrogen.reason and "closest seen in fit for H" in hydrogen.reason
    assert squeezed.index == 1 and squeezed.formula == "NaCl" and "0.50 x" in squeezed.reason
    with pytest.warns(OutOfDomainWarning, match="NaCl"):
        assert check.transform(lists) is lists
    with pytest.raises(InvalidStructureError, match="packed tighter"):
        DomainCheck(handle_unknown="error").fit(featurizer.transform([nacl])).transform(
            featurizer.transform([nacl, _dense_hydrogen_and_squeezed_nacl()[1]])
        )


def test_domain_check_never_flags_its_training_data_and_is_exact_under_supercells(
    mp_sample, sample_lists
):
    from sklearn_bandgap.models import DomainCheck

    check = DomainCheck(factor=1.0, handle_unknown="error")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check.fit_transform(sample_lists) is sample_lists  # ratio >= 1 everywhere
    structures = list(mp_sample.data[:20])
    half = DomainCheck(factor=0.97).fit(NeighborListFeaturizer().transform(structures[10:]))
    lists = NeighborListFeaturizer().transform(structures[:10])
    expected = [(p.index, p.reason) for p in half.problems(lists)]
    assert expected  # some of these crystals are denser than the other ten at some rank
    larger = [s * (2, 1, 1) for s in structures[:10]]
    reordered = [Structure.from_sites(list(reversed(s.sites))) for s in larger]
    for variant in (larger, reordered):
        lists = NeighborListFeaturizer().transform(variant)
        assert [(p.index, p.reason) for p in half.problems(lists)] == expected


def test_domain_check_in_a_saved_pipeline_and_its_refusals(mp_sample, sample_lists, tmp_path):
    from sklearn.base import clone

    from sklearn_bandgap.io import load, save
    from sklearn_bandgap.models import DomainCheck

    pipeline = make_pipeline(
        NeighborListFeaturizer(),
        DomainCheck(),
        NeighborLSTMRegressor(max_epochs=1, atom_hidden=8, crystal_hidden=8, random_state=0),
    ).fit(mp_sample.data, mp_sample.target[:, 0])
    loaded = load(save(pipeline, tmp_path / "checked.safetensors"))
    np.testing.assert_array_equal(loaded[1].rank_min_distances_, pipeline[1].rank_min_distances_)
    with pytest.warns(OutOfDomainWarning, match="H with its"):
        loaded.predict(_dense_hydrogen_and_squeezed_nacl())
    assert clone(pipeline[1]).get_params() == {"factor": 0.8, "handle_unknown": "warn"}
    with pytest.raises(TypeError, match="takes the NeighborLists"):
        DomainCheck().fit(mp_sample.data)
    with pytest.raises(ValueError, match="fitted on 19"):
        pipeline[1].transform(NeighborListFeaturizer(n_neighbors=7).transform(mp_sample.data[:2]))
    with pytest.raises(ValueError, match="factor"):
        DomainCheck(factor=1.5).fit(sample_lists)
