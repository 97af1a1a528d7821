"""
Tuning the LSTM pipeline with Optuna
====================================

:func:`~sklearn_bandgap.tuning.tune` runs an Optuna study over
``make_pipeline(NeighborListFeaturizer(), NeighborLSTMRegressor())``: each
trial is scored on a formula-group validation split, bad trials are pruned
from the per-epoch validation loss, and the study lives in a storage (here a
journal file) that other workers could share or that a later run resumes.
The plots are Optuna's own: optimization history and parameter importances.

This runs 8 tiny trials on the 200-structure sample (about a minute on a CPU);
``python -m sklearn_bandgap.tuning`` is the worker command for real studies.
"""

# %%
# A study in a journal file
# -------------------------
# On 200 structures the validation folds hold elements their training folds
# lack; the model's ``OutOfDomainWarning`` for them is expected here and
# silenced.
import warnings
from pathlib import Path
from tempfile import mkdtemp

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import optuna
from sklearn.pipeline import make_pipeline

from sklearn_bandgap.datasets import load_mp_gap_eform
from sklearn_bandgap.exceptions import OutOfDomainWarning
from sklearn_bandgap.featurizers import NeighborListFeaturizer
from sklearn_bandgap.models import NeighborLSTMRegressor
from sklearn_bandgap.tuning import default_search_space, tune

optuna.logging.set_verbosity(optuna.logging.WARNING)
warnings.filterwarnings("ignore", category=OutOfDomainWarning)
X, y = load_mp_gap_eform(subset="sample200", return_X_y=True, progress=False)
model = make_pipeline(
    NeighborListFeaturizer(),
    NeighborLSTMRegressor(max_epochs=6, random_state=0, nonnegative=True),
)

# The default space is plain data: keep three entries and narrow one.
space = default_search_space("neighborlstmregressor__")
space = {
    name: space[name] for name in space if name.split("__")[1] in {"lr", "atom_hidden", "dropout"}
}
space["neighborlstmregressor__atom_hidden"]["choices"] = [8, 16]
print(space)

journal = Path(mkdtemp()) / "gap_study.log"
result = tune(model, X, y, space=space, n_trials=8, storage=journal, study_name="gap")
print(
    f"{result.n_complete} complete, {result.n_pruned} pruned "
    f"({result.pruned_epochs_saved} epochs saved); best {result.best_params}"
)
print(result.trials[["number", "value", "state"]])

# %%
# Optimization history and parameter importances
# ----------------------------------------------
# Optuna's matplotlib plots (experimental in Optuna, hence the warnings filter);
# saved as PNG in results/.
import warnings

Path("results").mkdir(exist_ok=True)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
    history = optuna.visualization.matplotlib.plot_optimization_history(
        result.study, target_name="validation MAE (eV)"
    )
    history.figure.savefig("results/tuning_history.png", dpi=100, bbox_inches="tight")
    importances = optuna.visualization.matplotlib.plot_param_importances(result.study)
    importances.figure.savefig("results/tuning_importances.png", dpi=100, bbox_inches="tight")
plt.show()
