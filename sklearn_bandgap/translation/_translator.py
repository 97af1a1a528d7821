"""``RelaxationTranslator``: unrelaxed structures → predicted DFT-relaxed structures."""

from __future__ import annotations

from collections.abc import Iterator
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
import torch
from pymatgen.core import Structure
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNet
from skorch.callbacks import Callback
from skorch.hf import AccelerateMixin
from torch.utils.data import DataLoader, Sampler

from sklearn_bandgap._nn._accelerate import ACCELERATED
from sklearn_bandgap._nn._training import (
    SKORCH_PARAMETER_CONSTRAINTS,
    fit_net,
    net_class,
    seed_of,
    skorch_net_kwargs,
)
from sklearn_bandgap.translation._base import BaseTranslator
from sklearn_bandgap.translation._geometry import apply_relaxation, min_interatomic_distance
from sklearn_bandgap.translation._inputs import (
    NeighborGeometry,
    collate_geometry,
    neighbor_geometry,
    relaxation_targets,
    unseen_element_problems,
    warn_unseen_elements,
)
from sklearn_bandgap.translation._module import RelaxationNet
from sklearn_bandgap.utils._validation import PeriodicArrays, check_structures

#: No two atoms of a translated structure are closer than this (Å), unless the
#: input's own closest pair is closer.
MIN_DISTANCE = 0.5
_DAMPING = (1.0, 0.5, 0.25, 0.0)


class SizeBucketBatches(Sampler[list[int]]):
    """Training batches of crystals of similar size, in a new random order every epoch.

    The indices are shuffled, sorted by size within windows of 20 batches, cut
    into batches and the batches shuffled: padding to the largest crystal of a
    batch then wastes little, and every epoch still sees different batches.
    Random numbers come from torch's generator (seeded by ``fit``).
    """

    def __init__(self, sizes: np.ndarray, batch_size: int) -> None:
        self.sizes = sizes
        self.batch_size = batch_size

    def __len__(self) -> int:
        return -(-len(self.sizes) // self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        order = torch.randperm(len(self.sizes)).numpy()
        window = 20 * self.batch_size
        for start in range(0, len(order), window):
            chunk = order[start : start + window]
            order[start : start + window] = chunk[np.argsort(self.sizes[chunk], kind="stable")]
        batches = [
            order[i : i + self.batch_size].tolist() for i in range(0, len(order), self.batch_size)
        ]
        for b in torch.randperm(len(batches)).tolist():
            yield batches[b]


class _RelaxationLossNet(NeuralNet):
    """skorch ``NeuralNet`` whose loss compares a predicted relaxation with the true one."""

    def __init__(self, *args: Any, displacement_weight: float = 1.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.displacement_weight = displacement_weight

    def get_iterator(self, dataset: Any, training: bool = False) -> Any:
        if not training:
            return super().get_iterator(dataset, training=training)
        sizes = np.array([len(dataset[i][0][0]) for i in range(len(dataset))])
        return DataLoader(
            dataset,
            batch_sampler=SizeBucketBatches(sizes, self.batch_size),
            collate_fn=collate_geometry,
        )

    def get_loss(
        self, y_pred: Any, y_true: Any, X: Any = None, training: bool = False
    ) -> torch.Tensor:
        log_strain, displacements = y_pred
        strain_loss = torch.nn.functional.huber_loss(
            log_strain, y_true["log_strain"], delta=0.1, reduction="sum"
        ) / len(log_strain)
        mask = (X["atomic_numbers"] > 0).to(displacements.dtype).unsqueeze(-1)
        per_component = torch.nn.functional.huber_loss(
            displacements, y_true["displacements"], delta=0.1, reduction="none"
        )
        displacement_loss = (per_component * mask).sum() / mask.sum()
        return strain_loss + self.displacement_weight * displacement_loss


class _AcceleratedRelaxationLossNet(AccelerateMixin, _RelaxationLossNet):
    """``_RelaxationLossNet`` trained through an ``accelerate.Accelerator``."""


ACCELERATED[_RelaxationLossNet] = _AcceleratedRelaxationLossNet


def net_relaxations(
    net: NeuralNet, geometry: NeighborGeometry
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A trained net's log-strains (symmetrised) and displacements, per crystal of ``geometry``."""
    strains: list[np.ndarray] = []
    displacements: list[np.ndarray] = []
    sizes = [len(z) for z in geometry.atomic_numbers]
    position = 0
    with torch.no_grad():
        for batch_strain, batch_disp in net.forward_iter(geometry):
            for strain, disp in zip(
                batch_strain.numpy().astype(np.float64),
                batch_disp.numpy().astype(np.float64),
                strict=True,
            ):
                strains.append(0.5 * (strain + strain.T))
                displacements.append(disp[: sizes[position]])
                position += 1
    return strains, displacements


class LearnedTranslator(BaseTranslator):
    """A translator that predicts each relaxation from the structure's neighbour vectors.

    ``transform`` applies the predicted relaxation (damped until no two atoms
    are closer than :data:`MIN_DISTANCE`); ``predict_relaxation`` returns it.
    A subclass gives ``_relaxations_of(geometry)`` and ``_reference()`` (the
    fitted :class:`RelaxationTranslator` whose neighbour count and seen
    elements describe its inputs).
    """

    def transform(self, X: Any) -> list[Structure]:
        """Translate unrelaxed structures into predicted relaxed ones.

        Parameters
        ----------
        X : sequence of structures
            Unrelaxed structures.

        Returns
        -------
        translated : list of Structure
            Same species in the same site order, on the predicted relaxed
            lattice with the predicted positions.

        Warns
        -----
        UserWarning
            When structures hold elements unseen in ``fit`` (their element
            embeddings are untrained, so their translation is a guess): the
            count and the first of them, by index and formula.
        """
        return super().transform(X)

    def _transform(self, arrays: list[PeriodicArrays]) -> list[Structure]:
        log_strains, displacements = self._relaxations(arrays)
        return [
            safe_relaxation(item, strain, disp)
            for item, strain, disp in zip(arrays, log_strains, displacements, strict=True)
        ]

    def predict_relaxation(self, X: Any) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """The predicted cell log-strains and site displacements, before they are applied.

        Parameters
        ----------
        X : sequence of structures
            Unrelaxed structures.

        Returns
        -------
        log_strains : list of ndarray of shape (3, 3)
            Symmetric log-strain of each cell (trace: log volume ratio).
        displacements : list of ndarray of shape (n_sites, 3)
            Cartesian site displacements in relaxed lengths per site.
        """
        check_is_fitted(self)
        return self._relaxations(check_structures(X))

    def _relaxations(
        self, arrays: list[PeriodicArrays]
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        reference = self._reference()
        warn_unseen_elements(
            unseen_element_problems(arrays, reference.elements_seen_),
            len(arrays),
            "are translated with untrained element embeddings",
        )
        return self._relaxations_of(neighbor_geometry(arrays, reference.n_neighbors))

    def _reference(self) -> RelaxationTranslator:
        raise NotImplementedError

    def _relaxations_of(
        self, geometry: NeighborGeometry
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        raise NotImplementedError


class RelaxationTranslator(LearnedTranslator):
    """Predict the DFT-relaxed version of unrelaxed crystal structures.

    Learned from pairs of unrelaxed and relaxed structures (after Kim et al.,
    "A structure translation model for crystal compounds", npj Comput. Mater.
    9, 142, 2023), so that a property model trained on relaxed structures can be
    used on cheap, unrelaxed guesses: ``transform`` returns structures with the
    same species in the same site order on a predicted relaxed lattice with
    predicted site positions, which any featurizer downstream reads unchanged.

    The network (:class:`RelaxationNet`) reads the unrelaxed structure's
    neighbour vectors and predicts

    - the cell's symmetric log-strain ``E`` (new lattice ``L @ expm(E)``): its
      trace, the log volume ratio, from a sum of per-atom volumes; its traceless
      part, the change of shape, from the neighbour directions;
    - each site's displacement from the affinely strained position, as a sum of
      neighbour directions.

    Both rotate with the crystal and respect periodicity (neighbours include
    periodic images; displacements are fitted modulo lattice translations and a
    common origin shift). It is trained with skorch: a Huber loss on the
    log-strain plus ``displacement_weight`` × a Huber loss on the displacements
    (in units of the relaxed length per site, ``(V/n)^(1/3)``), AdamW, early
    stopping with the best epoch restored and a learning-rate schedule on a
    validation split of whole formulas from the training pairs. Composition
    over skorch's ``NeuralNet`` (as in
    :class:`~sklearn_bandgap.models.NeighborLSTMRegressor`) keeps the
    constructor flat and the estimator a plain sklearn transformer.

    A translated structure never has two atoms closer than :data:`MIN_DISTANCE`
    (0.5 Å; or the input's own closest distance if smaller): the displacements,
    and then the strain, are damped by factors of 2 until it holds.

    Parameters
    ----------
    hidden : int, default=64
        Size of the atom states and hidden layers.
    n_layers : int, default=3
        Rounds of messages between neighbours.
    n_neighbors : int, default=16
        Neighbours per atom (periodic images included).
    distance_expansion : int, default=16
        Gaussians of the distance expansion on [0, 8] Å.
    displacement_weight : float, default=1.0
        Weight of the displacement loss against the log-strain loss.
    lr : float, default=1e-3
        Learning rate of AdamW.
    weight_decay : float, default=1e-5
        Weight decay of AdamW.
    batch_size : int, default=32
        Crystals per batch.
    max_epochs : int, default=150
        Upper bound on training epochs.
    patience : int, default=20
        Epochs without a better validation loss before stopping. The
        validation loss is noisy (a few pairs change volume several-fold); with
        ``lr=2e-3, patience=10`` one run on the NREL pairs stopped at epoch 21
        (best 11) and matched 64 % of the test pairs, while these defaults
        train to about 90 epochs.
    validation_fraction : float, default=0.1
        Fraction of formulas held out of the training pairs for early stopping
        and the schedule; 0 trains ``max_epochs`` on all pairs.
    random_state : int, RandomState instance or None, default=None
        Seed of the weights, batches and validation split.
    device : str, default="cpu"
        Torch device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ... or ``"auto"``
        (CUDA when there is one, else the CPU; decided at ``fit``). A CUDA device
        on a machine without one raises a ``ValueError`` before training.
    verbose : int, default=0
        1 prints skorch's epoch table.
    callbacks : list of skorch callbacks or None, default=None
        Added to the early stopping and schedule.
    accelerator : accelerate.Accelerator or None, default=None
        Train through Hugging Face accelerate (skorch's ``AccelerateMixin``):
        accelerate places the module and batches (``device`` is then unused),
        mixed precision if the accelerator asks for it, and data-parallel
        training on several GPUs when the script runs under ``accelerate
        launch``. Not saved by :func:`sklearn_bandgap.io.save` (set it to None
        first).

    Attributes
    ----------
    net_ : skorch.NeuralNet
        The trained network.
    n_pairs_ : int
        Pairs seen in ``fit``.
    elements_seen_ : ndarray of int
        Atomic numbers present in the training pairs.

    See Also
    --------
    IsotropicVolumeTranslator : Only rescales the cell to a learned volume.
    IdentityTranslator : Leaves the structures as they are.

    Examples
    --------
    >>> from sklearn_bandgap.datasets import load_nrel_relaxation_pairs
    >>> from sklearn_bandgap.translation import RelaxationTranslator
    >>> pairs = load_nrel_relaxation_pairs(subset="sample100", progress=False)
    >>> translator = RelaxationTranslator(max_epochs=2, random_state=0)
    >>> translator = translator.fit(pairs.unrelaxed, relaxed=pairs.relaxed)
    >>> translated = translator.transform(pairs.unrelaxed[:3])
    >>> [t.composition == u.composition for t, u in zip(translated, pairs.unrelaxed[:3])]
    [True, True, True]
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        **SKORCH_PARAMETER_CONSTRAINTS,
        "hidden": [Interval(Integral, 1, None, closed="left")],
        "n_layers": [Interval(Integral, 0, None, closed="left")],
        "n_neighbors": [Interval(Integral, 2, None, closed="left")],
        "distance_expansion": [Interval(Integral, 2, None, closed="left")],
        "displacement_weight": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        *,
        hidden: int = 64,
        n_layers: int = 3,
        n_neighbors: int = 16,
        distance_expansion: int = 16,
        displacement_weight: float = 1.0,
        lr: float = 1e-3,
        weight_decay: float = 1e-5,
        batch_size: int = 32,
        max_epochs: int = 150,
        patience: int = 20,
        validation_fraction: float = 0.1,
        random_state: int | np.random.RandomState | None = None,
        device: str = "cpu",
        verbose: int = 0,
        callbacks: list[Callback] | None = None,
        accelerator: Any = None,
    ) -> None:
        self.hidden = hidden
        self.n_layers = n_layers
        self.n_neighbors = n_neighbors
        self.distance_expansion = distance_expansion
        self.displacement_weight = displacement_weight
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.device = device
        self.verbose = verbose
        self.callbacks = callbacks
        self.accelerator = accelerator

    def _fit(self, unrelaxed: list[PeriodicArrays], relaxed: list[PeriodicArrays] | None) -> None:
        assert relaxed is not None
        geometry = neighbor_geometry(unrelaxed, self.n_neighbors)
        targets = relaxation_targets(unrelaxed, relaxed)
        seed = seed_of(self.random_state)
        self.net_ = self._build_net(seed)
        # the net draws from torch's generator while training (its own batching): seeded fork
        fit_net(self.net_, geometry, targets, seed, stochastic=True)
        self.elements_seen_ = np.unique(np.concatenate(geometry.atomic_numbers)).astype(int)

    def _reference(self) -> RelaxationTranslator:
        return self

    def _relaxations_of(
        self, geometry: NeighborGeometry
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        return net_relaxations(self.net_, geometry)

    def _build_net(self, seed: int | None) -> NeuralNet:
        return net_class(_RelaxationLossNet, self.accelerator)(
            module=RelaxationNet,
            module__hidden=self.hidden,
            module__n_layers=self.n_layers,
            module__distance_expansion=self.distance_expansion,
            criterion=torch.nn.HuberLoss,  # unused: get_loss is overridden
            displacement_weight=self.displacement_weight,
            iterator_valid__collate_fn=collate_geometry,
            **skorch_net_kwargs(self, seed),
        )


def safe_relaxation(
    item: PeriodicArrays, log_strain: np.ndarray, displacements: np.ndarray
) -> Structure:
    """Apply a predicted relaxation, damped until no two atoms are too close."""
    structure = item.structure
    assert structure is not None
    floor = min(MIN_DISTANCE, min_interatomic_distance(structure, MIN_DISTANCE + 0.1))
    for strain_factor in _DAMPING:
        for displacement_factor in _DAMPING:
            translated = apply_relaxation(
                structure, strain_factor * log_strain, displacement_factor * displacements
            )
            if min_interatomic_distance(translated, floor + 0.1) >= floor - 1e-9:
                return translated
    return Structure.from_sites(structure)  # pragma: no cover - damping to 0 is the input
