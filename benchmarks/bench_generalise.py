"""The default command against the tutorial's recipe, on photo sets of other shapes.

For each data set, three legs, one after the other, each in a fresh process with an empty
flowerkit cache (so the check and the first decode are timed too):

``tutorial``
    the TensorFlow tutorial's regularised recipe through flowerkit: the ``tutorial``
    preset at 180x180 with ``augmentation_block`` and dropout 0.2, 15 epochs;
``default``
    ``flowerkit train DIR --out M``, no other flag, on a machine without pretrained
    weights (``$FLOWERKIT_WEIGHTS`` unset, an empty Keras cache): what a new user gets
    offline, ``compact`` from scratch;
``default_transfer``
    the same command with ``$FLOWERKIT_WEIGHTS`` naming the folder of the shared ImageNet
    weights: ``mobilenet_v2``.

Every leg uses the default stratified split (20% validation, seed 123), so all three are
scored on the same photos. Reported per leg: validation accuracy, the process's wall time
(TensorFlow import, check, training, evaluation and report included) and its ratio to the
tutorial leg's; goal: the default command >= 15 points above the tutorial, in no more
time. Sets: ``flowers`` (flower_photos, 3,670 photos, 5 classes), ``clothing`` (1,000
photos, 10 visually close classes), ``flowers30`` (the first 30 photos of each
flower_photos class by file name: 150 photos, few per class).

    python benchmarks/bench_generalise.py                      # about 35 minutes on 2 cores
    python benchmarks/bench_generalise.py --sets clothing,flowers30 --legs tutorial,default
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from folders import subset
from machine import describe

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SETS = {
    "flowers": SHARED / "data" / "flower_photos",
    "clothing": SHARED / "data" / "clothing",
    "flowers30": SHARED / "data" / "flower_photos",  # cut to 30 per class below
}
LEGS = ("tutorial", "default", "default_transfer")


def _tutorial(directory: str, out: str, seed: int) -> None:
    """The tutorial leg, run in the child process; prints its summary as JSON."""
    import flowerkit as fk

    data = fk.load_datasets(directory, image_size=180, seed=seed)
    clf = fk.Classifier.from_preset(
        "tutorial",
        class_names=data.class_names,
        augmentation=fk.augmentation_block(seed=seed),
        dropout=0.2,
        seed=seed,
    )
    clf.fit(data, epochs=15, seed=seed, verbose=0)
    report = clf.evaluate(data)
    clf.save(out)
    print(json.dumps({"preset": "tutorial", "validation_accuracy": report.accuracy}))


def _leg(leg: str, directory: Path, work: Path, seed: int) -> dict[str, Any]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", FLOWERKIT_CACHE_DIR=str(work / "cache"))
    env["KERAS_HOME"] = str(work / "keras")  # no weights there
    env.pop("FLOWERKIT_WEIGHTS", None)
    out = work / f"{leg}.keras"
    if leg == "tutorial":
        argv = [sys.executable, __file__, "--child", str(directory), str(out), str(seed)]
    else:
        argv = [sys.executable, "-m", "flowerkit", "train", str(directory), "--out", str(out)]
        argv += ["--json"] + ([] if seed == 123 else ["--seed", str(seed)])
        if leg == "default_transfer":
            env["FLOWERKIT_WEIGHTS"] = str(SHARED / "weights")
    started = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        return {"leg": leg, "error": proc.stderr[-2000:]}
    summary = json.loads(proc.stdout[proc.stdout.index("{") :])
    return {
        "leg": leg,
        "preset": summary.get("preset"),
        "validation_accuracy": round(float(summary["validation_accuracy"]), 4),
        "seconds": round(seconds, 1),
        "fit_seconds": summary.get("seconds"),
        "epochs": summary.get("epochs"),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--legs", default=",".join(LEGS))
    parser.add_argument("--seed", type=int, default=123)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _tutorial(args.child[0], args.child[1], int(args.child[2]))
        return 0
    results: dict[str, Any] = {"machine": describe(), "seed": args.seed, "sets": {}}
    out_dir = ROOT / "benchmarks" / "out"
    out_dir.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    for name in args.sets.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            directory = SETS[name]
            if name == "flowers30":
                directory = subset(directory, 30, Path(tmp) / "flowers30")
            rows = []
            for leg in args.legs.split(","):
                work = Path(tmp) / leg
                work.mkdir()
                rows.append(_leg(leg, directory, work, args.seed))
                print(json.dumps({name: rows[-1]}), flush=True)
            tutorial = next((r for r in rows if r["leg"] == "tutorial" and "seconds" in r), None)
            for row in rows:
                if tutorial and "seconds" in row:
                    row["points_over_tutorial"] = round(
                        100 * (row["validation_accuracy"] - tutorial["validation_accuracy"]), 1
                    )
                    row["time_ratio"] = round(row["seconds"] / tutorial["seconds"], 2)
            results["sets"][name] = rows
        (out_dir / f"generalise-{stamp}.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
