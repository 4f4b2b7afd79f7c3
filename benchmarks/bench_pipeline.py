"""Input pipeline speed: ``load_datasets`` against the tutorial's pipeline, and the raw limit.

Each leg runs in its own process, one after the other, on the same folder (default
``../shared/data/flower_photos``):

* **tutorial**: ``keras.utils.image_dataset_from_directory(subset="both", seed=123)`` at
  180x180, batch 32, then ``.cache().shuffle(1000).prefetch(AUTOTUNE)``;
* **flowerkit**: ``load_datasets(folder)`` with its defaults (180x180, batch 32, an empty
  check cache in a temporary folder), so the check of every file is included;
* **flowerkit_warm_check**: the same after ``check_images(folder)`` filled the check cache
  (untimed), as on a second run: the check reads its cache, the photos are decoded again;
* **raw limits**, no training and no checking: ``flowerkit.images.load_image`` (decode +
  resize) on a thread per core, and ``tf.io.decode_jpeg`` + ``tf.image.resize`` in a
  parallel ``tf.data`` map.

For each: the first epoch over train + validation from the call that builds the pipeline
("cold"), then a second epoch from the cache, in images per second, and the bytes of the
decoded cache. "cold" means the OS page cache is dropped before every leg when the script
may (``/proc/sys/vm/drop_caches``, as root); otherwise every file is read once before every
leg so that all legs start from the page cache; the output says which.

    python benchmarks/bench_pipeline.py
    python benchmarks/bench_pipeline.py --data ../shared/data/clothing --warm
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from child import run_child
from machine import describe

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "flower_photos"

_CHILD = r"""
import json, os, sys, tempfile, time
leg, data = sys.argv[1], sys.argv[2]
files = sorted(str(p) for p in __import__("pathlib").Path(data).rglob("*") if p.is_file()
               and p.suffix.lower() in (".jpg", ".jpeg", ".png"))
out = {}
if leg == "tutorial":
    import keras, tensorflow as tf
    start = time.perf_counter()
    train, val = keras.utils.image_dataset_from_directory(
        data, validation_split=0.2, subset="both", seed=123, image_size=(180, 180),
        batch_size=32, verbose=False)
    train = train.cache().shuffle(1000).prefetch(tf.data.AUTOTUNE)
    val = val.cache().prefetch(tf.data.AUTOTUNE)
    pipes = (train, val)
    bytes_per_image = 180 * 180 * 3 * 4
elif leg in ("flowerkit", "flowerkit_warm_check"):
    os.environ["FLOWERKIT_CACHE_DIR"] = tempfile.mkdtemp()
    import flowerkit as fk
    import tensorflow as tf
    if leg == "flowerkit_warm_check":  # the check's results cached, as on a second run
        fk.check_images(data)
    start = time.perf_counter()
    data_ = fk.load_datasets(data)
    out["check_s"] = time.perf_counter() - start
    pipes = (data_.train, data_.validation)
    bytes_per_image = 180 * 180 * 3
elif leg == "raw_pillow":
    from concurrent.futures import ThreadPoolExecutor
    from flowerkit.images import load_image
    from flowerkit.core.runtime import available_cores
    start = time.perf_counter()
    with ThreadPoolExecutor(available_cores()) as pool:
        n = sum(1 for _ in pool.map(lambda p: load_image(p, (180, 180)), files))
    out["cold"] = n / (time.perf_counter() - start)
elif leg == "raw_tf":
    import tensorflow as tf
    def load(path):
        image = tf.io.decode_jpeg(tf.io.read_file(path), channels=3)
        return tf.cast(tf.image.resize(image, (180, 180)), tf.uint8)
    start = time.perf_counter()
    ds = tf.data.Dataset.from_tensor_slices(files).map(load, num_parallel_calls=tf.data.AUTOTUNE)
    n = sum(int(b.shape[0]) for b in ds.batch(32).prefetch(tf.data.AUTOTUNE))
    out["cold"] = n / (time.perf_counter() - start)
if leg in ("tutorial", "flowerkit", "flowerkit_warm_check"):
    def epoch():
        return sum(int(images.shape[0]) for pipe in pipes for images, _ in pipe)
    n = epoch()
    out["cold"] = n / (time.perf_counter() - start)
    start = time.perf_counter()
    epoch()
    out["cached"] = n / (time.perf_counter() - start)
    out["cache_bytes"] = n * bytes_per_image
out["images"] = n
import resource
out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print("RESULT " + json.dumps(out))
"""

LEGS = ("tutorial", "flowerkit", "flowerkit_warm_check", "raw_pillow", "raw_tf")


def _drop_page_cache() -> bool:
    try:
        subprocess.run(["sync"], check=True)
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError:
        return False
    return True


def _read_all(root: Path) -> None:
    for folder, _, names in os.walk(root):
        for name in names:
            (Path(folder) / name).read_bytes()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--warm", action="store_true", help="never drop the page cache")
    parser.add_argument("--legs", default=",".join(LEGS))
    args = parser.parse_args(argv)

    results: dict[str, Any] = {"machine": describe(), "data": str(args.data)}
    mode = "page cache"
    for leg in args.legs.split(","):
        if not args.warm and _drop_page_cache():
            mode = "cold (page cache dropped before each leg)"
        else:
            _read_all(args.data)
        result = run_child(_CHILD, leg, str(args.data))
        results[leg] = {k: round(v, 1) if isinstance(v, float) else v for k, v in result.items()}
        print(leg, results[leg], flush=True)
    results["start"] = mode
    if "tutorial" in results and "flowerkit" in results:
        fk, tu = results["flowerkit"], results["tutorial"]
        results["ratios"] = {
            "cold": round(fk["cold"] / tu["cold"], 2),
            "cached": round(fk["cached"] / tu["cached"], 2),
            "cache_bytes": round(fk["cache_bytes"] / tu["cache_bytes"], 2),
        }
        if "flowerkit_warm_check" in results:
            warm = results["flowerkit_warm_check"]["cold"]
            results["ratios"]["cold_warm_check"] = round(warm / tu["cold"], 2)
        raw = max(results.get(k, {}).get("cold", 0.0) for k in ("raw_pillow", "raw_tf"))
        if raw:
            results["ratios"]["cold_vs_raw_limit"] = round(fk["cold"] / raw, 2)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
