"""Import contracts: flowerkit's imports flow one way, down the layers declared below.

The whole import graph of ``src/flowerkit`` is read with :mod:`ast`: every import of a
flowerkit module, at the top of a module or inside a function, method or class, and every
``importlib.import_module("flowerkit...")`` literal. Imports under ``if TYPE_CHECKING:`` are
exempt (they never run), and so is the parent-package import Python performs implicitly
(importing ``flowerkit.models.registry`` runs ``flowerkit/models/__init__.py``). The graph
must have no cycle, import only sideways or down the layers, never reach into another
package's private names, and never import the lazy ``flowerkit`` namespace (except from
``__main__``). See docs/architecture.rst, which shows the layer block below.
"""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
import textwrap
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import pytest

import flowerkit

# layers-start
# The layers, lowest first. A module belongs to the layer with an entry equal to its name
# or a prefix of it (flowerkit.data.loading is in flowerkit.data) and may import only its
# own layer and the layers below. The namespace ``flowerkit`` (src/flowerkit/__init__.py)
# is outside the order: it may import any layer (lazily), and only __main__ imports it.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("flowerkit._version", "flowerkit.exceptions"),  # 0
    ("flowerkit.core",),  # 1
    ("flowerkit.options",),  # 1b: every option declared once (no TensorFlow, NumPy, Pillow)
    ("flowerkit.images",),  # 2
    ("flowerkit.data",),  # 3
    ("flowerkit.models",),  # 4
    ("flowerkit.training",),  # 5
    ("flowerkit.artifact",),  # 6
    ("flowerkit.evaluation",),  # 7
    ("flowerkit.prediction",),  # 8
    ("flowerkit.lite",),  # 9 (runs a .tflite export without TensorFlow)
    ("flowerkit.export",),  # 10
    ("flowerkit.classifier",),  # 11
    ("flowerkit.auditing",),  # 12
    ("flowerkit.cli", "flowerkit.__main__"),  # 13
)
# layers-end

SRC = Path(flowerkit.__file__).resolve().parents[1]
PACKAGE = "flowerkit"

#: Module-path components that start with ``_`` but are public.
PUBLIC_UNDERSCORED = frozenset({"__init__", "__main__", "_version"})

Layers = Sequence[Sequence[str]]


# --------------------------------------------------------------------------- the graph


@dataclass(frozen=True, order=True)
class Import:
    """One import of a package module: ``module`` imports ``target`` at ``line``.

    ``name`` is the imported name when it is not itself a module
    (``from target import name``); empty otherwise.
    """

    module: str
    target: str
    line: int
    name: str = ""

    def __str__(self) -> str:
        return f"{self.module} -> {self.target} (line {self.line})"


@dataclass(frozen=True, repr=False)
class Graph:
    """Every module of ``package`` and every import of a ``package`` module among them."""

    package: str
    modules: frozenset[str]
    imports: tuple[Import, ...]

    def __repr__(self) -> str:  # short, for pytest's tracebacks
        return f"Graph({self.package!r}: {len(self.modules)} modules, {len(self.imports)} imports)"


def find_modules(root: Path, package: str) -> dict[str, Path]:
    """The modules of ``package`` (a folder in ``root``), by dotted name; packages by their
    own name (``pkg/data/__init__.py`` is ``pkg.data``)."""
    found: dict[str, Path] = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _in_package(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _is_import_module(func: ast.expr) -> bool:
    if isinstance(func, ast.Name):
        return func.id == "import_module"
    return (
        isinstance(func, ast.Attribute)
        and func.attr == "import_module"
        and isinstance(func.value, ast.Name)
        and func.value.id == "importlib"
    )


class _ImportCollector(ast.NodeVisitor):
    """Collects the package imports of one module, skipping ``if TYPE_CHECKING:`` bodies."""

    def __init__(self, module: str, is_package: bool, package: str, modules: frozenset[str]):
        self.module = module
        # What relative imports and import_module(..., package=) resolve against.
        self.here = module if is_package else module.rpartition(".")[0]
        self.package = package
        self.modules = modules
        self.found: list[Import] = []

    def _add(self, target: str, line: int, name: str = "") -> None:
        if _in_package(target, self.package):
            self.found.append(Import(self.module, target, line, name))

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base_parts = self.here.split(".")
            base_parts = base_parts[: len(base_parts) - (node.level - 1)]
            base = ".".join(base_parts + ([node.module] if node.module else []))
        else:
            base = node.module or ""
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            if alias.name == "*":
                self._add(base, node.lineno)
            elif submodule in self.modules:
                self._add(submodule, node.lineno)
            else:
                self._add(base, node.lineno, alias.name)

    def visit_Call(self, node: ast.Call) -> None:
        if _is_import_module(node.func) and node.args:
            name = node.args[0]
            anchor: ast.expr | None = node.args[1] if len(node.args) > 1 else None
            for keyword in node.keywords:
                if keyword.arg == "package":
                    anchor = keyword.value
            if isinstance(name, ast.Constant) and isinstance(name.value, str):
                base = anchor.value if isinstance(anchor, ast.Constant) else self.here
                if isinstance(base, str):
                    self._add(importlib.util.resolve_name(name.value, base), node.lineno)
        self.generic_visit(node)


def build_graph(root: Path, package: str) -> Graph:
    """Parse every module of ``package`` (the folder ``root/package``) into its import graph."""
    paths = find_modules(root, package)
    modules = frozenset(paths)
    imports: list[Import] = []
    for module, path in paths.items():
        collector = _ImportCollector(module, path.name == "__init__.py", package, modules)
        collector.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        imports.extend(collector.found)
    return Graph(package, modules, tuple(sorted(imports)))


# --------------------------------------------------------------------------- the rules


def owner(module: str, layers: Layers) -> str | None:
    """The layer entry ``module`` belongs to (equal to it or a prefix of it), if any."""
    matches = [
        entry
        for entries in layers
        for entry in entries
        if module == entry or module.startswith(entry + ".")
    ]
    return max(matches, key=len, default=None)


def layer_of(module: str, layers: Layers) -> int | None:
    """The index of the layer ``module`` belongs to, if any."""
    entry = owner(module, layers)
    return None if entry is None else next(i for i, es in enumerate(layers) if entry in es)


def unknown_modules(graph: Graph, layers: Layers) -> list[str]:
    """Modules (other than the namespace) that belong to no layer."""
    return sorted(m for m in graph.modules if m != graph.package and owner(m, layers) is None)


def missing_imports(graph: Graph) -> list[str]:
    """Imports of package modules that do not exist."""
    return sorted({str(i) for i in graph.imports if i.target not in graph.modules})


def cycles(graph: Graph) -> list[list[Import]]:
    """One import cycle per strongly connected group of modules, as the imports that close
    it, starting from the group's first module in sorted order."""
    lines: dict[tuple[str, str], int] = {}
    for imp in graph.imports:
        if imp.module != imp.target and imp.target in graph.modules:
            key = (imp.module, imp.target)
            lines[key] = min(lines.get(key, imp.line), imp.line)
    edges: dict[str, list[str]] = {m: [] for m in graph.modules}
    for module, target in sorted(lines):
        edges[module].append(target)

    # Tarjan's strongly connected components.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges[node]:
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group: set[str] = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(edges):
        if node not in index:
            connect(node)

    found: list[list[Import]] = []
    for group in sorted(groups, key=min):
        start = min(group)
        parent: dict[str, str] = {start: start}
        queue = deque([start])
        path: list[str] = []
        while queue and not path:
            node = queue.popleft()
            for nxt in edges[node]:
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(parent[path[-1]])
                    path.reverse()
                    break
                if nxt in group and nxt not in parent:
                    parent[nxt] = node
                    queue.append(nxt)
        loop = [*path, start]
        found.append([Import(a, b, lines[a, b]) for a, b in pairwise(loop)])
    return found


def upward_imports(graph: Graph, layers: Layers) -> list[str]:
    """Imports of a higher layer than the importer's own."""
    bad: set[str] = set()
    for imp in graph.imports:
        if graph.package in (imp.module, imp.target):
            continue  # the namespace is outside the order (see namespace_imports)
        here, there = layer_of(imp.module, layers), layer_of(imp.target, layers)
        if here is not None and there is not None and there > here:
            bad.add(str(imp))
    return sorted(bad)


def _private(part: str) -> bool:
    return part.startswith("_") and part not in PUBLIC_UNDERSCORED


def private_imports(graph: Graph, layers: Layers) -> list[str]:
    """Imports of a private module or name that lives in another package."""
    bad: set[str] = set()
    for imp in graph.imports:
        private_module = any(_private(p) for p in imp.target.split(".")[1:])
        private_name = _private(imp.name) and not imp.name.endswith("__")
        if not (private_module or private_name):
            continue
        mine = graph.package if imp.module == graph.package else owner(imp.module, layers)
        theirs = graph.package if imp.target == graph.package else owner(imp.target, layers)
        if mine != theirs:
            imported = f"{imp.target}.{imp.name}" if private_name else imp.target
            bad.add(f"{imp.module} -> {imported} (line {imp.line})")
    return sorted(bad)


def namespace_imports(graph: Graph) -> list[str]:
    """Imports of the lazy top-level namespace by anything but itself and ``__main__``."""
    allowed = {graph.package, f"{graph.package}.__main__"}
    return sorted(
        {str(i) for i in graph.imports if i.target == graph.package and i.module not in allowed}
    )


def _failure(title: str, problems: Iterable[str]) -> str:
    return title + "\n  " + "\n  ".join(problems)


# --------------------------------------------------------------------------- the real tree


@pytest.fixture(scope="module")
def graph() -> Graph:
    return build_graph(SRC, PACKAGE)


def test_every_module_belongs_to_a_layer(graph: Graph) -> None:
    unknown = unknown_modules(graph, LAYERS)
    assert not unknown, _failure(
        "Modules in no layer: add each to LAYERS in tests/test_architecture.py "
        "(between '# layers-start' and '# layers-end'):",
        unknown,
    )


def test_every_imported_module_exists(graph: Graph) -> None:
    missing = missing_imports(graph)
    assert not missing, _failure("Imports of flowerkit modules that do not exist:", missing)


def test_no_import_cycles(graph: Graph) -> None:
    found = cycles(graph)
    assert not found, _failure(
        "Import cycles (each shown as the imports that close it):",
        ("; ".join(str(i) for i in cycle) for cycle in found),
    )


def test_imports_flow_down_the_layers(graph: Graph) -> None:
    upward = upward_imports(graph, LAYERS)
    assert not upward, _failure(
        "Imports of a higher layer (a module may import only its own layer or lower ones):",
        upward,
    )


def test_no_private_imports_across_packages(graph: Graph) -> None:
    private = private_imports(graph, LAYERS)
    assert not private, _failure(
        "Imports of another package's private modules or names (make them public, or move "
        "the code into that package):",
        private,
    )


def test_only_main_imports_the_namespace(graph: Graph) -> None:
    found = namespace_imports(graph)
    assert not found, _failure(
        "Imports of the lazy 'flowerkit' namespace (import the defining module instead):",
        found,
    )


def test_importing_flowerkit_and_the_cli_does_not_import_tensorflow() -> None:
    code = (
        "import sys, flowerkit, flowerkit.cli, flowerkit.data, flowerkit.evaluation, "
        "flowerkit.models\n"
        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_public_names_resolve() -> None:
    for name in flowerkit.__all__:
        assert getattr(flowerkit, name) is not None, name


def test_public_names_are_defined_in_flowerkit() -> None:
    outside = {
        name: getattr(getattr(flowerkit, name), "__module__", None)
        for name in flowerkit.__all__
        if name != "__version__"
    }
    outside = {
        name: module
        for name, module in outside.items()
        if not (isinstance(module, str) and module.startswith("flowerkit"))
    }
    assert not outside, f"Public names whose __module__ is not flowerkit's: {outside}"


# --------------------------------------------------------------------------- the checker


FAKE_LAYERS: tuple[tuple[str, ...], ...] = (
    ("fakepkg.low",),
    ("fakepkg.mid",),
    ("fakepkg.high", "fakepkg.__main__"),
)

FAKE_PACKAGE: Mapping[str, str] = {
    # The namespace may import any layer; only __main__ may import it.
    "__init__.py": "from fakepkg.high.top import thing\n",
    "__main__.py": "import fakepkg\n",
    "stray.py": "x = 1\n",
    "low/__init__.py": "",
    "low/_hidden.py": "def helper() -> None: ...\n",
    "low/a.py": """\
        _private_name = 1


        def f() -> None:
            from fakepkg.low import b


        class C:
            def m(self) -> None:
                import fakepkg.mid.ns
        """,
    # Importing fakepkg.low.a runs fakepkg/low/__init__.py and fakepkg/__init__.py too;
    # neither is an edge.
    "low/b.py": """\
        import fakepkg.low.a
        from fakepkg.low._hidden import helper
        """,
    "low/dyn.py": """\
        import importlib


        def load() -> object:
            return importlib.import_module("fakepkg.high.top")
        """,
    "mid/__init__.py": "",
    "mid/up.py": """\
        import fakepkg.high.top
        from fakepkg.low._hidden import helper
        from fakepkg.low.a import _private_name, f
        """,
    "mid/rel.py": """\
        from ..low import _hidden
        from . import up
        """,
    "mid/ns.py": "from fakepkg import thing\n",
    "high/__init__.py": "from .top import thing\n",
    "high/top.py": """\
        from typing import TYPE_CHECKING

        if TYPE_CHECKING:
            from fakepkg.high.typed import Typed

        thing = 1


        def gone() -> None:
            from fakepkg.gone import x
        """,
    "high/typed.py": """\
        from fakepkg.high.top import thing


        class Typed:
            from fakepkg.mid import up
        """,
}


def test_the_checker_finds_exactly_the_violations_of_a_fake_package(tmp_path: Path) -> None:
    for name, text in FAKE_PACKAGE.items():
        path = tmp_path / "fakepkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    fake = build_graph(tmp_path, "fakepkg")

    assert "fakepkg.low" in fake.modules and "fakepkg.high.typed" in fake.modules
    # Relative imports, class bodies and import_module literals are edges.
    assert Import("fakepkg.high", "fakepkg.high.top", 1, "thing") in fake.imports
    assert Import("fakepkg.mid.rel", "fakepkg.mid.up", 2) in fake.imports
    assert Import("fakepkg.high.typed", "fakepkg.mid.up", 5) in fake.imports
    assert Import("fakepkg.low.dyn", "fakepkg.high.top", 5) in fake.imports
    # The TYPE_CHECKING import is not (so top <-> typed is no cycle).
    assert not any(i.module == "fakepkg.high.top" and "typed" in i.target for i in fake.imports)

    assert unknown_modules(fake, FAKE_LAYERS) == ["fakepkg.stray"]
    assert missing_imports(fake) == ["fakepkg.high.top -> fakepkg.gone (line 10)"]
    assert [[str(i) for i in cycle] for cycle in cycles(fake)] == [
        [
            "fakepkg.low.a -> fakepkg.low.b (line 5)",
            "fakepkg.low.b -> fakepkg.low.a (line 1)",
        ]
    ]
    assert upward_imports(fake, FAKE_LAYERS) == [
        "fakepkg.low.a -> fakepkg.mid.ns (line 10)",
        "fakepkg.low.dyn -> fakepkg.high.top (line 5)",
        "fakepkg.mid.up -> fakepkg.high.top (line 1)",
    ]
    assert private_imports(fake, FAKE_LAYERS) == [
        "fakepkg.mid.rel -> fakepkg.low._hidden (line 1)",
        "fakepkg.mid.up -> fakepkg.low._hidden (line 2)",
        "fakepkg.mid.up -> fakepkg.low.a._private_name (line 3)",
    ]
    assert namespace_imports(fake) == ["fakepkg.mid.ns -> fakepkg (line 1)"]


def test_the_graph_covers_the_real_package(graph: Graph) -> None:
    # The rules above pass on an empty graph too; make sure this one is the whole package.
    assert graph.modules == frozenset(find_modules(SRC, PACKAGE))
    assert {"flowerkit", "flowerkit.data.loading", "flowerkit.cli"} <= graph.modules
    assert any(
        i.module == "flowerkit.__main__" and i.target == "flowerkit.cli" for i in graph.imports
    )
    assert any(i.module == "flowerkit.cli" for i in graph.imports)
