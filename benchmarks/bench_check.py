"""Time ``flowerkit.check_images`` on a real folder: cold vs warm cache, threads vs processes.

Usage::

    python benchmarks/bench_check.py [DATA_DIR] [--workers N]

``DATA_DIR`` defaults to ``../shared/data/flower_photos`` (3,670 JPEGs). Every "cold" run
uses a fresh, empty check cache in a temporary folder (never the user's cache); the files
are read once beforehand so that every run finds them in the OS page cache and the runs
compare decoding, not the disk. "warm" is a run on the same cache again (the median of
three). Beside them,
the raw decode limit (issue 31's yardstick): the same files read, decoded and resized to
180x180 by ``tf.io`` in a ``tf.data`` map on the same number of threads, with no check,
measured before and after the checks (the median of those runs); "of limit" is a check's
files per second over it. The script also prints the duplicate files and label conflicts
the check found.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import flowerkit.data.checking as checking
from flowerkit.core.runtime import available_cores
from flowerkit.data._probe import Probe

Pool = Literal["thread", "process"]

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "flower_photos"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _read_all(root: Path) -> int:
    total = 0
    for folder, _, names in os.walk(root):
        for name in names:
            total += len((Path(folder) / name).read_bytes())
    return total


def _check(
    root: Path, workers: int, pool: Pool, cache_dir: Path
) -> tuple[float, checking.DatasetReport]:
    """One timed ``check_images`` run, decoding on a thread or a process pool."""
    original = checking._probe_all

    def probe_all(
        paths: Sequence[Path],
        n: int,
        progress: Callable[[int, int], None] | None = None,
        size: tuple[int, int] | None = None,
    ) -> list[tuple[Probe, Any]]:
        return original(paths, n, pool, progress, size)

    checking._probe_all = probe_all  # type: ignore[assignment]
    try:
        start = time.perf_counter()
        report = checking.check_images(root, workers=workers, cache=cache_dir)
        return time.perf_counter() - start, report
    finally:
        checking._probe_all = original


def _raw_limit(root: Path, workers: int) -> float:
    """Files per second of the raw decode limit: ``tf.io`` read + decode + resize to
    180x180 in a ``tf.data`` map on ``workers`` threads, as the tutorial's loader does,
    with no checking."""
    import tensorflow as tf

    files = sorted(str(p) for p in root.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))

    def load(path: tf.Tensor) -> tf.Tensor:
        raw = tf.io.read_file(path)
        image = tf.io.decode_image(raw, channels=3, expand_animations=False)
        return tf.image.resize(image, (180, 180))

    ds = tf.data.Dataset.from_tensor_slices(files).map(load, num_parallel_calls=workers)
    start = time.perf_counter()
    for _ in ds.batch(32).prefetch(2):
        pass
    return len(files) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--workers", type=int, default=available_cores())
    args = parser.parse_args()
    root: Path = args.data
    workers: int = args.workers

    size = _read_all(root)
    print(f"data: {root} ({size / 1e6:.0f} MB)")
    print(f"machine: {_cpu_model()}, {os.cpu_count()} logical CPUs, {workers} workers")
    print(f"python {platform.python_version()}, {platform.system()} {platform.release()}\n")

    limits = [_raw_limit(root, workers)]  # TensorFlow imported and warmed up first
    limits.append(_raw_limit(root, workers))
    rows: list[tuple[str, str, int, float, int]] = []
    report: checking.DatasetReport | None = None
    plans: list[tuple[Pool, int]] = [("thread", 1), ("thread", workers), ("process", workers)]
    with tempfile.TemporaryDirectory(prefix="flowerkit-bench-") as tmp:
        for i, (pool, n) in enumerate(plans):
            cache_dir = Path(tmp) / f"cache{i}"
            seconds, report = _check(root, n, pool, cache_dir)
            rows.append(("cold", pool, n, seconds, len(report.files)))
            if pool == "thread" and n == workers:  # the median of three: a GC pass is 0.15 s
                warm = [_check(root, n, pool, cache_dir) for _ in range(3)]
                seconds, report = sorted(warm, key=lambda run: run[0])[1]
                rows.append(("warm", pool, n, seconds, len(report.files)))

    limits.append(_raw_limit(root, workers))
    limit = statistics.median(limits[1:])
    print(f"{'cache':<6} {'pool':<8} {'workers':>7} {'seconds':>8} {'files/s':>8} {'of limit':>8}")
    for state, kind, n, seconds, count in rows:
        rate = count / seconds
        print(f"{state:<6} {kind:<8} {n:>7} {seconds:>8.2f} {rate:>8.0f} {rate / limit:>8.2f}")
    print(
        f"raw decode limit (tf.io decode + resize, tf.data on {workers} threads, median of "
        f"the runs before and after): {limit:.0f} files/s"
    )

    assert report is not None
    print(f"\n{report.summary()}")
    for group in report.duplicates:
        kind = "LABEL CONFLICT" if group.label_conflict else "duplicate"
        same = "same bytes" if group.same_bytes else "same pixels"
        names = ", ".join(p.relative_to(report.directory).as_posix() for p in group.paths)
        print(f"  {kind} ({same}): {names}")
    for bad in report.bad_files:
        print(f"  left out [{bad.reason}] {bad.path}")


if __name__ == "__main__":
    main()
