"""Check what ``python -m build`` made, before anyone installs it.

    python scripts/check_dist.py dist/

The wheel must hold the package with its ``py.typed`` marker, the demo sample and its
attribution, and the command-line entry point; it must not hold tests, benchmarks, docs,
caches or compiled files. The sdist must hold the sources, the tests and the docs (so the
tests can run from it). Exits 1 with one line per problem.
"""

from __future__ import annotations

import sys
import tarfile
import zipfile
from pathlib import Path

REQUIRED_IN_WHEEL = (
    "flowerkit/__init__.py",
    "flowerkit/py.typed",
    "flowerkit/data/_sample/ATTRIBUTION.md",
)
SAMPLE_PREFIXES = ("flowerkit/data/_sample/flowers/", "flowerkit/data/_sample/heldout/")
FORBIDDEN_PARTS = ("tests/", "benchmarks/", "docs/", "__pycache__/", ".mypy_cache/", ".ci")
FORBIDDEN_SUFFIXES = (".pyc", ".pyo", ".keras", ".npy")
REQUIRED_IN_SDIST = ("src/flowerkit/__init__.py", "tests/conftest.py", "docs/conf.py")


def check_wheel(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as wheel:
        names = wheel.namelist()
        entry_points = next((n for n in names if n.endswith(".dist-info/entry_points.txt")), None)
        scripts = wheel.read(entry_points).decode() if entry_points else ""
    problems = [
        f"{path.name}: {name} is missing" for name in REQUIRED_IN_WHEEL if name not in names
    ]
    for prefix in SAMPLE_PREFIXES:
        if not any(n.startswith(prefix) and n.endswith(".jpg") for n in names):
            problems.append(f"{path.name}: no demo photos under {prefix}")
    for name in names:
        if any(part in name for part in FORBIDDEN_PARTS) or name.endswith(FORBIDDEN_SUFFIXES):
            problems.append(f"{path.name}: {name} does not belong in a wheel")
    if "flowerkit = flowerkit.cli:main" not in scripts:
        problems.append(f"{path.name}: the flowerkit command is not declared")
    return problems


def check_sdist(path: Path) -> list[str]:
    with tarfile.open(path) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    return [f"{path.name}: {name} is missing" for name in REQUIRED_IN_SDIST if name not in names]


def main(argv: list[str]) -> int:
    folder = Path(argv[0] if argv else "dist")
    wheels, sdists = sorted(folder.glob("*.whl")), sorted(folder.glob("*.tar.gz"))
    problems = [] if len(wheels) == len(sdists) == 1 else [f"{folder}: want 1 wheel + 1 sdist"]
    for wheel in wheels:
        problems += check_wheel(wheel)
    for sdist in sdists:
        problems += check_sdist(sdist)
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"dist ok: {', '.join(p.name for p in (*wheels, *sdists))}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
