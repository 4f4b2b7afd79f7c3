"""DCT-scaled JPEG decoding: how far its pixels are from a full decode, and whether the
model notices.

flowerkit decodes a JPEG that is at least 4 times the target size on both sides at 1/2,
1/4 or 1/8 scale (libjpeg's DCT scaling, through Pillow's ``draft``), keeping at least twice
the target, then resizes (``flowerkit/images/decode.py``, rule 7). Few flower_photos are
that large for the tutorial's 180x180, so this script works at ``--size`` (64) where most
are:

* **pixels**: for every photo the rule applies to, the mean and largest absolute
  difference (levels of 255) between ``load_image(path, size)`` and a full decode resized
  the same way, and the time of each;
* **accuracy**: the ``tutorial`` preset trained for ``--epochs`` (10) at that size with the
  tutorial's split, once with DCT scaling and once without (same seed, each in its own
  process), each evaluated on the validation photos decoded both ways.

    python benchmarks/bench_dct.py
    python benchmarks/bench_dct.py --size 90 --epochs 5
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from child import run_child
from machine import describe

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "flower_photos"

_CHILD = r"""
import json, os, sys, tempfile
import numpy as np
import flowerkit as fk
import flowerkit.images.decode as decode
mode, data, size, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
FULL = 10**9  # a reducing gap no image reaches: every JPEG decoded in full
GAP = decode.DCT_REDUCING_GAP
decode.DCT_REDUCING_GAP = GAP if mode == "dct" else FULL
os.environ["FLOWERKIT_CACHE_DIR"] = tempfile.mkdtemp()
ds = fk.load_datasets(data, image_size=size, split="keras", seed=123)
clf = fk.Classifier.from_preset("tutorial", class_names=ds.class_names, image_size=size,
                                seed=1)
clf.fit(ds, epochs=epochs, verbose=0)
out = {}
for name, gap in (("dct", GAP), ("full", FULL)):
    decode.DCT_REDUCING_GAP = gap
    val = fk.image_dataset(list(ds.validation_files), list(ds.validation_labels),
                           image_size=size, cache=False)
    labels = np.concatenate([y.numpy() for _, y in val])
    probs = clf.model.predict(val, verbose=0)
    out[name] = float(np.mean(np.argmax(probs, axis=1) == labels))
print("RESULT " + json.dumps(out))
"""


def _pixels(data: Path, size: int) -> dict[str, Any]:
    import time

    import numpy as np

    from flowerkit.images import dct_scaled, decode_image, load_image, resize_decoded

    means, worst, fast_s, full_s, n = [], 0, 0.0, 0.0, 0
    for path in sorted(data.rglob("*.jpg")):
        upright = decode_image(path)
        if not dct_scaled(upright.width, upright.height, (size, size)):
            continue
        n += 1
        start = time.perf_counter()
        fast = load_image(path, (size, size)).astype(np.int16)
        fast_s += time.perf_counter() - start
        start = time.perf_counter()
        full = resize_decoded(decode_image(path), (size, size)).astype(np.int16)
        full_s += time.perf_counter() - start
        diff = np.abs(fast - full)
        means.append(float(diff.mean()))
        worst = max(worst, int(diff.max()))
    return {
        "photos": n,
        "mean_abs_diff": round(float(np.mean(means)), 3) if means else None,
        "worst_photo_mean_abs_diff": round(max(means), 3) if means else None,
        "largest_pixel_diff": worst,
        "speedup": round(full_s / fast_s, 2) if fast_s else None,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args(argv)

    results: dict[str, Any] = {"machine": describe(), "size": args.size, "epochs": args.epochs}
    results["pixels"] = _pixels(args.data, args.size)
    print("pixels", results["pixels"], flush=True)
    for mode in ("dct", "full"):
        result = run_child(_CHILD, mode, str(args.data), str(args.size), str(args.epochs))
        results[f"trained_{mode}"] = {f"evaluated_{k}": round(v, 4) for k, v in result.items()}
        print(f"trained_{mode}", results[f"trained_{mode}"], flush=True)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
