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
