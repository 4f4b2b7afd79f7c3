"""Import contracts: the modules' imports flow one way.

cli -> classifier -> models/data -> images -> exceptions. Nothing imports the CLI, the
pure report/checking modules never import the classifier, and importing flowerkit (or the
CLI) does not import TensorFlow.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import flowerkit

PACKAGE = Path(flowerkit.__file__).parent


def _imports(module: str) -> set[str]:
    """flowerkit modules imported anywhere in ``module`` (top level or inside functions)."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("flowerkit"):
            if node.module == "flowerkit":
                found.update(f"flowerkit.{alias.name}" for alias in node.names)
            else:
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("flowerkit"))
    return found


MODULES = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem not in {"__init__", "__main__"})


@pytest.mark.parametrize("module", MODULES)
def test_nothing_imports_the_cli(module: str) -> None:
    if module != "cli":
        assert "flowerkit.cli" not in _imports(module)


@pytest.mark.parametrize(
    "module",
    [
        "exceptions",
        "_validation",
        "images",
        "checking",
        "evaluation",
        "plot",
        "prediction",
        "models",
        "augment",
        "data",
        "_pipeline",
    ],
)
def test_lower_layers_never_import_the_classifier(module: str) -> None:
    assert "flowerkit.classifier" not in _imports(module)


def test_exceptions_import_nothing_from_flowerkit() -> None:
    assert _imports("exceptions") == set()


def test_importing_flowerkit_and_the_cli_does_not_import_tensorflow() -> None:
    code = (
        "import sys, flowerkit, flowerkit.cli, flowerkit.checking, flowerkit.evaluation\n"
        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_public_names_resolve() -> None:
    for name in flowerkit.__all__:
        assert getattr(flowerkit, name) is not None
