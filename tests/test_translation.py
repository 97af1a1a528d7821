"""RelaxationTranslator and its baselines: geometry, learning, sklearn API, bad input."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
import sklearn
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Element, Lattice, Structure
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import make_pipeline
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_bandgap.exceptions import InvalidStructureError
from sklearn_bandgap.featurizers import NeighborListFeaturizer
from sklearn_bandgap.models import NeighborLSTMRegressor
from sklearn_bandgap.translation import (
    MIN_DISTANCE,
    IdentityTranslator,
    IsotropicVolumeTranslator,
    RelaxationTranslator,
    SeedEnsembleTranslator,
    apply_relaxation,
    cell_log_strain,
    nearest_neighbor_vectors,
    site_displacements,
    structure_agreement,
)
from sklearn_bandgap.translation._geometry import min_interatomic_distance
from sklearn_bandgap.translation._translator import safe_relaxation
from sklearn_bandgap.utils._validation import check_structures
from sklearn_bandgap.utils.estimator_checks import rotated, site_permuted, translated
from tests.conftest import DATA_FREE_CHECKS

TINY = {"hidden": 16, "n_layers": 1, "max_epochs": 3, "random_state": 0}


@pytest.fixture(scope="module")
def pairs(nrel_sample):
    return nrel_sample.unrelaxed, nrel_sample.relaxed


@pytest.fixture(scope="module")
def fitted(pairs):
    unrelaxed, relaxed = pairs
    return RelaxationTranslator(**TINY).fit(unrelaxed, relaxed=relaxed)


def _lattice_parameters(structure):
    return np.array(structure.lattice.abc + structure.lattice.angles)


# ---------------------------------------------------------------- geometry
def test_true_targets_rebuild_the_relaxed_structures(pairs):
    """Log-strain and displacements are a complete, periodic description of a relaxation."""
    matcher = StructureMatcher(ltol=0.2, stol=0.3, angle_tol=5)
    for u, r in zip(*pairs, strict=True):
        strain = cell_log_strain(u.lattice.matrix, r.lattice.matrix)
        np.testing.assert_allclose(np.trace(strain), np.log(r.volume / u.volume), atol=1e-10)
        np.testing.assert_allclose(strain, strain.T, atol=1e-12)
        rebuilt = apply_relaxation(u, strain, site_displacements(u, r, strain))
        np.testing.assert_allclose(rebuilt.volume, r.volume, rtol=1e-9)
        np.testing.assert_allclose(
            _lattice_parameters(rebuilt), _lattice_parameters(r), rtol=1e-7, atol=1e-6
        )
        assert matcher.fit(rebuilt, r)
        assert structure_agreement([rebuilt], [r])["mean_displacement"].iloc[0] < 1e-6


def test_displacements_ignore_origin_shift_and_wrapping(nacl):
    moved = nacl.copy()
    moved.translate_sites(list(range(len(moved))), [0.45, -0.3, 0.97], to_unit_cell=True)
    zero = np.zeros((3, 3))
    np.testing.assert_allclose(site_displacements(nacl, moved, zero), 0.0, atol=1e-12)


def test_neighbor_vectors_are_periodic_and_nearest_first(cscl):
    index, distances, vectors = nearest_neighbor_vectors(
        cscl.lattice.matrix, cscl.cart_coords, n_neighbors=14
    )
    a = cscl.lattice.a
    # CsCl: 8 unlike neighbours at a*sqrt(3)/2, then 6 images of itself at a.
    np.testing.assert_allclose(distances[:, :8], a * np.sqrt(3) / 2, rtol=1e-10)
    np.testing.assert_allclose(distances[:, 8:], a, rtol=1e-10)
    np.testing.assert_array_equal(index[0, :8], 1)
    np.testing.assert_array_equal(index[0, 8:], 0)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=-1), distances, rtol=1e-12)
    np.testing.assert_allclose(vectors[0, :8].sum(axis=0), 0.0, atol=1e-10)  # symmetric shell


def test_coinciding_sites_are_named():
    bad = Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0, 0, 0], [0.0, 0.0, 0.001]])
    with pytest.raises(InvalidStructureError, match=r"structure 0 \(NaCl\).*coincide"):
        RelaxationTranslator(**TINY).fit([bad], relaxed=[bad])


# ---------------------------------------------------------------- learning
def test_fit_transform_keeps_species_order_and_distances(fitted, pairs):
    unrelaxed, _ = pairs
    out = fitted.transform(unrelaxed)
    assert len(out) == len(unrelaxed)
    for t, u in zip(out, unrelaxed, strict=True):
        assert isinstance(t, Structure)
        assert [s.specie for s in t] == [s.specie for s in u]
        assert t.is_ordered
        assert min_interatomic_distance(t, 1.0) >= MIN_DISTANCE


def test_translation_learns_the_relaxation(pairs):
    """Trained on the sample, volumes and shapes move towards the relaxed ones."""
    unrelaxed, relaxed = pairs
    translator = RelaxationTranslator(max_epochs=60, validation_fraction=0, random_state=0)
    out = translator.fit(unrelaxed, relaxed=relaxed).transform(unrelaxed)
    history = translator.net_.history[:, "train_loss"]
    assert history[-1] < 0.5 * history[0]
    before = structure_agreement(unrelaxed, relaxed)
    after = structure_agreement(out, relaxed)
    assert after["volume_error"].abs().mean() < 0.5 * before["volume_error"].abs().mean()
    assert after["match"].mean() > before["match"].mean()


def test_outputs_rotate_translate_and_permute_with_the_input(fitted, pairs):
    unrelaxed, _ = pairs
    sample = [Structure.from_sites(s) for s in unrelaxed[:6]]
    reference = fitted.transform(sample)
    for name, change in {
        "rotation": rotated,
        "translation": translated,
        "site order": site_permuted,
    }.items():
        changed = fitted.transform([change(s) for s in sample])
        for a, b in zip(reference, changed, strict=True):
            np.testing.assert_allclose(
                _lattice_parameters(a), _lattice_parameters(b), rtol=1e-4, err_msg=name
            )
            if name != "site order":
                assert a.matches(b, ltol=1e-3, stol=1e-3, angle_tol=0.01, scale=False), name


def test_supercell_gives_the_same_relaxation(fitted, pairs):
    unrelaxed, _ = pairs
    structure = Structure.from_sites(unrelaxed[0])
    (one,) = fitted.transform([structure])
    (two,) = fitted.transform([structure * (2, 1, 1)])
    np.testing.assert_allclose(two.volume, 2 * one.volume, rtol=1e-4)
    assert one.matches(two, ltol=1e-3, stol=1e-3, angle_tol=0.01, scale=False)


def test_same_seed_same_translation(pairs):
    unrelaxed, relaxed = pairs
    a = RelaxationTranslator(**TINY).fit(unrelaxed, relaxed=relaxed).transform(unrelaxed[:5])
    b = RelaxationTranslator(**TINY).fit(unrelaxed, relaxed=relaxed).transform(unrelaxed[:5])
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x.lattice.matrix, y.lattice.matrix)
        np.testing.assert_allclose(x.frac_coords, y.frac_coords)


def test_damping_keeps_atoms_apart(nacl):
    item = check_structures([nacl])[0]
    push = np.zeros((len(nacl), 3))
    push[0] = nacl[4].coords - nacl[0].coords  # moves a Na onto a Cl...
    push[0] /= (nacl.volume / len(nacl)) ** (1 / 3)  # ...in the unit of displacements
    out = safe_relaxation(item, np.zeros((3, 3)), push)
    assert min_interatomic_distance(out, 1.0) >= MIN_DISTANCE


# ---------------------------------------------------------------- baselines
def test_isotropic_volume_is_a_sum_of_element_volumes(pairs):
    unrelaxed, relaxed = pairs
    iso = IsotropicVolumeTranslator().fit(unrelaxed, relaxed=relaxed)
    out = iso.transform(unrelaxed[:5])
    for t, u in zip(out, unrelaxed[:5], strict=True):
        expected = sum(n * iso.element_volumes_[el.symbol] for el, n in u.composition.items())
        np.testing.assert_allclose(t.volume, expected, rtol=1e-9)
        np.testing.assert_allclose(t.lattice.angles, u.lattice.angles, atol=1e-8)
        np.testing.assert_allclose(t.frac_coords, u.frac_coords % 1.0, atol=1e-8)
    fitted_volumes = np.array([t.volume for t in iso.transform(unrelaxed)])
    true_volumes = np.array([r.volume for r in relaxed])
    unrelaxed_volumes = np.array([u.volume for u in unrelaxed])
    assert (
        np.abs(fitted_volumes / true_volumes - 1).mean()
        < np.abs(unrelaxed_volumes / true_volumes - 1).mean()
    )


def test_isotropic_volume_names_unseen_elements(pairs):
    iso = IsotropicVolumeTranslator().fit(pairs[0], relaxed=pairs[1])
    unseen = next(el for el in ("Xe", "Kr", "Pu", "Ne", "Rn") if el not in iso.element_volumes_)
    seen = next(iter(iso.element_volumes_))
    odd = Structure(Lattice.cubic(4.0), [unseen, seen], [[0, 0, 0], [0.5, 0.5, 0.5]])
    formula = odd.composition.reduced_formula
    with pytest.raises(InvalidStructureError, match=rf"structure 1 \({formula}\): holds {unseen},"):
        iso.transform([pairs[0][0], odd])


def test_isotropic_volume_can_keep_unseen_structures_unscaled(pairs):
    iso = IsotropicVolumeTranslator(handle_unknown="keep_volume").fit(pairs[0], relaxed=pairs[1])
    unseen = next(el for el in ("Xe", "Kr", "Pu", "Ne", "Rn") if el not in iso.element_volumes_)
    seen = next(iter(iso.element_volumes_))
    odd = Structure(Lattice.cubic(4.0), [unseen, seen], [[0, 0, 0], [0.5, 0.5, 0.5]])
    inputs = [pairs[0][0], odd, pairs[0][1], odd]
    formula = odd.composition.reduced_formula
    with pytest.warns(UserWarning, match=rf"^2 of 4 structures .* structure 1 \({formula}\)"):
        out = iso.transform(inputs)
    np.testing.assert_allclose([out[1].volume, out[3].volume], odd.volume, rtol=1e-12)
    assert out[1] == odd
    with pytest.warns(UserWarning, match="^1 of 1 structures"):
        assert iso.transform([odd]) == [odd]  # a batch of unseen structures only
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        expected = (
            IsotropicVolumeTranslator()
            .fit(pairs[0], relaxed=pairs[1])
            .transform([pairs[0][0], pairs[0][1]])
        )
    assert [out[0], out[2]] == expected


def test_isotropic_volume_rejects_an_unknown_handle_unknown(pairs):
    with pytest.raises(ValueError, match="handle_unknown"):
        IsotropicVolumeTranslator(handle_unknown="skip").fit(pairs[0], relaxed=pairs[1])


def test_identity_returns_the_input(pairs):
    unrelaxed, relaxed = pairs
    out = IdentityTranslator().fit(unrelaxed, relaxed=relaxed).transform(unrelaxed)
    assert out == list(unrelaxed)
    agreement = structure_agreement(relaxed, relaxed)
    assert agreement["match"].all()
    np.testing.assert_allclose(agreement["volume_error"], 0.0, atol=1e-12)


# ---------------------------------------------------------------- sklearn API
@pytest.mark.parametrize("check", DATA_FREE_CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize(
    "estimator",
    [RelaxationTranslator(), IsotropicVolumeTranslator(), IdentityTranslator()],
    ids=lambda e: type(e).__name__,
)
def test_sklearn_data_free_checks(check, estimator):
    check(type(estimator).__name__, estimator)


def test_clone_and_pickle_give_equal_translations(fitted, pairs):
    unrelaxed, relaxed = pairs
    expected = fitted.transform(unrelaxed[:5])
    for other in (
        pickle.loads(pickle.dumps(fitted)),
        clone(fitted).fit(unrelaxed, relaxed=relaxed),
    ):
        for a, b in zip(expected, other.transform(unrelaxed[:5]), strict=True):
            np.testing.assert_allclose(a.lattice.matrix, b.lattice.matrix, atol=1e-6)
            np.testing.assert_allclose(a.frac_coords, b.frac_coords, atol=1e-6)


def test_pipeline_routes_relaxed_to_the_translator(pairs, nrel_sample):
    unrelaxed, relaxed = pairs
    y = nrel_sample.target
    regressor = NeighborLSTMRegressor(max_epochs=2, random_state=0)
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = make_pipeline(
            RelaxationTranslator(**TINY).set_fit_request(relaxed=True),
            NeighborListFeaturizer(),
            regressor,
        )
        pipe.fit(unrelaxed, y, relaxed=relaxed)
        assert pipe[0].n_pairs_ == len(unrelaxed)
        assert pipe.predict(unrelaxed[:3]).shape == (3,)
    # Without routing, the step-prefixed name works too.
    plain = make_pipeline(RelaxationTranslator(**TINY), NeighborListFeaturizer(), clone(regressor))
    plain.fit(unrelaxed, y, relaxationtranslator__relaxed=relaxed)
    assert plain[0].n_pairs_ == len(unrelaxed)


def test_frozen_translator_is_not_refitted(fitted, pairs, nrel_sample):
    unrelaxed, _ = pairs
    weights = {k: v.clone() for k, v in fitted.net_.module_.state_dict().items()}
    net = fitted.net_
    pipe = make_pipeline(
        FrozenEstimator(fitted),
        NeighborListFeaturizer(),
        NeighborLSTMRegressor(max_epochs=2, random_state=0),
    )
    pipe.fit(unrelaxed, nrel_sample.target)  # no relaxed structures needed
    assert fitted.net_ is net
    for k, v in fitted.net_.module_.state_dict().items():
        assert np.array_equal(v.numpy(), weights[k].numpy())
    assert pipe.predict(unrelaxed[:2]).shape == (2,)


# ---------------------------------------------------------------- bad input
def test_species_mismatch_names_the_pair(pairs):
    unrelaxed, relaxed = list(pairs[0][:4]), list(pairs[1][:4])
    wrong = relaxed[2].copy()
    wrong.replace(0, "Xe")
    relaxed[2] = wrong
    formula = unrelaxed[2].composition.reduced_formula
    for translator in (RelaxationTranslator(**TINY), IsotropicVolumeTranslator()):
        with pytest.raises(InvalidStructureError, match=rf"structure 2 \({formula}\).*species"):
            translator.fit(unrelaxed, relaxed=relaxed)


@pytest.mark.parametrize(
    "translator", [RelaxationTranslator(**TINY), IsotropicVolumeTranslator()], ids=type
)
def test_missing_or_mismatched_relaxed(translator, pairs):
    unrelaxed, relaxed = pairs
    with pytest.raises(ValueError, match="needs the relaxed structures"):
        clone(translator).fit(unrelaxed)
    with pytest.raises(ValueError, match="5 unrelaxed structures but relaxed holds 4"):
        clone(translator).fit(unrelaxed[:5], relaxed=relaxed[:4])


def test_bad_inputs_to_transform(fitted):
    with pytest.raises(TypeError, match="got one Structure"):
        fitted.transform(Structure(Lattice.cubic(3), ["Na"], [[0, 0, 0]]))
    with pytest.raises(ValueError, match="holds no structures"):
        fitted.transform([])
    with pytest.raises(InvalidStructureError, match=r"structure 1: is a builtins\.int"):
        fitted.transform([Structure(Lattice.cubic(3), ["Na"], [[0, 0, 0]]), 7])


def test_transform_before_fit():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        RelaxationTranslator().transform([Structure(Lattice.cubic(3), ["Na"], [[0, 0, 0]])])


# ---------------------------------------------------------------- seed ensemble
@pytest.fixture(scope="module")
def ensemble(pairs):
    unrelaxed, relaxed = pairs
    return SeedEnsembleTranslator(RelaxationTranslator(**TINY), random_states=[3, 5]).fit(
        unrelaxed, relaxed=relaxed
    )


def test_ensemble_applies_the_members_mean_relaxation(ensemble, pairs):
    unrelaxed, _ = pairs
    assert [m.random_state for m in ensemble.estimators_] == [3, 5]
    assert ensemble.seed_parameters_ == ["random_state"]
    members = [m.predict_relaxation(unrelaxed[:6]) for m in ensemble.estimators_]
    strains, displacements = ensemble.predict_relaxation(unrelaxed[:6])
    assert not np.allclose(members[0][0][0], members[1][0][0])  # the seeds differ
    for i in range(6):
        np.testing.assert_allclose(strains[i], (members[0][0][i] + members[1][0][i]) / 2)
        np.testing.assert_allclose(displacements[i], (members[0][1][i] + members[1][1][i]) / 2)
    expected = [
        safe_relaxation(item, s, d)
        for item, s, d in zip(check_structures(unrelaxed[:6]), strains, displacements, strict=True)
    ]
    for a, b, u in zip(expected, ensemble.transform(unrelaxed[:6]), unrelaxed[:6], strict=True):
        np.testing.assert_allclose(a.lattice.matrix, b.lattice.matrix)
        assert [s.specie for s in b] == [s.specie for s in u]
        assert min_interatomic_distance(b, 1.0) >= 0.5


def test_one_member_ensemble_is_the_translator_with_that_seed(pairs):
    unrelaxed, relaxed = pairs
    alone = RelaxationTranslator(**{**TINY, "random_state": 7}).fit(unrelaxed, relaxed=relaxed)
    ensemble = SeedEnsembleTranslator(RelaxationTranslator(**TINY), random_states=[7])
    ensemble.fit(unrelaxed, relaxed=relaxed)
    for a, b in zip(alone.transform(unrelaxed[:4]), ensemble.transform(unrelaxed[:4]), strict=True):
        np.testing.assert_allclose(a.lattice.matrix, b.lattice.matrix, atol=1e-6)
        np.testing.assert_allclose(a.frac_coords, b.frac_coords, atol=1e-6)


def test_ensemble_routes_relaxed_in_a_pipeline_and_pickles(ensemble, pairs, nrel_sample):
    unrelaxed, relaxed = pairs
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = make_pipeline(
            clone(ensemble).set_params(n_jobs=2).set_fit_request(relaxed=True),
            NeighborListFeaturizer(),
        )
        pipe.fit(unrelaxed, nrel_sample.target, relaxed=relaxed)
    restored = pickle.loads(pickle.dumps(ensemble))
    for a, b, c in zip(
        ensemble.transform(unrelaxed[:4]),
        restored.transform(unrelaxed[:4]),
        pipe[0].transform(unrelaxed[:4]),  # n_jobs=2 trains the same members
        strict=True,
    ):
        np.testing.assert_allclose(a.lattice.matrix, b.lattice.matrix, atol=1e-6)
        np.testing.assert_allclose(a.lattice.matrix, c.lattice.matrix, atol=1e-6)


@pytest.mark.parametrize("check", DATA_FREE_CHECKS, ids=lambda c: c.__name__)
def test_ensemble_data_free_checks(check):
    check("SeedEnsembleTranslator", SeedEnsembleTranslator(RelaxationTranslator()))


def test_ensemble_bad_settings(pairs):
    unrelaxed, relaxed = pairs
    with pytest.raises(ValueError, match=r"random_states repeats \[1\]"):
        SeedEnsembleTranslator(RelaxationTranslator(**TINY), random_states=[1, 1]).fit(
            unrelaxed, relaxed=relaxed
        )
    for other in (IsotropicVolumeTranslator(), NeighborLSTMRegressor()):
        with pytest.raises(InvalidParameterError, match=r"instance of '.*RelaxationTranslator'"):
            SeedEnsembleTranslator(other).fit(unrelaxed, relaxed=relaxed)
    with pytest.raises(ValueError, match="needs the relaxed structures"):
        SeedEnsembleTranslator(RelaxationTranslator(**TINY), random_states=[0]).fit(unrelaxed)


# ---------------------------------------------------------------- unseen elements
@pytest.mark.parametrize("which", ["fitted", "ensemble"])
def test_translators_warn_about_elements_unseen_in_fit(which, request, pairs):
    translator = request.getfixturevalue(which)
    seen = {int(z) for z in (getattr(translator, "estimators_", [translator])[0].elements_seen_)}
    unseen = next(el for el in ("Xe", "Kr", "Pu", "Ne", "Rn") if Element(el).Z not in seen)
    known = Element.from_Z(min(seen)).symbol
    odd = Structure(Lattice.cubic(4.0), [unseen, known], [[0, 0, 0], [0.5, 0.5, 0.5]])
    formula = odd.composition.reduced_formula
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning for structures made of seen elements
        clean = translator.transform(pairs[0][:2])
    with pytest.warns(
        UserWarning, match=rf"^1 of 3 structures hold .*untrained.*structure 1 \({formula}\)"
    ):
        out = translator.transform([pairs[0][0], odd, pairs[0][1]])
    assert [out[0], out[2]] == clean
    with pytest.warns(UserWarning, match="unseen in fit"):
        translator.predict_relaxation([odd])
