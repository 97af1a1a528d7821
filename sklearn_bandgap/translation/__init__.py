"""Translation of unrelaxed crystal structures into (predicted) relaxed ones.

:class:`RelaxationTranslator` learns the relaxation from pairs of unrelaxed and
DFT-relaxed structures, so that a property model trained on relaxed structures
can be used on unrelaxed guesses. :class:`IdentityTranslator` and
:class:`IsotropicVolumeTranslator` are the baselines it is measured against;
:func:`structure_agreement` measures how close translations come to the DFT
relaxations, pair by pair, and :func:`agreement_summary` sums that up.
:class:`PotentialRelaxer` relaxes structures with the pretrained universal
potential CHGNet, a physics baseline and a finisher for the learned translation.
The pure ``torch.nn.Module`` is :class:`RelaxationNet`.
"""

from sklearn_bandgap.translation._baselines import IdentityTranslator, IsotropicVolumeTranslator
from sklearn_bandgap.translation._ensemble import SeedEnsembleTranslator
from sklearn_bandgap.translation._evaluation import agreement_summary, structure_agreement
from sklearn_bandgap.translation._geometry import (
    apply_relaxation,
    cell_log_strain,
    nearest_neighbor_vectors,
    site_displacements,
)
from sklearn_bandgap.translation._module import RelaxationNet
from sklearn_bandgap.translation._potential import PotentialRelaxer, RelaxationError
from sklearn_bandgap.translation._translator import MIN_DISTANCE, RelaxationTranslator

__all__ = [
    "MIN_DISTANCE",
    "IdentityTranslator",
    "IsotropicVolumeTranslator",
    "PotentialRelaxer",
    "RelaxationNet",
    "RelaxationError",
    "RelaxationTranslator",
    "SeedEnsembleTranslator",
    "agreement_summary",
    "apply_relaxation",
    "cell_log_strain",
    "nearest_neighbor_vectors",
    "site_displacements",
    "structure_agreement",
]
