"""Peak memory of ``Classifier.predict`` on a folder: flat in the number of photos.

Writes ``--count`` synthetic 320x240 JPEGs into a temporary folder (never committed), then,
in one fresh process per size, predicts the first 1,000 and all of them with the tutorial
preset's network and reports the process's peak RSS and images per second. The goal
(issue 14): peak RSS at 10,000 photos within 10% of that at 1,000.

    python benchmarks/bench_predict_memory.py              # 1,000 and 10,000 photos
    python benchmarks/bench_predict_memory.py --count 3000
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Sequence
from pathlib import Path

from child import run_child
from machine import describe

_CHILD = r"""
import json, resource, sys, time
from pathlib import Path
import flowerkit as fk

folder, count = Path(sys.argv[1]), int(sys.argv[2])
files = sorted(folder.glob("*.jpg"))[:count]
clf = fk.Classifier(fk.build_model(5, preset="tutorial", seed=1), list("abcde"), trained=True)
clf.predict(files[:32])  # warm up: trace, thread pool
start = time.perf_counter()
preds = clf.predict(files)
seconds = time.perf_counter() - start
assert [p.source for p in preds] == [str(f) for f in files]
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB on Linux
print("RESULT " + json.dumps({"photos": count, "peak_rss_mib": round(peak, 1),
                               "images_per_s": round(count / seconds, 1)}))
"""


def _write_photos(folder: Path, count: int) -> None:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, size=(240, 320, 3), dtype=np.uint8)
    for i in range(count):
        pixels = np.roll(base, i % 320, axis=1)
        Image.fromarray(pixels).save(folder / f"photo_{i:06d}.jpg", quality=85)


def _run(folder: Path, count: int) -> dict[str, float]:
    return run_child(_CHILD, str(folder), str(count))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--count", type=int, default=10_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="flowerkit-predict-") as tmp:
        folder = Path(tmp)
        _write_photos(folder, args.count)
        small, large = _run(folder, min(1_000, args.count)), _run(folder, args.count)
    ratio = large["peak_rss_mib"] / small["peak_rss_mib"]
    print(json.dumps({"machine": describe(), "small": small, "large": large,
                      "rss_ratio": round(ratio, 3)}, indent=2))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
