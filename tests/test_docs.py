"""Every code example in the docs runs: the pages' blocks, the CLI lines, the doctests.

How the examples are found and marked: ``tests/docs_examples.py``. The fast run uses the
small synthetic example folder; blocks marked ``.. example: slow`` run under
``pytest -m slow`` with ``flower_photos`` and the ImageNet weights from ``../shared``.
"""

from __future__ import annotations

import contextlib
import doctest
import importlib
import inspect
import io
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import docs_examples as ex
import flowerkit

FLOWERS = ex.SHARED / "data" / "flower_photos"
WEIGHTS = ex.SHARED / "weights"

#: The namespaces whose names make up flowerkit's public API (architecture.rst): each
#: function and class in their ``__all__`` documents its arguments and has an example.
#: (scripts/check_api_docs.py checks, on the built site, that these and the advanced
#: flowerkit.training.distribute names all appear in the reference.)
PUBLIC_NAMESPACES = [
    "flowerkit",
    "flowerkit.data",
    "flowerkit.images",
    "flowerkit.models",
    "flowerkit.evaluation",
    "flowerkit.export",
    "flowerkit.prediction",
    "flowerkit.lite",
    "flowerkit.auditing",
]


def _public_modules() -> list[str]:
    import pkgutil

    names = ["flowerkit"]
    for info in pkgutil.walk_packages(flowerkit.__path__, "flowerkit."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return names


@pytest.fixture(scope="module")
def example_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ex.make_example_folder(tmp_path_factory.mktemp("docs-example-source"))


@contextlib.contextmanager
def _inside(folder: Path, *, slow: bool) -> Iterator[None]:
    """Run in ``folder``, with the real data and weights linked in for slow runs."""
    previous = Path.cwd()
    saved = os.environ.get("FLOWERKIT_WEIGHTS")
    if slow:
        if FLOWERS.is_dir():
            (folder / "flower_photos").symlink_to(FLOWERS, target_is_directory=True)
        if WEIGHTS.is_dir():
            os.environ["FLOWERKIT_WEIGHTS"] = str(WEIGHTS)
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)
        if saved is None:
            os.environ.pop("FLOWERKIT_WEIGHTS", None)
        else:
            os.environ["FLOWERKIT_WEIGHTS"] = saved


def _run_block(block: ex.Block, namespace: dict[str, Any]) -> None:
    from flowerkit.cli import main

    if block.language == "python":
        # Line numbers in a traceback point into the page.
        code = "\n" * (block.line - 1) + block.code
        exec(compile(code, str(block.path), "exec"), namespace)
        return
    for command in ex.commands(block):
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            code = main(command.argv)
        assert code == command.exit_code, (
            f"{block.where}: `flowerkit {' '.join(command.argv)}` exited {code}, "
            f"the page says {command.exit_code}:\n{out.getvalue()[-3000:]}"
        )


def _run_page(page: Path, folder: Path, *, slow: bool) -> int:
    namespace: dict[str, Any] = {"__name__": "__docs__"}
    ran = 0
    with _inside(folder, slow=slow):
        for block in ex.blocks(page):
            if block.marker and block.marker.startswith("tested:"):
                continue
            if block.slow and not slow:
                continue
            try:
                _run_block(block, namespace)
            except Exception as exc:
                raise AssertionError(f"the example at {block.where} failed: {exc!r}") from exc
            ran += 1
    return ran


def _pages(*, slow: bool) -> list[Path]:
    found = []
    for page in ex.pages():
        runnable = [b for b in ex.blocks(page) if not (b.marker or "").startswith("tested:")]
        if (slow and any(b.slow for b in runnable)) or (
            not slow and any(not b.slow for b in runnable)
        ):
            found.append(page)
    return found


def _id(page: Path) -> str:
    return page.name


# ----------------------------------------------------------------------------- finding
def test_every_code_block_is_found_and_tested_examples_have_a_test() -> None:
    tests = "".join(p.read_text(encoding="utf-8") for p in Path(__file__).parent.glob("test_*.py"))
    for page in ex.pages():
        assert not ex.unparsed_blocks(page), f"{page.name}: malformed code blocks at lines " + str(
            ex.unparsed_blocks(page)
        )
        for block in ex.blocks(page):
            assert block.code.strip(), f"{block.where}: an empty example"
            if block.marker and block.marker.startswith("tested:"):
                name = block.marker.removeprefix("tested:")
                assert f'"{name}"' in tests or f"tested-example: {name}" in tests, (
                    f"{block.where} is marked tested-example {name!r} but no test runs it"
                )
            if block.language == "console":
                assert ex.commands(block), f"{block.where}: a console block with no $ flowerkit"


def test_the_finder_reads_markers_options_and_console_lines(tmp_path: Path) -> None:
    page = tmp_path / "page.rst"
    page.write_text(
        "Intro.\n\n"
        ".. code-block:: python\n   :caption: one\n\n   x = 1\n\n   y = x + 1\n\nText.\n\n"
        ".. example: slow\n\n.. code-block:: python\n\n    z = 3\n\n"
        ".. code-block:: console\n\n    $ pip install .\n    $ flowerkit check photos \\\n"
        "        --json  # exits 1\n    {}\n"
    )
    found = ex.blocks(page)
    assert [b.language for b in found] == ["python", "python", "console"]
    assert found[0].code == "x = 1\n\ny = x + 1\n" and found[0].line == 6
    assert found[1].slow and not found[0].slow
    assert ex.commands(found[2]) == [ex.Command(["check", "photos", "--json"], 1)]


# ----------------------------------------------------------------------------- pages
@pytest.mark.parametrize("page", _pages(slow=False), ids=_id)
def test_page_examples_run(page: Path, example_source: Path, tmp_path: Path) -> None:
    folder = tmp_path / "work"
    shutil.copytree(example_source, folder)
    assert _run_page(page, folder, slow=False) > 0


@pytest.mark.slow
@pytest.mark.timeout(3600)  # the tutorial page trains 25 epochs on flower_photos
@pytest.mark.parametrize("page", _pages(slow=True), ids=_id)
def test_page_examples_run_with_real_data(page: Path, example_source: Path, tmp_path: Path) -> None:
    if not FLOWERS.is_dir():
        pytest.skip("flower_photos not present")
    folder = tmp_path / "work"
    shutil.copytree(example_source, folder)
    assert _run_page(page, folder, slow=True) > 0


# ----------------------------------------------------------------------------- doctests
def _doctests() -> list[doctest.DocTest]:
    finder = doctest.DocTestFinder(exclude_empty=True)
    found: dict[tuple[str | None, int | str], doctest.DocTest] = {}
    for name in _public_modules():
        module = importlib.import_module(name)
        for test in finder.find(module):
            if test.examples:
                found.setdefault((test.filename, test.lineno or test.name), test)
    # Names whose home is ``flowerkit`` itself load lazily: the module walk cannot see them.
    for name in flowerkit.__all__:
        obj = getattr(flowerkit, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            for test in finder.find(obj, f"flowerkit.{name}", module=inspect.getmodule(obj)):
                if test.examples:
                    found.setdefault((test.filename, test.lineno or test.name), test)
    return sorted(found.values(), key=lambda t: t.name)


@pytest.fixture(scope="module")
def doctest_folder(example_source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example folder plus ``flowers.keras`` (trained) and ``flowers.tflite``."""
    import flowerkit as fk

    folder = tmp_path_factory.mktemp("doctests") / "work"
    shutil.copytree(example_source, folder)
    data = fk.load_datasets(folder / "photos", image_size=64, batch_size=8, seed=1)
    clf = fk.Classifier.from_preset("tutorial", class_names=data.class_names, image_size=64, seed=1)
    clf.fit(data, epochs=3, verbose=0)
    clf.save(folder / "flowers.keras")
    with contextlib.suppress(ImportError):
        clf.export(folder / "flowers.tflite", "tflite", representative_data=data)
    return folder


@pytest.mark.parametrize("test", _doctests(), ids=lambda t: t.name)
def test_docstring_examples_run(
    test: doctest.DocTest, doctest_folder: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "work"
    shutil.copytree(doctest_folder, folder)
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    out = io.StringIO()
    test.globs = dict(test.globs)
    with _inside(folder, slow=False):
        result = runner.run(test, out=out.write)
    assert result.failed == 0, out.getvalue()


# ----------------------------------------------------------------------------- API coverage
def _public_objects() -> list[tuple[str, Any]]:
    seen: dict[int, tuple[str, Any]] = {}
    for namespace in PUBLIC_NAMESPACES:
        module = importlib.import_module(namespace)
        for name in module.__all__:
            obj = getattr(module, name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue  # constants are documented with #: comments
            if inspect.isclass(obj) and issubclass(obj, (BaseException, Warning)):
                continue  # the exceptions and warnings: troubleshooting.rst
            seen.setdefault(id(obj), (f"{obj.__module__}.{obj.__qualname__}", obj))
    # The Classifier's methods are where most programs start: they count as public names.
    for attribute, value in vars(flowerkit.Classifier).items():
        method = getattr(value, "__func__", value)
        if not attribute.startswith("_") and inspect.isfunction(method):
            seen.setdefault(id(method), (f"flowerkit.classifier.{method.__qualname__}", method))
    return sorted(seen.values(), key=lambda item: item[0])


def _parameters(obj: Any) -> list[str]:
    target = obj.__init__ if inspect.isclass(obj) else obj
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return []
    return [
        p.name
        for p in signature.parameters.values()
        if p.name not in {"self", "cls"}
        and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]


@pytest.mark.parametrize(("name", "obj"), _public_objects(), ids=[n for n, _ in _public_objects()])
def test_public_name_documents_its_arguments_and_has_an_example(name: str, obj: Any) -> None:
    doc = inspect.getdoc(obj) or ""
    assert doc, f"{name} has no docstring"
    assert ">>> " in doc, f"{name}: its docstring has no example (a >>> doctest)"
    if inspect.isclass(obj) and obj.__init__ is object.__init__:
        return
    documented = doc + "\n" + (inspect.getdoc(obj.__init__) or "" if inspect.isclass(obj) else "")
    missing = [p for p in _parameters(obj) if p not in documented]
    assert not missing, f"{name}: the docstring does not describe {missing}"
