"""NeighborLSTMClassifier: learns, calibrates, cross-validates, persists."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from conftest import DATA_FREE_CHECKS
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupKFold, cross_val_predict
from sklearn.pipeline import make_pipeline

from sklearn_bandgap.featurizers import NeighborListFeaturizer
from sklearn_bandgap.io import load, save
from sklearn_bandgap.model_selection import formula_groups
from sklearn_bandgap.models import NeighborLSTMClassifier

SMALL = dict(atom_hidden=16, crystal_hidden=32, head_hidden=32, random_state=0)


@pytest.fixture(scope="module")
def lists(mp_sample):
    return NeighborListFeaturizer().transform(mp_sample.data)


@pytest.fixture(scope="module")
def gapped(mp_sample):
    return mp_sample.target[:, 0] > 0


@pytest.fixture(scope="module")
def fitted(lists, gapped):
    model = NeighborLSTMClassifier(**SMALL, max_epochs=25, lr=5e-3, validation_fraction=0)
    return model.fit(lists, gapped)


def test_the_classifier_learns(fitted, lists, gapped):
    losses = fitted.net_.history_[:, "train_loss"]
    assert losses[0] > 2 * losses[-1]
    proba = fitted.predict_proba(lists)
    assert roc_auc_score(gapped, proba[:, 1]) > 0.9  # on its own training data


def test_probabilities_and_classes(fitted, lists, gapped):
    proba = fitted.predict_proba(lists)
    assert proba.shape == (200, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    assert fitted.classes_.tolist() == [False, True]
    np.testing.assert_array_equal(fitted.predict(lists), fitted.classes_[proba.argmax(axis=1)])


def test_string_labels_and_balanced_class_weights(lists, gapped):
    labels = np.where(gapped, "semiconductor", "metal")
    labels[:150] = "metal"  # unbalanced: 150 + metals of the rest
    model = NeighborLSTMClassifier(**SMALL, max_epochs=2, class_weight="balanced").fit(
        lists, labels
    )
    assert model.classes_.tolist() == ["metal", "semiconductor"]
    counts = np.array([np.sum(labels == c) for c in model.classes_])
    np.testing.assert_allclose(model.class_weight_, len(labels) / (2 * counts))
    assert set(model.predict(lists)) <= {"metal", "semiconductor"}


def test_bad_targets_are_named(lists):
    with pytest.raises(ValueError, match="one class only"):
        NeighborLSTMClassifier(max_epochs=1).fit(lists, np.ones(200, dtype=bool))
    with pytest.raises(ValueError, match="Unknown label type"):
        NeighborLSTMClassifier(max_epochs=1).fit(lists, np.linspace(0, 1, 200))
    with pytest.raises(ValueError, match="one label per structure"):
        NeighborLSTMClassifier(max_epochs=1).fit(lists, np.zeros(199, dtype=int))


def test_in_cross_val_predict_and_calibration(mp_sample, gapped):
    pipeline = make_pipeline(
        NeighborListFeaturizer(), NeighborLSTMClassifier(**SMALL, max_epochs=2)
    )
    groups = formula_groups(mp_sample.data)
    proba = cross_val_predict(
        pipeline, mp_sample.data, gapped, cv=GroupKFold(3), groups=groups, method="predict_proba"
    )
    assert proba.shape == (200, 2) and np.isfinite(proba).all()
    calibrated = CalibratedClassifierCV(pipeline, cv=2, method="sigmoid").fit(
        mp_sample.data, gapped
    )
    assert calibrated.predict_proba(mp_sample.data[:5]).shape == (5, 2)


def test_clone_pickle_and_safe_persistence(fitted, lists, tmp_path):
    expected = fitted.predict_proba(lists)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(fitted)).predict_proba(lists), expected)
    loaded = load(save(fitted, tmp_path / "classifier.safetensors"))
    np.testing.assert_array_equal(loaded.predict_proba(lists), expected)
    assert loaded.classes_.tolist() == [False, True]
    assert clone(fitted).get_params() == fitted.get_params()


@pytest.mark.parametrize("check", DATA_FREE_CHECKS, ids=lambda c: c.__name__)
def test_sklearn_data_free_checks(check):
    check("NeighborLSTMClassifier", NeighborLSTMClassifier())
