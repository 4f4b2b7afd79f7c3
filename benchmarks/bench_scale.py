"""Scale of data: ``check_images`` and ``load_datasets`` time and peak memory per file.

Issue 14, item 4: on 10,000, 30,000 and 100,000 files, wall time and peak RSS of
``flowerkit.check_images`` and ``flowerkit.load_datasets`` must grow linearly with the
number of files. The script writes ``max(--sizes)`` small synthetic JPEGs once
(``--image`` pixels square, quality 90, random colour cells plus the file's index drawn as
black and white cells, so every file decodes to different pixels and the duplicate check
finds nothing) into ``<work>/data_<N>/<class>/<i>.jpg``, ``--classes`` classes in turn;
each smaller data set is a folder of hard links to the first ``N`` of them, so generation
is paid once and every set is read from the same files in the OS page cache.

Each size is measured in two fresh child processes (``flowerkit`` and ``tensorflow``
imported before any timer; ``FLOWERKIT_CACHE_DIR`` points into the work folder):

* ``check``: ``check_images(folder, cache=<empty folder>)`` (cold check cache), then the
  same call again on that cache (warm);
* ``load``: ``load_datasets(folder, image_size=--image, batch_size=256,
  check_cache=<empty folder>)`` (default ``cache="auto"``: the decoded images are kept in
  memory), then one full pass over ``data.train`` and ``data.validation``.

For each child it reports the RSS right after the imports (``VmRSS``) and the peak RSS
(``ru_maxrss``), so the growth above the import baseline is visible. The table gives every
figure with its cost per file (microseconds, KiB of peak RSS above the baseline) and the
marginal cost per file between consecutive sizes (which leaves out fixed costs such as
thread start-up); "ratio" is the per-file cost at the largest size over the smallest
(about 1, or below 1 as fixed costs are spread over more files, when growth is linear).
The whole record, with the machine, is printed as JSON and written to
``benchmarks/out/scale-<UTC time>.json`` (git-ignored).

    python benchmarks/bench_scale.py                        # 10,000 / 30,000 / 100,000 files
    python benchmarks/bench_scale.py --sizes 300,600,1200   # smoke test, about 40 s
    python benchmarks/bench_scale.py --work /tmp/scale --keep   # keep the files for a rerun

Options: ``--classes N`` (10), ``--image PIXELS`` (32), ``--jobs N`` (processes writing
the files, 2), ``--work DIR`` (default: a temporary folder, removed at the end),
``--keep`` (keep the files), ``--out DIR`` (where the JSON goes; ``--out ''``: nowhere).
Files already in a ``--work`` folder are reused, not written again (only when they were
written with the same ``--classes`` and ``--image``); without ``--keep`` only the folders
this run used are removed from it. Writing 100,000 files takes about a minute (file
creation is most of it). Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from child import run_child
from machine import describe

ROOT = Path(__file__).resolve().parents[1]

#: Images per batch of the ``load_datasets`` pipelines.
BATCH_SIZE = 256

#: Files per generation task.
_CHUNK = 2_000

_CHILD = r"""
import json, resource, sys, tempfile, time
import flowerkit as fk
import tensorflow as tf


def rss_kib():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def peak_kib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


mode, folder, tmp, image, batch = sys.argv[1:6]
out = {"import_rss_kib": rss_kib(), "import_peak_kib": peak_kib()}
if mode == "check":
    cache = tempfile.mkdtemp(prefix="check-", dir=tmp)
    start = time.perf_counter()
    report = fk.check_images(folder, cache=cache)
    out["cold_s"] = time.perf_counter() - start
    out["cold_peak_kib"] = peak_kib()
    start = time.perf_counter()
    again = fk.check_images(folder, cache=cache)
    out["warm_s"] = time.perf_counter() - start
    out.update(files=len(report.files), bad_files=len(report.bad_files),
               duplicates=len(report.duplicates), warm_files=len(again.files))
else:
    cache = tempfile.mkdtemp(prefix="load-", dir=tmp)
    start = time.perf_counter()
    data = fk.load_datasets(folder, image_size=int(image), batch_size=int(batch),
                            check_cache=cache)
    out["load_s"] = time.perf_counter() - start
    out["load_peak_kib"] = peak_kib()
    seen = 0
    start = time.perf_counter()
    for split in (data.train, data.validation):
        for images, labels in split:
            seen += int(labels.shape[0])
    out["pass_s"] = time.perf_counter() - start
    out.update(train=len(data.train_files), validation=len(data.validation_files),
               seen=seen, cache=str(data.cache))
out["peak_kib"] = peak_kib()
out["growth_kib"] = out["peak_kib"] - out["import_rss_kib"]
print("RESULT " + json.dumps(out))
"""


def _image(index: int, size: int, rng: Any) -> Any:
    """An 8x8 grid of cells, scaled to ``size`` pixels: 3 rows of black and white cells
    spell ``index`` in binary (24 bits), the others have random colours."""
    import numpy as np

    grid = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
    bits = (index >> np.arange(24)) & 1
    grid[:3] = (bits.reshape(3, 8, 1) * 255).astype(np.uint8)
    cell = size // 8
    pixels = grid.repeat(cell, axis=0).repeat(cell, axis=1)
    pad = size - 8 * cell
    return np.pad(pixels, ((0, pad), (0, pad), (0, 0)), mode="edge") if pad else pixels


def _class_name(index: int, classes: int) -> str:
    return f"class_{index % classes:02d}"


def _file(folder: Path, index: int, classes: int) -> Path:
    return folder / _class_name(index, classes) / f"{index:06d}.jpg"


def _write(folder: Path, start: int, stop: int, classes: int, size: int) -> None:
    """Write files ``start`` to ``stop - 1`` (those not there yet), with pixels that depend
    only on their index."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng([0, start])
    for i in range(start, stop):
        pixels = _image(i, size, rng)
        path = _file(folder, i, classes)
        if not path.exists():
            Image.fromarray(pixels).save(path, quality=90)


def _generate(folder: Path, count: int, classes: int, size: int, jobs: int) -> float:
    """Write ``count`` distinct JPEGs into ``folder`` on ``jobs`` processes (files already
    there are kept); return the seconds it took."""
    start = time.perf_counter()
    for c in range(min(classes, count)):
        (folder / _class_name(c, classes)).mkdir(parents=True, exist_ok=True)
    chunks = [(i, min(i + _CHUNK, count)) for i in range(0, count, _CHUNK)]
    if jobs <= 1 or len(chunks) == 1:
        for a, b in chunks:
            _write(folder, a, b, classes, size)
    else:
        with ProcessPoolExecutor(jobs) as pool:
            done = [pool.submit(_write, folder, a, b, classes, size) for a, b in chunks]
            for future in done:
                future.result()
    return time.perf_counter() - start


def _link(pool: Path, folder: Path, count: int, classes: int) -> None:
    """Make ``folder`` hold hard links to the first ``count`` files of ``pool``."""
    for c in range(min(classes, count)):
        (folder / _class_name(c, classes)).mkdir(parents=True, exist_ok=True)
    for i in range(count):
        target = _file(folder, i, classes)
        if not target.exists():
            os.link(_file(pool, i, classes), target)


def _measure(mode: str, folder: Path, work: Path, image: int) -> dict[str, Any]:
    tmp = work / "tmp"
    tmp.mkdir(exist_ok=True)
    env = dict(os.environ, FLOWERKIT_CACHE_DIR=str(work / "flowerkit-cache"))
    return run_child(_CHILD, mode, str(folder), str(tmp), str(image), str(BATCH_SIZE), env=env)


#: The table's rows: label, which child, its key, and the unit of the total.
METRICS = (
    ("check_images cold", "check", "cold_s", "s"),
    ("check_images warm", "check", "warm_s", "s"),
    ("check peak RSS", "check", "growth_kib", "KiB"),
    ("load_datasets", "load", "load_s", "s"),
    ("train+val pass", "load", "pass_s", "s"),
    ("load peak RSS", "load", "growth_kib", "KiB"),
)


def _per_file(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per-file and marginal per-file cost of every metric (us or KiB per file), and the
    ratio of the per-file cost at the largest size to the smallest."""
    table: dict[str, Any] = {}
    for label, child, key, unit in METRICS:
        scale = 1e6 if unit == "s" else 1.0
        sizes = [r["files"] for r in runs]
        totals = [r[child][key] for r in runs]
        per = [scale * t / n for t, n in zip(totals, sizes, strict=True)]
        marginal = [None] + [
            scale * (totals[k] - totals[k - 1]) / (sizes[k] - sizes[k - 1])
            for k in range(1, len(runs))
        ]
        table[label] = {
            "unit": "us/file" if unit == "s" else "KiB/file",
            "per_file": per,
            "marginal_per_file": marginal,
            "ratio_largest_smallest": per[-1] / per[0] if per[0] else None,
        }
    return table


def _print_table(runs: Sequence[dict[str, Any]], per_file: dict[str, Any]) -> None:
    print(f"\n{'metric':<19}{'files':>9}{'total':>13}{'per file':>16}{'marginal':>16}{'ratio':>7}")
    for label, child, key, unit in METRICS:
        row = per_file[label]
        for k, run in enumerate(runs):
            total = run[child][key]
            shown = f"{total:.2f} s" if unit == "s" else f"{total / 1024:.1f} MiB"
            per = f"{row['per_file'][k]:.1f} {row['unit'].split('/')[0]}"
            m = row["marginal_per_file"][k]
            marginal = "" if m is None else f"{m:.1f} {row['unit'].split('/')[0]}"
            last = k == len(runs) - 1 and row["ratio_largest_smallest"] is not None
            ratio = f"{row['ratio_largest_smallest']:.2f}" if last else ""
            print(f"{label:<19}{run['files']:>9,}{shown:>13}{per:>16}{marginal:>16}{ratio:>7}")
    for run in runs:
        check, load = run["check"], run["load"]
        print(
            f"{run['files']:>7,} files: import RSS {check['import_rss_kib'] / 1024:.0f} MiB"
            f" (check) / {load['import_rss_kib'] / 1024:.0f} MiB (load), peak"
            f" {check['peak_kib'] / 1024:.0f} / {load['peak_kib'] / 1024:.0f} MiB;"
            f" {check['files']:,} usable, {check['bad_files']} bad, {check['duplicates']}"
            f" duplicate groups; {load['train']:,} train + {load['validation']:,} validation,"
            f" {load['seen']:,} seen, cache={load['cache']}"
        )


def _sizes(text: str) -> list[int]:
    sizes = sorted({int(x) for x in text.split(",") if x.strip()})
    if not sizes or sizes[0] < 2:
        raise argparse.ArgumentTypeError("sizes must be integers >= 2, e.g. 10000,30000")
    return sizes


def _prepare(work: Path, classes: int, image: int) -> bool:
    """Record the files' settings in ``work``; ``False`` if it holds files written with
    other settings (which would be reused)."""
    marker = work / "bench_scale.json"
    settings = {"classes": classes, "image": image, "chunk": _CHUNK}
    old = json.loads(marker.read_text()) if marker.exists() else settings
    if old != settings and any(work.glob("data_*")):
        return False
    marker.write_text(json.dumps(settings) + "\n")
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", type=_sizes, default=[10_000, 30_000, 100_000])
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--image", type=int, default=32, help="image side in pixels (>= 8)")
    parser.add_argument("--work", type=Path, default=None, help="default: a temporary folder")
    parser.add_argument("--keep", action="store_true", help="keep the files written")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                        help="processes writing the files")  # fmt: skip
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "out"),
                        help="folder for the JSON record ('' for none)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.image < 8 or args.classes < 2:
        parser.error("--image must be >= 8 and --classes >= 2")
    sizes: list[int] = args.sizes
    if args.work is None:
        work = Path(tempfile.mkdtemp(prefix="flowerkit-scale-"))
        remove = [work]
    else:
        work = args.work.absolute()
        remove = [] if work.exists() else [work]
        work.mkdir(parents=True, exist_ok=True)
        if not _prepare(work, args.classes, args.image):
            parser.error(f"{work} holds files written with other --classes/--image/chunks")
        # In a folder of the user's, remove only what this run writes.
        names = [f"data_{n}" for n in sizes] + ["tmp", "flowerkit-cache"]
        remove = remove or [work / name for name in names]
    try:
        pool = work / f"data_{sizes[-1]}"
        gen_s = _generate(pool, sizes[-1], args.classes, args.image, args.jobs)
        print(
            f"{sizes[-1]:,} files in {pool}: {gen_s:.1f} s on {args.jobs} processes"
            f" ({1e6 * gen_s / sizes[-1]:.0f} us/file)",
            flush=True,
        )
        runs = []
        for n in sizes:
            folder = work / f"data_{n}"
            link_s = 0.0
            if folder != pool:
                start = time.perf_counter()
                _link(pool, folder, n, args.classes)
                link_s = time.perf_counter() - start
            check = _measure("check", folder, work, args.image)
            load = _measure("load", folder, work, args.image)
            runs.append({"files": n, "link_s": link_s, "check": check, "load": load})
            print(
                f"{n:>9,} files: check cold {check['cold_s']:.2f} s, warm"
                f" {check['warm_s']:.2f} s, load {load['load_s']:.2f} s, pass"
                f" {load['pass_s']:.2f} s",
                flush=True,
            )
            if check["files"] != n or check["duplicates"] or load["seen"] != n:
                print(f"  warning: expected {n} distinct usable files, all seen once")
    finally:
        if args.keep:
            print(f"kept the files in {work}")
        else:
            for path in remove:
                shutil.rmtree(path, ignore_errors=True)
    per_file = _per_file(runs)
    _print_table(runs, per_file)
    document = {
        "machine": describe(),
        "config": {
            "sizes": sizes,
            "classes": args.classes,
            "image": args.image,
            "batch_size": BATCH_SIZE,
            "jpeg_quality": 90,
            "decoded_kib_per_file": args.image * args.image * 3 / 1024,
        },
        "generation": {"files": sizes[-1], "seconds": gen_s, "jobs": args.jobs},
        "runs": runs,
        "per_file": per_file,
    }
    text = json.dumps(document, indent=2)
    print(text)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        path = out / f"scale-{stamp}.json"
        path.write_text(text + "\n")
        print(f"written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
