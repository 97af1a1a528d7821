"""Pretrained models shipped with the package, as fitted scikit-learn pipelines.

Each model is a ``.safetensors`` file in the package (loaded by
:func:`sklearn_bandgap.io.load`, never unpickled) with a model card beside it:
what it predicts, the data and its licence, the training recipe and command,
the machine and time it took, and its figures on the project's test split.

>>> from sklearn_bandgap.pretrained import list_pretrained, load_pretrained
>>> list_pretrained()  # doctest: +SKIP
['band_gap_mp2018', 'formation_energy_mp2018']
>>> model = load_pretrained("band_gap_mp2018")  # doctest: +SKIP
>>> model.predict(structures)  # doctest: +SKIP
"""

from sklearn_bandgap.pretrained._registry import (
    DEFAULT_MODEL,
    list_pretrained,
    load_pretrained,
    model_card,
    pretrained_path,
)

__all__ = ["DEFAULT_MODEL", "list_pretrained", "load_pretrained", "model_card", "pretrained_path"]
