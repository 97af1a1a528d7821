"""Twins of the package's skorch nets with skorch's ``AccelerateMixin`` (Hugging Face accelerate).

An estimator given ``accelerator=Accelerator(...)`` trains with the twin of its
net class: accelerate then places the module and the batches, wraps the
optimizer, and runs data-parallel on several GPUs when the script is started
with ``accelerate launch``. Module-level classes, so fitted estimators pickle.
"""

from __future__ import annotations

from skorch import NeuralNetClassifier, NeuralNetRegressor
from skorch.hf import AccelerateMixin


class AcceleratedNeuralNetRegressor(AccelerateMixin, NeuralNetRegressor):
    """``NeuralNetRegressor`` trained through an ``accelerate.Accelerator``."""


class AcceleratedNeuralNetClassifier(AccelerateMixin, NeuralNetClassifier):
    """``NeuralNetClassifier`` trained through an ``accelerate.Accelerator``."""


#: net class -> its accelerated twin; the estimators' own net classes register theirs.
ACCELERATED: dict[type, type] = {
    NeuralNetRegressor: AcceleratedNeuralNetRegressor,
    NeuralNetClassifier: AcceleratedNeuralNetClassifier,
}
