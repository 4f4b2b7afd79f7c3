"""Find the code examples in the documentation, and the folder they run in.

The docs' examples are executed by ``tests/test_docs.py`` so they cannot drift from the
code. Where they are:

* ``.. code-block:: python`` blocks in ``docs/*.rst`` and fenced ``python`` blocks in
  ``README.md``. The blocks of one page run in order, in one namespace, in a fresh
  :func:`example folder <make_example_folder>`: a page may build on its earlier blocks.
* ``.. code-block:: console`` blocks: each ``$ flowerkit ...`` line runs in-process
  through :func:`flowerkit.cli.main`, in the same folder, in page order; it must exit 0
  unless the line ends with ``# exits N``. Other shell lines (``pip``, ``git``...) are not
  run: the CI scripts run the install.
* ``>>>`` doctests in the docstrings of the public names (the API reference), run with
  ELLIPSIS and NORMALIZE_WHITESPACE in an example folder that also holds a trained
  ``flowers.keras`` and its ``flowers.tflite``.

A reST comment right above a block changes how it runs:

* ``.. example: slow``: it needs real data (``flower_photos``), the ImageNet weights or
  minutes of CPU; it runs only under ``pytest -m slow`` (a page's fast run skips it, so
  the fast blocks after it must not depend on it).
* ``.. tested-example: NAME``: a dedicated test runs it with its own assertions (the name
  must appear in a test file).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SHARED = ROOT.parent / "shared"

#: The example folder's classes and their colours (an easy problem that trains in seconds).
CLASSES: dict[str, tuple[int, int, int]] = {
    "daisy": (235, 230, 200),
    "roses": (200, 30, 50),
    "tulips": (240, 140, 30),
}
PER_CLASS = 12

_BLOCK = re.compile(
    r"(?:^\.\. (?P<marker>example: slow|tested-example: [\w-]+)[ \t]*\n\n)?"
    r"^\.\. code-block:: (?P<language>python|console)[ \t]*\n"
    r"(?:^[ \t]+:[\w-]+:.*\n)*"  # options such as :caption:
    r"\n(?P<body>(?:^(?:[ \t]+.*)?\n)+)",
    re.MULTILINE,
)
_FENCE = re.compile(r"^```python\n(?P<body>.*?)^```", re.MULTILINE | re.DOTALL)
_EXITS = re.compile(r"#\s*exits\s+(\d+)\s*$")


@dataclass(frozen=True)
class Block:
    """One example: where it is, its language, its marker and its dedented code."""

    path: Path
    line: int
    language: str  # "python" or "console"
    marker: str | None  # None, "slow" or "tested:NAME"
    code: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    @property
    def slow(self) -> bool:
        return self.marker == "slow"


@dataclass(frozen=True)
class Command:
    """One ``$ flowerkit ...`` line of a console block: its arguments and exit code."""

    argv: list[str]
    exit_code: int


def _dedent(body: str) -> str:
    lines = body.rstrip("\n").split("\n")
    indent = min(len(x) - len(x.lstrip()) for x in lines if x.strip())
    return "\n".join(x[indent:] for x in lines) + "\n"


def blocks(path: Path) -> list[Block]:
    """The examples of one page, in page order."""
    text = path.read_text(encoding="utf-8")
    found: list[Block] = []
    if path.suffix == ".md":
        for match in _FENCE.finditer(text):
            line = text.count("\n", 0, match.start()) + 2
            found.append(Block(path, line, "python", None, match.group("body")))
        return found
    for match in _BLOCK.finditer(text):
        marker = match.group("marker")
        if marker and marker.startswith("tested-example: "):
            marker = "tested:" + marker.removeprefix("tested-example: ")
        elif marker:
            marker = "slow"
        line = text.count("\n", 0, match.start("body")) + 1
        code = _dedent(match.group("body"))
        found.append(Block(path, line, match.group("language"), marker, code))
    return found


def unparsed_blocks(path: Path) -> list[int]:
    """Lines of python/console code blocks the pattern missed (a malformed block)."""
    text = path.read_text(encoding="utf-8")
    starts = {
        text.count("\n", 0, m.start()) + 1
        for m in re.finditer(r"^\.\. code-block:: (?:python|console)", text, re.MULTILINE)
    }
    parsed = {text.count("\n", 0, m.start("language")) + 1 for m in _BLOCK.finditer(text)}
    return sorted(starts - parsed)


def commands(block: Block) -> list[Command]:
    """The ``$ flowerkit`` lines of a console block (continuation lines joined)."""
    found: list[Command] = []
    lines = iter(block.code.splitlines())
    for line in lines:
        if not line.startswith("$ "):
            continue
        while line.endswith("\\"):
            line = line[:-1] + " " + next(lines, "").strip()
        exits = _EXITS.search(line)
        argv = shlex.split(line[2:], comments=True)
        if argv and argv[0] == "flowerkit":
            found.append(Command(argv[1:], int(exits.group(1)) if exits else 0))
    return found


def pages() -> list[Path]:
    """Every page with examples: the docs' reST pages and the README."""
    return [*sorted(DOCS.glob("*.rst")), ROOT / "README.md"]


def write_photo(path: Path, colour: tuple[int, int, int], *, seed: int) -> Path:
    """A noisy 64x48 JPEG of ``colour``."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(-30, 31, size=(48, 64, 3))
    pixels = np.clip(np.array(colour)[None, None, :] + noise, 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, quality=90)
    return path


def make_example_folder(root: Path) -> Path:
    """The folder the docs' examples assume: ``photos/<class>/*.jpg`` (3 classes x 12),
    ``new_photos/`` (one photo per class) and ``my_rose.jpg``."""
    for c, (name, colour) in enumerate(CLASSES.items()):
        for i in range(PER_CLASS):
            write_photo(root / "photos" / name / f"{name}_{i:02d}.jpg", colour, seed=100 * c + i)
        write_photo(root / "new_photos" / f"new_{name}.jpg", colour, seed=5000 + c)
    write_photo(root / "my_rose.jpg", CLASSES["roses"], seed=9999)
    return root


def example_block(page: str, name: str) -> str:
    """The code block under ``.. tested-example: NAME`` in ``docs/PAGE``, dedented."""
    import textwrap

    text = (DOCS / page).read_text(encoding="utf-8")
    pattern = rf"\.\. tested-example: {name}\n\n\.\. code-block:: python\n\n((?:    .*\n|\n)+)"
    match = re.search(pattern, text)
    assert match, f"docs/{page} lost its tested example {name!r}"
    return textwrap.dedent(match.group(1))
