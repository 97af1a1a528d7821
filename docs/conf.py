"""Sphinx configuration for sklearn_bandgap (build: ``sphinx-build -W docs docs/_build``)."""

import os

project = "sklearn_bandgap"
author = "sklearn_bandgap developers"
copyright = f"2026, {author}"
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]
autosummary_generate = True
numpydoc_show_class_members = False


def _data_available() -> bool:
    """The gallery runs only where the data folder is (not on Read the Docs)."""
    try:
        from sklearn_bandgap.datasets import find_data_file

        find_data_file("mp_gap_eform/mp_gap_eform_sample200.csv.gz")
        return True
    except (ImportError, FileNotFoundError):
        return False


sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "plot_gallery": _data_available(),
}
# Offline builds (CI here has no network beyond the package registries) skip the
# inventories rather than fail on them: SKLEARN_BANDGAP_DOCS_OFFLINE=1.
intersphinx_mapping = (
    {}
    if os.environ.get("SKLEARN_BANDGAP_DOCS_OFFLINE")
    else {
        "python": ("https://docs.python.org/3", None),
        "sklearn": ("https://scikit-learn.org/stable", None),
        "pymatgen": ("https://pymatgen.org", None),
    }
)
templates_path = ["_templates"]
exclude_patterns = ["_build"]
html_theme = "alabaster"
# wide enough for the estimators' signatures, the gallery's code and the
# package name in the sidebar (the theme's 940 px cut all three)
html_theme_options = {"page_width": "1200px", "sidebar_width": "260px"}
