"""Rebuild the demo sample that ships inside the package (src/flowerkit/data/_sample).

Takes every N-th photo (sorted by name) of each class of the tutorial's flower_photos,
downscales it to at most 160 px on the long side and writes JPEG quality 85, plus one
held-out photo per class for the demo's prediction. Usage:

    python scripts/make_demo_sample.py ../shared/data/flower_photos
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from PIL import Image

PER_CLASS = 24
LONG_SIDE = 160
OUT = Path(__file__).resolve().parents[1] / "src" / "flowerkit" / "data" / "_sample"


def main(source: Path) -> None:
    if OUT.exists():
        shutil.rmtree(OUT)
    lines = [
        "# Demo sample: attribution",
        "",
        "These photos are a downscaled sample of the TensorFlow `flower_photos` data set",
        "(the image-classification tutorial's data). All images in that data set are licensed",
        "under the Creative Commons Attribution 2.0 license",
        "(https://creativecommons.org/licenses/by/2.0/); the photographers are credited per",
        "file in the LICENSE.txt of the original archive. The file names are the photos'",
        "Flickr identifiers (the number before the first underscore). Changes made: resized",
        f"to at most {LONG_SIDE} px on the long side and re-encoded as JPEG.",
        "",
        "| file | Flickr photo id |",
        "| --- | --- |",
    ]
    for class_dir in sorted(p for p in source.iterdir() if p.is_dir()):
        files = sorted(class_dir.glob("*.jpg"))
        step = len(files) // (PER_CLASS + 1)
        chosen = files[::step][: PER_CLASS + 1]
        for i, src in enumerate(chosen):
            held_out = i == PER_CLASS
            dest_dir = OUT / ("heldout" if held_out else f"flowers/{class_dir.name}")
            dest_dir.mkdir(parents=True, exist_ok=True)
            name = f"{class_dir.name}_{src.name}" if held_out else src.name
            with Image.open(src) as im:
                im = im.convert("RGB")
                im.thumbnail((LONG_SIDE, LONG_SIDE), Image.Resampling.LANCZOS)
                im.save(dest_dir / name, quality=85, optimize=True)
            rel = (dest_dir / name).relative_to(OUT).as_posix()
            lines.append(f"| {rel} | {src.name.split('_')[0]} |")
    (OUT / "ATTRIBUTION.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
