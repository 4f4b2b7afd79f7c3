"""The frozen parts run once (on features) against on the photos every epoch, side by side.

One process, flower_photos (default stratified split, seed 123, 160x160), the
``mobilenet_v2`` preset with a local ImageNet weights file, trained twice by its recipe
(``fit(data)``: 5 epochs with the backbone frozen, then 5 fine-tuning the top 56 layers),
one leg after the other, each on freshly loaded data:

``features``
    the default: the frozen phase runs the backbone once over the photos and trains the
    head on those features, and fine-tuning runs the frozen blocks below the top 56
    layers once and trains the top and the head on their output
    (``TrainingRecipe(frozen_features=True)``);
``photos``
    the same recipe with ``frozen_features=False``: both phases run the backbone over
    every photo every epoch (augmented), as before.

Reported per leg: the time of each phase and of the whole ``fit`` (calibration included),
the validation accuracy, and the ratio features / photos.

    python benchmarks/bench_frozen_features.py                  # about 8 minutes on 2 cores
    python benchmarks/bench_frozen_features.py --seed 7
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from machine import describe

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "flower_photos"
WEIGHTS = ROOT.parent / "shared" / "weights" / "mobilenet_v2_1.0_224_no_top.weights.h5"


def _leg(on_features: bool, seed: int, data_dir: Path, weights: Path) -> dict[str, Any]:
    import flowerkit as fk
    from flowerkit.training import loop

    phases: dict[str, float] = {}
    keras_fit = loop._keras_fit  # timed per phase, unchanged otherwise

    def timed(state: Any, name: str, *args: Any, **kwargs: Any) -> None:
        started = time.perf_counter()
        keras_fit(state, name, *args, **kwargs)
        phases[name] = round(time.perf_counter() - started, 1)

    data = fk.load_datasets(data_dir, image_size=160, seed=seed)
    spec = fk.get_preset("mobilenet_v2")
    model = fk.build_model(data.num_classes, preset=spec, seed=seed, weights=str(weights))
    recipe = replace(spec.recipe, frozen_features=on_features)
    clf = fk.Classifier(model, data.class_names, preset=spec.name, recipe=recipe)
    loop._keras_fit = timed
    try:
        started = time.perf_counter()
        clf.fit(data, seed=seed, verbose=0)
        seconds = time.perf_counter() - started
    finally:
        loop._keras_fit = keras_fit
    return {
        "leg": "features" if on_features else "photos",
        "fit_seconds": round(seconds, 1),
        "phase_seconds": phases,
        "validation_accuracy": round(clf.history_["val_accuracy"][-1], 4),
        "ece_after_calibration": round(clf.calibration_["ece_after"], 4),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seed", type=int, default=123)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--weights", type=Path, default=WEIGHTS)
    args = parser.parse_args(argv)
    rows = [_leg(on, args.seed, args.data, args.weights) for on in (True, False)]
    for row in rows:
        print(json.dumps(row), flush=True)
    features, photos = rows
    ratio = round(features["fit_seconds"] / photos["fit_seconds"], 2)
    print(json.dumps({"machine": describe(), "seed": args.seed, "fit_ratio": ratio}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
