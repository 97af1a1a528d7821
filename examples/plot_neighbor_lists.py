"""
Neighbour lists of real crystals
================================

Featurize the 200-structure Materials Project sample with
:class:`~sklearn_bandgap.featurizers.NeighborListFeaturizer`, look at the
neighbour shells of rock salt, and at how far the 19th neighbour sits in metals
and in insulators. Runs in a few seconds on a CPU.
"""

# %%
# Load the sample and featurize it
# --------------------------------
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from pymatgen.core import Lattice, Structure

from sklearn_bandgap.datasets import load_mp_gap_eform
from sklearn_bandgap.featurizers import NeighborListFeaturizer

data = load_mp_gap_eform(subset="sample200", progress=False)
featurizer = NeighborListFeaturizer(n_neighbors=19)
lists = featurizer.fit_transform(data.data)
print(lists)

# %%
# Rock salt: 6 Cl at a/2, 12 Na at a/√2, then Cl at √3 a/2
# ---------------------------------------------------------
nacl = Structure.from_spacegroup(
    "Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
)
numbers, distances = featurizer.featurize(nacl)
print("Na row, atomic numbers:", numbers[0])
print("Na row, distances (Å): ", distances[0].round(3))

# %%
# Distance to the nearest and to the 19th neighbour, metals vs gapped
# -------------------------------------------------------------------
is_metal = data.target == 0
per_structure = [(item.distances[:, 1].mean(), item.distances[:, -1].mean()) for item in lists]
nearest, last = np.array(per_structure).T

fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), sharey=True)
bins = np.linspace(0, 9, 37)
for ax, values, title in [
    (axes[0], nearest, "nearest neighbour"),
    (axes[1], last, "19th neighbour"),
]:
    ax.hist(values[is_metal], bins=bins, alpha=0.6, label="metals (gap = 0)")
    ax.hist(values[~is_metal], bins=bins, alpha=0.6, label="gap > 0")
    ax.set_xlabel(f"mean distance to the {title} (Å)")
    ax.set_title(title)
axes[0].set_ylabel("structures")
axes[1].legend()
fig.tight_layout()
output = Path("results") / "neighbor_distances.png"
output.parent.mkdir(exist_ok=True)
fig.savefig(output, dpi=120)
print(f"saved {output}")
