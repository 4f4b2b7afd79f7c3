"""Sphinx configuration for flowerkit's documentation (built with -W in CI)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from flowerkit import __version__  # noqa: E402

project = "flowerkit"
author = "the flowerkit developers"
copyright = "2026, the flowerkit developers"  # noqa: A001
release = version = __version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
napoleon_google_docstring = True
# TensorFlow/Keras types in annotations are not documented here; don't warn about them.
nitpicky = False
suppress_warnings = ["myst.header"]
html_theme = "furo"  # maintained, readable on phones, light and dark
html_title = f"flowerkit {release}"
html_static_path = ["_static"]
