"""
Your own data: table, train, compare, tune, fine-tune, predict
==============================================================

A materials scientist's data set is a table: one row per crystal, a structure
column (CIF text, a file path, a pymatgen dict) and one or more measured or
computed properties. Here the table is the 100-pair sample of the NREL set
(relaxed structures and their DFT energy per atom, a property no shipped model
was trained on), written as a gzipped CSV of CIF texts, and it goes through
everything the package does with the shipped data:

1. :func:`~sklearn_bandgap.datasets.load_table` reads it (bad rows named);
2. a pipeline trains on a formula-group split and is measured on the rest;
3. :func:`~sklearn_bandgap.baselines.compare` puts it beside matminer baselines;
4. :func:`~sklearn_bandgap.tuning.tune` tunes it with Optuna;
5. ``init="band_gap_mp2018"`` fine-tunes the shipped band-gap network for the
   new property;
6. the saved model predicts new files with ``sklearn-bandgap predict``.

The same from the command line: ``sklearn-bandgap train mine.csv.gz --target
energy_per_atom [--init band_gap_mp2018] --save mine.safetensors``,
``sklearn-bandgap compare mine.csv.gz --target energy_per_atom``,
``sklearn-bandgap tune mine.csv.gz --target energy_per_atom --storage ...``.
On 100 crystals the figures below show the workflow, not what the models can
do; ``benchmarks/fine_tuning.py`` measures fine-tuning on thousands.
"""

# %%
# The table
# ---------
import warnings
from pathlib import Path
from tempfile import mkdtemp

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import optuna
import pandas as pd
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline

from sklearn_bandgap.baselines import compare, make_dummy, make_rf_magpie
from sklearn_bandgap.cli import main
from sklearn_bandgap.datasets import load_nrel_relaxation_pairs, load_table
from sklearn_bandgap.exceptions import ConstantPredictionWarning, OutOfDomainWarning
from sklearn_bandgap.featurizers import NeighborListFeaturizer
from sklearn_bandgap.io import save
from sklearn_bandgap.metrics import regression_report
from sklearn_bandgap.model_selection import formula_group_split
from sklearn_bandgap.models import NeighborLSTMRegressor, architecture_of
from sklearn_bandgap.pretrained import load_pretrained
from sklearn_bandgap.tuning import tune

optuna.logging.set_verbosity(optuna.logging.WARNING)
# 100 crystals: test formulas hold elements training lacks, and tiny fits can be flat
warnings.filterwarnings("ignore", category=OutOfDomainWarning)
warnings.filterwarnings("ignore", category=ConstantPredictionWarning)

work = Path(mkdtemp())
pairs = load_nrel_relaxation_pairs(subset="sample100")
pd.DataFrame(
    {
        "cif": [s.to(fmt="cif") for s in pairs.relaxed],
        "energy_per_atom": pairs.target,
    }
).to_csv(work / "mine.csv.gz", index=False)

table = load_table(work / "mine.csv.gz", target="energy_per_atom")
X, y, groups = table.data, table.target, table.groups
print(f"{len(X)} crystals, {len(set(groups))} formulas, column {table.structure_column!r}")

# %%
# Train and measure on unseen formulas
# ------------------------------------
train, test = formula_group_split(groups, test_size=0.2)
X_train, X_test = [X[i] for i in train], [X[i] for i in test]
scratch = make_pipeline(
    NeighborListFeaturizer(), NeighborLSTMRegressor(max_epochs=30, random_state=0)
).fit(X_train, y[train])
print("from scratch:", regression_report(y[test], scratch.predict(X_test)))

# %%
# Fine-tune the shipped band-gap network
# --------------------------------------
# Every layer but the output layer starts from the shipped model's first
# member; the output layer and the target scaling are new. The architecture
# must be the source's: ``architecture_of`` gives it.
member = load_pretrained("band_gap_mp2018")[-1].estimator_.estimators_[0]
tuned_from_gap = make_pipeline(
    NeighborListFeaturizer(),
    NeighborLSTMRegressor(
        **architecture_of(member), init="band_gap_mp2018", max_epochs=30, random_state=0
    ),
).fit(X_train, y[train])
print("fine-tuned:  ", regression_report(y[test], tuned_from_gap.predict(X_test)))

fig, ax = plt.subplots(figsize=(4.6, 4.2))
for name, model in (("from scratch", scratch), ("fine-tuned", tuned_from_gap)):
    ax.scatter(y[test], model.predict(X_test), s=14, label=name)
low, high = float(y.min()), float(y.max())
ax.plot([low, high], [low, high], color="grey", lw=1)
ax.set_xlabel("DFT energy per atom (eV/atom)")
ax.set_ylabel("predicted (eV/atom)")
ax.legend()
fig.tight_layout()
Path("results").mkdir(exist_ok=True)
fig.savefig(Path("results") / "own_data_parity.png", dpi=120)

# %%
# Beside matminer baselines, on identical formula-group folds
# -----------------------------------------------------------
comparison = compare(
    {
        "lstm": make_pipeline(
            NeighborListFeaturizer(), NeighborLSTMRegressor(max_epochs=30, random_state=0)
        ),
        "rf_magpie": make_rf_magpie(n_estimators=50),
        "mean": make_dummy(),
    },
    X,
    y,
    cv=GroupKFold(3),
    groups=groups,
)
with pd.option_context("display.width", 160, "display.max_columns", None):
    print(comparison[["mae_mean", "r2_mean", "prediction_spread", "constant"]])

# %%
# Tune (the test part stays out)
# ------------------------------
space = {
    "neighborlstmregressor__lr": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True},
    "neighborlstmregressor__atom_hidden": {"type": "categorical", "choices": [16, 48]},
}
result = tune(
    make_pipeline(NeighborListFeaturizer(), NeighborLSTMRegressor(max_epochs=10, random_state=0)),
    X_train,
    y[train],
    groups=groups[train],
    space=space,
    n_trials=3,
)
print(f"best of {result.n_complete} trials: {result.best_params}")

# %%
# Save and predict new files
# --------------------------
# The saved file names its output after the table's column: the CSV of
# ``sklearn-bandgap predict`` has an ``energy_per_atom`` column.
path = save(
    tuned_from_gap,
    work / "energy.safetensors",
    metadata={"outputs": [{"name": "energy_per_atom", "unit": "eV/atom"}]},
)
for k in test[:3]:
    X[k].to(filename=str(work / f"new_{k}.cif"))
main(["predict", *map(str, sorted(work.glob("new_*.cif"))), "--model", str(path)])
print(np.round(y[test[:3]], 3))
