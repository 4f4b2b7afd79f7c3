"""Write the Sphinx inventories for Python, NumPy and Pillow into docs/_inventories.

The docs link to those projects' pages through intersphinx, and CI builds them without
internet, so the inventories are vendored. With ``--fetch`` (on a machine with internet)
this downloads each project's published ``objects.inv``. Without it, it generates an
inventory from the installed modules: every public module, class, function and method of
the modules flowerkit's docs refer to, with the address where the project documents it.
That subset resolves the types in flowerkit's signatures (``pathlib.Path``,
``numpy.ndarray``, ``PIL.Image.Image``...); regenerate after adding a dependency.

    python scripts/make_inventories.py            # generated subset (offline)
    python scripts/make_inventories.py --fetch    # the projects' full inventories

Needs ``sphobjinv`` (``pip install sphobjinv``), the library that reads and writes the
inventory format.
"""

from __future__ import annotations

import argparse
import builtins
import importlib
import inspect
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import sphobjinv as soi

OUT = Path(__file__).resolve().parents[1] / "docs" / "_inventories"

URLS = {
    "python": "https://docs.python.org/3/",
    "numpy": "https://numpy.org/doc/stable/",
    "pillow": "https://pillow.readthedocs.io/en/stable/",
}

PYTHON_MODULES = [
    "abc", "argparse", "array", "base64", "collections", "collections.abc", "concurrent.futures",
    "contextlib", "csv", "dataclasses", "datetime", "enum", "fnmatch", "functools", "glob",
    "gzip", "hashlib", "html", "importlib", "importlib.metadata", "importlib.resources", "io",
    "itertools", "json", "logging", "math", "multiprocessing", "numbers", "os", "os.path",
    "pathlib", "platform", "queue", "random", "re", "shutil", "signal", "socket", "statistics",
    "struct", "subprocess", "sys", "tempfile", "threading", "time", "types", "typing", "urllib",
    "urllib.request", "uuid", "warnings", "zipfile", "zlib",
]  # fmt: skip

#: Builtin types documented in stdtypes.html rather than functions.html.
STDTYPES = {
    "bytearray", "bytes", "dict", "frozenset", "list", "memoryview", "range", "set", "str",
    "tuple",
}  # fmt: skip

Entry = tuple[str, str, str]  # (name, role, uri)


def _public(module: ModuleType) -> Iterator[tuple[str, object]]:
    names = getattr(module, "__all__", None) or [n for n in dir(module) if not n.startswith("_")]
    for name in names:
        try:
            yield name, getattr(module, name)
        except AttributeError:
            continue


def _members(
    prefix: str, module: ModuleType, page: str, *, own_only: bool = True
) -> Iterator[Entry]:
    """The module's public classes (with their methods), functions and data, on ``page``."""
    for name, obj in _public(module):
        full = f"{prefix}.{name}"
        if inspect.ismodule(obj):
            continue
        origin = getattr(obj, "__module__", None) or ""
        if own_only and inspect.isclass(obj) and not origin.startswith(prefix.split(".")[0]):
            continue
        if inspect.isclass(obj):
            role = "exception" if issubclass(obj, BaseException) else "class"
            yield full, role, f"{page}#{full}"
            for attribute, value in vars(obj).items():
                if not attribute.startswith("_") and callable(value):
                    yield f"{full}.{attribute}", "method", f"{page}#{full}.{attribute}"
        elif callable(obj):
            yield full, "function", f"{page}#{full}"
        else:
            yield full, "data", f"{page}#{full}"


def python_entries() -> Iterator[Entry]:
    for name, obj in vars(builtins).items():
        if name.startswith("_"):
            continue
        if inspect.isclass(obj) and issubclass(obj, BaseException):
            yield name, "exception", f"library/exceptions.html#{name}"
        elif inspect.isclass(obj):
            page = "stdtypes" if name in STDTYPES else "functions"
            yield name, "class", f"library/{page}.html#{name}"
        elif callable(obj):
            yield name, "function", f"library/functions.html#{name}"
    for module_name in PYTHON_MODULES:
        module = importlib.import_module(module_name)
        yield module_name, "module", f"library/{module_name}.html#module-{module_name}"
        yield from _members(module_name, module, f"library/{module_name}.html", own_only=False)


def numpy_entries() -> Iterator[Entry]:
    import numpy as np
    import numpy.random
    import numpy.typing

    yield "numpy", "module", "reference/index.html#module-numpy"
    for name, obj in _public(np):
        full = f"numpy.{name}"
        if inspect.ismodule(obj):
            continue
        if inspect.isclass(obj) and issubclass(obj, np.generic):
            yield full, "class", f"reference/arrays.scalars.html#{full}"
        elif inspect.isclass(obj):
            yield full, "class", f"reference/generated/{full}.html#{full}"
        elif callable(obj):
            yield full, "function", f"reference/generated/{full}.html#{full}"
    for attribute, value in vars(np.ndarray).items():
        if not attribute.startswith("_"):
            full = f"numpy.ndarray.{attribute}"
            role = "method" if callable(value) else "attribute"
            yield full, role, f"reference/generated/{full}.html#{full}"
    for name, _ in _public(numpy.typing):
        yield f"numpy.typing.{name}", "data", f"reference/typing.html#numpy.typing.{name}"
    yield (
        "numpy.random.Generator",
        "class",
        "reference/random/generator.html#numpy.random.Generator",
    )
    yield (
        "numpy.random.default_rng",
        "function",
        "reference/random/generator.html#numpy.random.default_rng",
    )


def pillow_entries() -> Iterator[Entry]:
    import PIL

    yield "PIL", "module", "reference/index.html"
    for name in ["Image", "ImageOps", "ImageCms", "ImageFile", "ImageDraw", "ImageFilter"]:
        module = importlib.import_module(f"PIL.{name}")
        yield f"PIL.{name}", "module", f"reference/{name}.html#module-PIL.{name}"
        yield from _members(f"PIL.{name}", module, f"reference/{name}.html")
    yield "PIL.UnidentifiedImageError", "exception", "PIL.html#PIL.UnidentifiedImageError"
    del PIL


def write(project: str, version: str, entries: Iterator[Entry]) -> Path:
    inventory = soi.Inventory()
    inventory.project, inventory.version = project, version
    seen: set[tuple[str, str]] = set()
    for name, role, uri in sorted(entries):  # sorted: the same file on every run
        if (name, role) in seen:
            continue
        seen.add((name, role))
        if not uri or any(c.isspace() or c in '<>"' for c in uri):
            raise ValueError(f"{project}: {name} would link to {uri!r}, not an address")
        inventory.objects.append(
            soi.DataObjStr(name=name, domain="py", role=role, priority="1", uri=uri, dispname=name)
        )
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{project.lower()}.inv"
    soi.writebytes(str(path), soi.compress(inventory.data_file(contract=True)))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fetch", action="store_true", help="download the full inventories")
    args = parser.parse_args()
    if args.fetch:
        for project, url in URLS.items():
            inventory = soi.Inventory(url=url + "objects.inv")
            path = OUT / f"{project}.inv"
            soi.writebytes(str(path), soi.compress(inventory.data_file(contract=True)))
            print(f"{path}: {inventory.count} objects from {url}")
        return
    import platform

    import numpy
    import PIL

    for project, version, entries in [
        ("python", ".".join(platform.python_version_tuple()[:2]), python_entries()),
        ("numpy", numpy.__version__, numpy_entries()),
        ("pillow", PIL.__version__, pillow_entries()),
    ]:
        path = write(project, version, entries)
        print(f"{path}: {len(soi.Inventory(str(path)).objects)} objects (generated)")


if __name__ == "__main__":
    main()
