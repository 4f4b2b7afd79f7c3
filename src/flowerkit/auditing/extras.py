"""The optional packages the audit stands on (``pip install "flowerkit[audit]"``)."""

from __future__ import annotations

import importlib.util

__all__ = ["INSTALL_HINT", "has_faiss", "require"]

INSTALL_HINT = 'pip install "flowerkit[audit]" (scikit-learn, cleanlab and faiss-cpu)'

#: module -> what the audit uses it for
_NEEDED = {
    "sklearn": "the cross-validated class probabilities",
    "cleanlab": "finding label issues",
}


def require() -> None:
    """Fail before any work when a package the audit needs is missing.

    Raises:
        ModuleNotFoundError: naming the package, what it is for and how to install it.
    """
    for module, purpose in _NEEDED.items():
        if importlib.util.find_spec(module) is None:
            raise ModuleNotFoundError(
                f"The audit needs {module} for {purpose}, which is not installed: {INSTALL_HINT}",
                name=module,
            )


def has_faiss() -> bool:
    """Whether faiss is installed (nearest neighbours of large folders without comparing
    every pair)."""
    return importlib.util.find_spec("faiss") is not None
