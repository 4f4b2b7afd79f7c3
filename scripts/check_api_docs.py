"""Check that the built docs document every public name of flowerkit.

Reads the inventory Sphinx wrote (``objects.inv``: every object the site documents) and
imports each documented name; every function, class and constant in the ``__all__`` of
``flowerkit`` and of its packages, and every public method of ``Classifier``, must be
among them, under any of the names it is importable by.

    sphinx-build -b html docs docs/_build/html
    python scripts/check_api_docs.py docs/_build/html

Exits 1 and lists what is missing. CI runs it after the docs build.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys
from pathlib import Path

import sphobjinv as soi

NAMESPACES = [
    "flowerkit",
    "flowerkit.data",
    "flowerkit.images",
    "flowerkit.models",
    "flowerkit.evaluation",
    "flowerkit.export",
    "flowerkit.prediction",
    "flowerkit.lite",
    "flowerkit.training.distribute",
]


def _resolve(dotted: str) -> object | None:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for part in parts[cut:]:
                obj = getattr(obj, part)
        except AttributeError:
            return None
        return obj
    return None


def documented(site: Path) -> tuple[set[int], set[str]]:
    """The ids of the objects the site documents, and their documented names."""
    inventory = soi.Inventory(str(site / "objects.inv"))
    names = {o.name for o in inventory.objects if o.domain == "py"}
    objects = {
        id(getattr(obj, "__func__", obj)) for name in names if (obj := _resolve(name)) is not None
    }
    return objects, names


def public() -> dict[str, object]:
    """Every public name (``namespace.name``) and its object."""
    found: dict[str, object] = {}
    for namespace in NAMESPACES:
        module = importlib.import_module(namespace)
        for name in module.__all__:
            if not name.startswith("__"):
                found[f"{namespace}.{name}"] = getattr(module, name)
    classifier = importlib.import_module("flowerkit").Classifier
    for name, value in vars(classifier).items():
        if not name.startswith("_") and inspect.isfunction(getattr(value, "__func__", value)):
            found[f"flowerkit.Classifier.{name}"] = getattr(classifier, name)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("html", type=Path, help="the built site (sphinx-build -b html)")
    args = parser.parse_args(argv)
    objects, names = documented(args.html)
    missing = []
    for name, obj in sorted(public().items()):
        if inspect.isclass(obj) or inspect.isfunction(obj) or inspect.ismethod(obj):
            ok = id(getattr(obj, "__func__", obj)) in objects
        else:  # a constant: documented under its own name in its namespace or module
            ok = any(n.endswith("." + name.rsplit(".", 1)[1]) for n in names)
        if not ok:
            missing.append(name)
    if missing:
        print("Public names the docs do not document:", *missing, sep="\n  ")
        return 1
    print(f"check_api_docs: all {len(public())} public names are documented")
    return 0


if __name__ == "__main__":
    sys.exit(main())
