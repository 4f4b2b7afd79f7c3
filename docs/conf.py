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
    "sphinx.ext.intersphinx",
    "sphinx.ext.extlinks",
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

# Links to Python, NumPy and Pillow. Their inventories are vendored in _inventories (CI
# builds offline; scripts/make_inventories.py writes them), so a build never downloads.
_INVENTORIES = Path(__file__).resolve().parent / "_inventories"
intersphinx_mapping = {
    "python": ("https://docs.python.org/3/", str(_INVENTORIES / "python.inv")),
    "numpy": ("https://numpy.org/doc/stable/", str(_INVENTORIES / "numpy.inv")),
    "pillow": ("https://pillow.readthedocs.io/en/stable/", str(_INVENTORIES / "pillow.inv")),
}

# TensorFlow and Keras publish no inventory: :tf:`data/Dataset` and :keras:`Model` link
# their API pages, and the names in type hints link through _link_tensorflow below.
TF_API = "https://www.tensorflow.org/api_docs/python/"
extlinks = {
    "tf": (TF_API + "tf/%s", "tf.%s"),
    "keras": ("https://keras.io/api/%s", "%s"),
}


def _link_tensorflow(app: object, env: object, node: object, contnode: object) -> object:
    """Resolve ``tf.X.Y``/``tensorflow.X.Y``/``keras.X.Y`` to TensorFlow's API page."""
    from docutils import nodes

    target = str(getattr(node, "get", lambda *_: "")("reftarget", ""))
    for prefix, path in (("tensorflow.", "tf/"), ("tf.", "tf/"), ("keras.", "tf/keras/")):
        if target.startswith(prefix):
            parts = target[len(prefix) :].split(".")
            if not parts or not all(p.isidentifier() for p in parts):
                return None
            uri = TF_API + path + "/".join(parts)
            reference = nodes.reference("", "", internal=False, refuri=uri, reftitle=target)
            reference += contnode  # type: ignore[operator]
            return reference
    return None


def setup(app: object) -> None:
    app.connect("missing-reference", _link_tensorflow)  # type: ignore[attr-defined]
