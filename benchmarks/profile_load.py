"""Where a cold check + load spends its time, per photo (issue 31).

Three parts, on one folder (default ``../shared/data/flower_photos``, every file read once
first so that all of it is in the OS page cache):

1. **Stages, one thread.** Each step the check takes for one photo, timed on its own for
   every photo: reading the bytes, identifying the format (Pillow's header parse), the
   decode, orientation/colour/mode handling, the pixel fingerprint, the file fingerprint,
   the resize to the model's size, and the check-cache and training-cache bookkeeping.
   Beside it, the same photo through ``tf.io.decode_jpeg`` + ``tf.image.resize`` (the
   tutorial's decode), one at a time.
2. **Threads.** ``probe_and_resize`` (the check's whole per-photo work) over all photos
   on 1 and on N threads: the speed-up shows how much of it holds the GIL.
3. **End to end.** ``check_and_decode`` with a fresh check cache, then
   ``load_datasets`` (fresh cache) to its first full pass over train and validation,
   against ``image_dataset_from_directory`` + ``cache()``'s first pass: the ratio the
   issue's goal is about.

    python benchmarks/profile_load.py
    python benchmarks/profile_load.py --limit 500 --parts stages,threads

Prints milliseconds per photo (mean over photos) and images per second.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from machine import describe

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "flower_photos"
SIZE = (180, 180)


def _files(data: Path, limit: int | None) -> list[Path]:
    found = sorted(
        p for p in data.rglob("*") if p.is_file() and p.suffix.lower() in (".jpg", ".jpeg", ".png")
    )
    for path in found:  # into the page cache
        path.read_bytes()
    return found[:limit] if limit else found


class _Clock:
    """Seconds spent per stage name, summed over photos: ``with clock("decode"): ...``."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = {}
        self._name = ""
        self._start = 0.0

    def __call__(self, name: str) -> _Clock:
        self._name = name
        return self

    def __enter__(self) -> None:
        self._start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        elapsed = time.perf_counter() - self._start
        self.spent[self._name] = self.spent.get(self._name, 0.0) + elapsed


def stages(files: Sequence[Path]) -> dict[str, float]:
    """Milliseconds per photo of each step of the check, one thread."""
    import numpy as np
    import tensorflow as tf
    from PIL import Image

    import flowerkit.images.decode as decode
    from flowerkit.data._probe import pixel_digest

    clock = _Clock()
    for path in files:
        with clock("read bytes"):
            raw = path.read_bytes()
        with clock("identify (header parse)"):
            image = Image.open(io.BytesIO(raw))
        with clock("decode (libjpeg)"):
            image.load()
        with clock("orientation, colour, mode"):
            rgb = decode._finish(image, decode._orientation(image))
        with clock("pixel fingerprint"):
            pixel_digest(rgb)
        with clock("file fingerprint"):
            hashlib.sha256(raw).hexdigest()
        with clock("resize (anti-aliased)"):
            decode.resize_decoded(rgb, SIZE)
        with clock("resize, reducing_gap=2"):
            np.asarray(rgb.resize(SIZE[::-1], decode._RESAMPLE, reducing_gap=2.0))
        with clock("load_image (the library call)"):
            decode.load_image(path, SIZE)
        with clock("tf.io decode + resize"):
            tf.image.resize(tf.io.decode_jpeg(tf.io.read_file(str(path))), SIZE).numpy()
    return {k: 1000 * v / len(files) for k, v in clock.spent.items()}


def threads(files: Sequence[Path], workers: int) -> dict[str, float]:
    """Images per second of the check's per-photo work on 1 and ``workers`` threads."""
    from functools import partial

    from flowerkit.data._probe import probe_and_resize

    work = partial(probe_and_resize, size=SIZE)
    rates = {}
    for n in sorted({1, workers}):
        start = time.perf_counter()
        with ThreadPoolExecutor(n) as pool:
            for _ in pool.map(work, files):
                pass
        rates[f"probe_and_resize, {n} thread(s)"] = len(files) / (time.perf_counter() - start)
    return rates


def end_to_end(data: Path, count: int) -> dict[str, float]:
    """Images per second: the check alone, load_datasets' first pass, the tutorial's."""
    import keras

    import flowerkit as fk
    from flowerkit.data.checking import check_and_decode

    rates = {}
    with tempfile.TemporaryDirectory() as cache:
        os.environ["FLOWERKIT_CACHE_DIR"] = cache
        start = time.perf_counter()
        check_and_decode(data, image_size=SIZE)
        rates["check_and_decode (fresh check cache)"] = count / (time.perf_counter() - start)
    with tempfile.TemporaryDirectory() as cache:
        os.environ["FLOWERKIT_CACHE_DIR"] = cache
        start = time.perf_counter()
        data_sets = fk.load_datasets(data, seed=123)
        for split in (data_sets.train, data_sets.validation):
            for _ in split:
                pass
        rates["load_datasets, first pass (fresh caches)"] = count / (time.perf_counter() - start)
        start = time.perf_counter()
        fk.load_datasets(data, seed=123)
        rates["load_datasets, check cache warm"] = count / (time.perf_counter() - start)
    start = time.perf_counter()
    train, val = keras.utils.image_dataset_from_directory(
        data, validation_split=0.2, subset="both", seed=123, image_size=SIZE, batch_size=32
    )
    for split in (train.cache(), val.cache()):
        for _ in split:
            pass
    rates["tutorial: image_dataset_from_directory + cache(), first pass"] = count / (
        time.perf_counter() - start
    )
    return rates


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--limit", type=int, help="only the first N photos (parts 1 and 2)")
    parser.add_argument("--parts", default="stages,threads,end_to_end")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    parts = args.parts.split(",")
    every = _files(args.data, None)
    files = every[: args.limit] if args.limit else every
    print(describe())
    print(f"Data: {args.data} ({len(every)} files; {len(files)} in parts 1-2), at {SIZE}\n")
    if "stages" in parts:
        spent = stages(files)
        print("Stage (one thread)                      ms/photo")
        for name, ms in spent.items():
            print(f"  {name:<38}{ms:8.3f}")
        print()
    if "threads" in parts:
        for name, rate in threads(files, args.workers).items():
            print(f"  {name:<56}{rate:8.0f} img/s")
        print()
    if "end_to_end" in parts:
        rates = end_to_end(args.data, len(every))
        for name, rate in rates.items():
            print(f"  {name:<62}{rate:8.0f} img/s")
        tutorial = rates["tutorial: image_dataset_from_directory + cache(), first pass"]
        cold = rates["load_datasets, first pass (fresh caches)"]
        print(f"  ratio cold load_datasets / tutorial: {cold / tutorial:.2f}x")


if __name__ == "__main__":
    main()
