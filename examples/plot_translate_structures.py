"""
Translating unrelaxed structures towards their DFT relaxations
==============================================================

Fit :class:`~sklearn_bandgap.translation.RelaxationTranslator` on 80 of the 100
NREL sample pairs (unrelaxed prototype-derived structure, DFT-relaxed
structure), translate the 20 unseen unrelaxed structures, and compare them with
their DFT relaxations next to the two baselines: the structure as it is, and an
isotropic rescaling to a learned volume. Then plug the fitted translator, frozen,
in front of an energy model. Runs in about 20 seconds on a CPU. 80 pairs are far
too few for the learned translator (it needs thousands to beat the volume
baseline); ``benchmarks/translation_nrel.py`` has the measured figures, from
8,500 training pairs.
"""

# %%
# Fit the translator and its baselines on 80 pairs
# ------------------------------------------------
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import make_pipeline

from sklearn_bandgap.datasets import load_nrel_relaxation_pairs
from sklearn_bandgap.featurizers import NeighborListFeaturizer
from sklearn_bandgap.models import NeighborLSTMRegressor
from sklearn_bandgap.translation import (
    IdentityTranslator,
    IsotropicVolumeTranslator,
    RelaxationTranslator,
    structure_agreement,
)

pairs = load_nrel_relaxation_pairs(subset="sample100", progress=False)
U_train, R_train = pairs.unrelaxed[:80], pairs.relaxed[:80]
U_test, R_test = pairs.unrelaxed[80:], pairs.relaxed[80:]
translators = {
    "identity": IdentityTranslator(),
    "isotropic volume": IsotropicVolumeTranslator(),
    "RelaxationTranslator": RelaxationTranslator(max_epochs=40, random_state=0),
}
agreement = {}
for name, translator in translators.items():
    translator.fit(U_train, relaxed=R_train)
    agreement[name] = structure_agreement(translator.transform(U_test), R_test)
    table = agreement[name]
    print(
        f"{name:>20}: match {table['match'].mean():.0%}, "
        f"|volume error| {table['volume_error'].abs().mean():.1%}"
    )

# %%
# Predicted against DFT volume change
# -----------------------------------
true_ratio = np.array([r.volume / u.volume for u, r in zip(U_test, R_test, strict=True)])
fig, ax = plt.subplots(figsize=(4.5, 4))
for name, table in agreement.items():
    predicted_ratio = (1 + table["volume_error"].to_numpy()) * true_ratio
    ax.scatter(true_ratio, predicted_ratio, s=14, label=name)
limits = [0.5 * true_ratio.min(), 1.5 * true_ratio.max()]
ax.plot(limits, limits, color="grey", lw=0.8)
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel("DFT volume ratio relaxed / unrelaxed")
ax.set_ylabel("predicted volume ratio")
ax.legend(fontsize=8)
fig.tight_layout()
output = Path("results") / "translation_volumes.png"
output.parent.mkdir(exist_ok=True)
fig.savefig(output, dpi=120)
print(f"saved {output}")

# %%
# A frozen translator in front of an energy model
# -----------------------------------------------
# ``FrozenEstimator`` keeps the fitted translator as it is when the pipeline is
# fitted, so the energy model learns from translated structures and predicts
# from unrelaxed inputs in one call.
energy_model = make_pipeline(
    FrozenEstimator(translators["RelaxationTranslator"]),
    NeighborListFeaturizer(),
    NeighborLSTMRegressor(max_epochs=20, random_state=0),
)
energy_model.fit(U_train, pairs.target[:80])
error = np.abs(energy_model.predict(U_test) - pairs.target[80:]).mean()
print(f"energy per atom MAE on the 20 unseen pairs: {error:.3f} eV/atom")
