"""The default command against the tutorial's recipe, on photo sets of other shapes.

For each data set, three legs, one after the other, each in a fresh process with an empty
flowerkit cache and an empty Keras cache (so the check, the first decode and any weights
download are timed too):

``tutorial``
    the TensorFlow tutorial's regularised recipe through flowerkit: the ``tutorial``
    preset at 180x180 with ``augmentation_block`` and dropout 0.2, 15 epochs (not
    calibrated: the tutorial has no calibration);
``online``
    ``flowerkit train DIR --out M``, no other flag, on a machine with a network: the
    ImageNet weights are not on it, and ``$FLOWERKIT_WEIGHTS_MIRROR`` points at a web
    server on 127.0.0.1 that this script runs (serving ``../shared/weights``), standing in
    for the internet. The command downloads the weights once and trains ``mobilenet_v2``;
``offline``
    the same command with ``$FLOWERKIT_OFFLINE=1``: it trains ``compact`` from scratch.

Every leg uses the default stratified split (20% validation, seed 123 unless ``--seed``),
so all three are scored on the same photos. Reported per leg: validation accuracy; the
expected calibration error of the scores the command leaves (``ece``, on the validation
split the temperature was fitted on, as the report shows it) and ``ece_heldout`` (the
temperature fitted on one half of the validation split and the error measured on the
other, both ways, averaged: the figure for photos the temperature did not see); the
process's wall time (TensorFlow import, check, download, training, calibration,
evaluation, report and curves included) and its ratio to the tutorial leg's.

Sets:

- ``flowers``: flower_photos, 3,670 photos, 5 classes;
- ``clothing``: 1,000 photos, 10 visually close classes;
- ``flowers30``: the first 30 photos of each flower_photos class by file name (150);
- ``flowers_skewed``: unbalanced, cut from flower_photos: the first 250 daisy, 120
  dandelion, 60 roses, 30 sunflowers and 15 tulips photos by file name (475 photos,
  17:1 between the largest and the smallest class).

    python benchmarks/bench_generalise.py                      # about 45 minutes on 2 cores
    python benchmarks/bench_generalise.py --sets flowers --seed 7
    python benchmarks/bench_generalise.py --sets clothing,flowers30 --legs tutorial,offline
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from folders import subset
from machine import describe

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
FLOWERS = SHARED / "data" / "flower_photos"
SETS = {
    "flowers": FLOWERS,
    "clothing": SHARED / "data" / "clothing",
    "flowers30": FLOWERS,  # cut to 30 per class below
    "flowers_skewed": FLOWERS,  # cut below
}
SKEWED = {"daisy": 250, "dandelion": 120, "roses": 60, "sunflowers": 30, "tulips": 15}
LEGS = ("tutorial", "online", "offline")


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
    clf.fit(data, epochs=15, seed=seed, calibrate=False, verbose=0)
    report = clf.evaluate(data)
    clf.save(out)
    print(
        json.dumps(
            {"preset": "tutorial", "validation_accuracy": report.accuracy, "ece": report.ece}
        )
    )


def _heldout_ece(model: str, directory: str, seed: int) -> None:
    """Child: the model's temperature refitted on one half of its validation split and its
    calibration error measured on the other, both ways; prints the mean as JSON."""
    import numpy as np

    import flowerkit as fk
    from flowerkit.evaluation import expected_calibration_error
    from flowerkit.evaluation.calibration import apply_temperature, calibrate_logits

    clf = fk.Classifier.load(model)
    data = fk.load_datasets(directory, image_size=clf.image_size, seed=seed)
    images = np.stack([fk.images.load_image(f, clf.image_size) for f in data.validation_files])
    probabilities = clf.predict_proba(images)
    logits = np.log(np.clip(probabilities, 1e-12, 1.0)) * clf.temperature_  # up to a constant
    labels = np.asarray(data.validation_labels)
    order = np.random.default_rng(seed).permutation(len(labels))
    halves = (order[: len(order) // 2], order[len(order) // 2 :])
    errors = []
    for fit, score in (halves, halves[::-1]):
        if not clf.calibration_:
            scores = probabilities[score]  # not calibrated: its scores as they are
        else:
            t = calibrate_logits(logits[fit], labels[fit])["temperature"]
            scores = apply_temperature(logits[score], t)
        errors.append(expected_calibration_error(labels[score], scores))
    print(json.dumps({"ece_heldout": float(np.mean(errors))}))


@contextlib.contextmanager
def _weights_server() -> Iterator[str]:
    """A web server on 127.0.0.1 serving ``../shared/weights``: the internet's stand-in."""
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(SHARED / "weights")
    )
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()


def _leg(leg: str, directory: Path, work: Path, seed: int, mirror: str) -> dict[str, Any]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", FLOWERKIT_CACHE_DIR=str(work / "cache"))
    env["KERAS_HOME"] = str(work / "keras")  # no weights there
    for name in ("FLOWERKIT_WEIGHTS", "FLOWERKIT_WEIGHTS_MIRROR", "FLOWERKIT_OFFLINE"):
        env.pop(name, None)
    out = work / f"{leg}.keras"
    if leg == "tutorial":
        argv = [sys.executable, __file__, "--child", str(directory), str(out), str(seed)]
    else:
        argv = [sys.executable, "-m", "flowerkit", "train", str(directory), "--out", str(out)]
        argv += ["--json"] + ([] if seed == 123 else ["--seed", str(seed)])
        if leg == "online":
            env["FLOWERKIT_WEIGHTS_MIRROR"] = mirror
        else:
            env["FLOWERKIT_OFFLINE"] = "1"
    started = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        return {"leg": leg, "error": proc.stderr[-2000:]}
    summary = json.loads(proc.stdout[proc.stdout.index("{") :])
    if leg != "tutorial":
        report = json.loads(Path(summary["report_json"]).read_text())
        summary["ece"] = report["ece"]
    check = subprocess.run(
        [sys.executable, __file__, "--heldout-ece", str(out), str(directory), str(seed)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    heldout = json.loads(check.stdout[check.stdout.index("{") :])["ece_heldout"]
    return {
        "leg": leg,
        "preset": summary.get("preset"),
        "validation_accuracy": round(float(summary["validation_accuracy"]), 4),
        "ece": round(float(summary["ece"]), 4),
        "ece_heldout": round(float(heldout), 4),
        "seconds": round(seconds, 1),
        "fit_seconds": summary.get("seconds"),
        "epochs": summary.get("epochs"),
    }


def _skewed(into: Path) -> Path:
    """flowers_skewed: the first SKEWED[class] photos of each class, as links."""
    for name, count in SKEWED.items():
        target = into / name
        target.mkdir(parents=True)
        for photo in sorted((FLOWERS / name).iterdir())[:count]:
            (target / photo.name).symlink_to(photo.resolve())
    return into


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--legs", default=",".join(LEGS))
    parser.add_argument("--seed", type=int, default=123)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--heldout-ece", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _tutorial(args.child[0], args.child[1], int(args.child[2]))
        return 0
    if args.heldout_ece:
        _heldout_ece(args.heldout_ece[0], args.heldout_ece[1], int(args.heldout_ece[2]))
        return 0
    results: dict[str, Any] = {"machine": describe(), "seed": args.seed, "sets": {}}
    out_dir = ROOT / "benchmarks" / "out"
    out_dir.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    for name in args.sets.split(","):
        with tempfile.TemporaryDirectory() as tmp, _weights_server() as mirror:
            directory = SETS[name]
            if name == "flowers30":
                directory = subset(directory, 30, Path(tmp) / "flowers30")
            elif name == "flowers_skewed":
                directory = _skewed(Path(tmp) / "flowers_skewed")
            rows = []
            for leg in args.legs.split(","):
                work = Path(tmp) / leg
                work.mkdir()
                rows.append(_leg(leg, directory, work, args.seed, mirror))
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
