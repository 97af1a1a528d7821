"""Sphinx configuration for sklearn_bandgap (build: ``sphinx-build docs docs/_build``)."""

project = "sklearn_bandgap"
author = "sklearn_bandgap developers"
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]
autosummary_generate = True
numpydoc_show_class_members = False
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
}
intersphinx_mapping = {
    "python": ("https://docs.python.org/3", None),
    "sklearn": ("https://scikit-learn.org/stable", None),
    "pymatgen": ("https://pymatgen.org", None),
}
exclude_patterns = ["_build"]
html_theme = "alabaster"
