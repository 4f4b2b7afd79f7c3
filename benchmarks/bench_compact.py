"""What each technique of the ``compact`` recipe gives, against the tutorial, in one process.

Each leg trains on the same split (the default stratified 80/20, ``--seed``) and is timed
from ``load_datasets`` to the end of ``fit`` (the check, the first decode, training,
batch-norm re-estimation and calibration). Legs:

``tutorial``
    the TensorFlow tutorial's regularised recipe through flowerkit: the ``tutorial``
    preset at 180x180 with ``augmentation_block`` and dropout 0.2, 15 epochs;
``NAME:JSON``
    ``compact`` trained by ``Classifier.from_preset(...).fit(data)`` with its recipe
    changed by the JSON object's ``TrainingRecipe`` fields; the keys ``precision`` and
    ``width`` go to ``from_preset`` instead. ``recipe:{}`` is the recipe as shipped.

    python benchmarks/bench_compact.py tutorial 'recipe:{}'
    python benchmarks/bench_compact.py 'fixed:{"progressive_from":null}' --seed 7
    python benchmarks/bench_compact.py 'bf16:{"precision":"bfloat16"}' 'w15:{"width":1.5}'

Prints one JSON line a leg (accuracy, ECE after calibration, seconds, ratio to the
tutorial leg when there is one) and appends them to ``benchmarks/out/compact.jsonl``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from machine import describe

ROOT = Path(__file__).resolve().parents[1]
FLOWERS = ROOT.parent / "shared" / "data" / "flower_photos"
BUILD_KEYS = ("precision", "width")


def _leg(name: str, spec: dict[str, Any], data_dir: Path, seed: int) -> dict[str, Any]:
    import flowerkit as fk

    started = time.perf_counter()
    if name == "tutorial":
        data = fk.load_datasets(data_dir, image_size=180, seed=seed)
        clf = fk.Classifier.from_preset(
            "tutorial",
            class_names=data.class_names,
            seed=seed,
            augmentation=fk.augmentation_block(seed=seed),
            dropout=0.2,
        )
        clf.fit(data, epochs=15, calibrate=False, verbose=0)
    else:
        build = {k: spec.pop(k) for k in BUILD_KEYS if k in spec}
        base = fk.get_preset("compact")
        preset = dataclasses.replace(base, recipe=dataclasses.replace(base.recipe, **spec))
        data = fk.load_datasets(data_dir, image_size=base.image_size, seed=seed)
        clf = fk.Classifier.from_preset(preset, class_names=data.class_names, seed=seed, **build)
        clf.fit(data, verbose=0)
    seconds = time.perf_counter() - started
    report = clf.evaluate(data.validation).to_dict()
    return {
        "leg": name,
        "accuracy": round(float(report["accuracy"]), 4),
        "ece": round(float(report["ece"]), 4),
        "seconds": round(seconds, 1),
        "epochs": len(clf.history_.get("loss", [])),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("legs", nargs="+", help="'tutorial' or NAME:JSON (see above)")
    parser.add_argument("--data", type=Path, default=FLOWERS)
    parser.add_argument("--seed", type=int, default=123)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    args.out.mkdir(parents=True, exist_ok=True)
    machine = describe()
    reference: float | None = None
    for leg in args.legs:
        name, _, spec = leg.partition(":")
        row = _leg(name, json.loads(spec or "{}"), args.data, args.seed)
        if name == "tutorial":
            reference = row["seconds"]
        row.update(
            spec=leg,
            seed=args.seed,
            data=args.data.name,
            ratio=None if reference is None else round(row["seconds"] / reference, 2),
            machine=machine,
        )
        print(json.dumps(row), flush=True)
        with (args.out / "compact.jsonl").open("a") as f:
            f.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
