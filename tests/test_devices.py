"""Devices: 'auto', a CUDA device where there is none, and (with a GPU) CUDA training."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sklearn_bandgap.featurizers import NeighborListFeaturizer
from sklearn_bandgap.models import NeighborLSTMClassifier, NeighborLSTMRegressor
from sklearn_bandgap.translation import RelaxationTranslator

TINY = dict(atom_hidden=8, crystal_hidden=8, head_hidden=8, max_epochs=2, random_state=0)
no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")


@pytest.fixture(scope="module")
def lists(mp_sample):
    return NeighborListFeaturizer().transform(mp_sample.data[:60])


@pytest.fixture(scope="module")
def gap(mp_sample):
    return mp_sample.target[:60, 0]


def test_auto_trains_on_the_cpu_without_cuda_and_equals_cpu(lists, gap):
    expected_device = "cuda" if torch.cuda.is_available() else "cpu"
    auto = NeighborLSTMRegressor(device="auto", **TINY).fit(lists, gap)
    assert auto.device == "auto"  # the parameter stays as given
    assert auto.net_.device == expected_device
    if expected_device == "cpu":
        cpu = NeighborLSTMRegressor(device="cpu", **TINY).fit(lists, gap)
        np.testing.assert_array_equal(auto.predict(lists), cpu.predict(lists))


@no_cuda
@pytest.mark.parametrize(
    "make",
    [
        lambda: NeighborLSTMRegressor(device="cuda", **TINY),
        lambda: NeighborLSTMClassifier(device="cuda:0", **TINY),
        lambda: RelaxationTranslator(device="cuda", max_epochs=1),
    ],
)
def test_a_cuda_device_without_cuda_is_named_before_training(make, lists, gap, nrel_sample):
    model = make()
    with pytest.raises(ValueError, match=r"device='cuda(:0)?', but CUDA is not available"):
        if isinstance(model, RelaxationTranslator):
            model.fit(nrel_sample.unrelaxed[:10], relaxed=nrel_sample.relaxed[:10])
        else:
            model.fit(lists, gap > 0 if isinstance(model, NeighborLSTMClassifier) else gap)


def test_a_string_torch_does_not_take_is_named(lists, gap):
    with pytest.raises(ValueError, match="device='gpu' is not a torch device"):
        NeighborLSTMRegressor(device="gpu", **TINY).fit(lists, gap)


@needs_cuda
def test_cuda_training_predicts_like_the_cpu(lists, gap):  # pragma: no cover - GPU only
    cuda = NeighborLSTMRegressor(device="cuda", **TINY).fit(lists, gap)
    cpu = NeighborLSTMRegressor(device="cpu", **TINY).fit(lists, gap)
    assert cuda.net_.device == "cuda"
    np.testing.assert_allclose(cuda.predict(lists), cpu.predict(lists), atol=1e-3)


def test_training_through_accelerate_on_the_cpu(lists, gap, tmp_path):
    """skorch's AccelerateMixin (accelerate's CPU mode here): trains, clones, pickles;
    saving asks for the accelerator to be dropped, and the saved model predicts the same."""
    import pickle

    pytest.importorskip("accelerate")
    from accelerate import Accelerator
    from sklearn.base import clone

    from sklearn_bandgap._nn._accelerate import AcceleratedNeuralNetRegressor
    from sklearn_bandgap.io import load, save

    model = NeighborLSTMRegressor(accelerator=Accelerator(cpu=True), **{**TINY, "max_epochs": 4})
    model.fit(lists, gap)
    assert isinstance(model.net_, AcceleratedNeuralNetRegressor)
    losses = model.net_.history_[:, "train_loss"]
    assert losses[-1] < losses[0]
    y_pred = model.predict(lists)
    assert np.isfinite(y_pred).all()
    assert clone(model).accelerator is not None
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(model)).predict(lists), y_pred)
    with pytest.raises(
        TypeError, match=r"estimator\.accelerator: .*set_params\(accelerator=None\)"
    ):
        save(model, tmp_path / "accelerated.safetensors")
    model.set_params(accelerator=None)
    loaded = load(save(model, tmp_path / "plain.safetensors"))
    np.testing.assert_allclose(loaded.predict(lists), y_pred, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kind", ["classifier", "translator"])
def test_the_classifier_and_the_translator_train_through_accelerate(kind, lists, gap, nrel_sample):
    pytest.importorskip("accelerate")
    from accelerate import Accelerator

    accelerator = Accelerator(cpu=True)
    if kind == "classifier":
        model = NeighborLSTMClassifier(accelerator=accelerator, **TINY).fit(lists, gap > 0)
        assert np.isfinite(model.predict_proba(lists)).all()
    else:
        model = RelaxationTranslator(accelerator=accelerator, max_epochs=1, random_state=0)
        model.fit(nrel_sample.unrelaxed[:12], relaxed=nrel_sample.relaxed[:12])
        assert len(model.transform(nrel_sample.unrelaxed[12:14])) == 2
    assert type(model.net_).__name__.startswith(("Accelerated", "_Accelerated"))


@no_cuda
def test_a_model_saved_for_cuda_loads_on_the_cpu_when_asked(lists, gap, tmp_path):
    from sklearn_bandgap.io import ModelFileError, load, save

    model = NeighborLSTMRegressor(**TINY).fit(lists, gap)
    y_pred = model.predict(lists)
    path = save(model.set_params(device="cuda"), tmp_path / "trained_on_a_gpu.safetensors")
    with pytest.raises(ModelFileError, match="CUDA is not available"):
        load(path)
    loaded = load(path, device="cpu")
    assert loaded.device == "cpu"
    np.testing.assert_array_equal(loaded.predict(lists), y_pred)
    assert load(path, device="auto").net_.device == "cpu"
